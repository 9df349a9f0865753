"""Packing benchmark: runs per second of R runs trained packed vs the same R runs one after another.

    .venv/bin/python bench/bench_packing.py [--quick] [--runs R] [--repeats K] [--json FILE]

Prints one table per workload, the ratios last. Every ratio compares against a reference measured
in this same process on this same device (never a wall-clock constant):
- MLP steps: R MLPs (batch 128) stepped one after another by the solo loop's own step code (forward,
  temperature-scaled loss, zero_grad, backward, SGD step) vs one packed step of the same R runs
  (grouped GEMMs, vmap, and the member loop that `engine='auto'` uses on a CPU). Shapes: the demo MLP (8 x 256 on 8x8 digits)
  and, off --quick or on a GPU, the paper's MLP (8 x 2048 on 3x32x32 CIFAR-shaped input).
- ResNet-18 steps (CIFAR stem, 32x32, batch 128): sequential vs packed (vmap on a GPU, the member
  loop on a CPU; on a CPU one step per run: a smoke figure, not a speed).
- Demo sweep end to end: R demo runs for a few epochs through `loop.train` one after another vs one
  `train_packed` call: per-epoch evaluation, rows and checkpoints included: what a sweep costs.
Times are medians of --repeats repeats after a warm-up; "run-steps/s" = runs x steps / seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from training.config import make_config
from training.fast import Speed
from training.losses import loss_fn
from training.models import ModelSpec, build_model
from training.packed.stack import resolve_engine, stack_members

TEMPS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def medians_s(fns: dict, device: torch.device, repeats: int) -> dict[str, float]:
    """Median seconds of each function; repeats interleaved (A B A B ...) so that a neighbour's load on a
    shared machine hits every contender alike instead of whichever ran during it."""
    for fn in fns.values():
        fn()  # warm-up: allocator, cuDNN algorithm choice, first-call dispatch
        sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def configs(runs: int, **fields) -> list:
    return [make_config(**fields, temperature=TEMPS[r % len(TEMPS)], seed=r // len(TEMPS)) for r in range(runs)]


def members(cfgs, spec: ModelSpec, device: torch.device) -> list[torch.nn.Module]:
    return [build_model(c, spec).to(device) for c in cfgs]


def fake_data(n: int, shape: tuple, device: torch.device):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, *shape, generator=g).to(device), torch.randint(0, 10, (n,), generator=g).to(device)


def sequential_steps(cfgs, models, x, y, steps: int):
    """The solo loop's inner body, run after run (each with its own optimizer and data order), with the
    solo loop's speed switches (on a GPU: channels_last and bf16 autocast)."""
    device = x.device
    speed = Speed.for_device(device)
    if speed.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
        for m in models:
            m.to(memory_format=torch.channels_last)
    opts = [torch.optim.SGD(m.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
            for c, m in zip(cfgs, models)]
    loss_of = loss_fn(cfgs[0].loss)
    b = cfgs[0].batch_size
    orders = [torch.randperm(len(x), generator=torch.Generator().manual_seed(c.seed)).to(device) for c in cfgs]

    def run() -> None:
        for c, m, opt, order in zip(cfgs, models, opts, orders):
            m.train()
            for s in range(steps):
                idx = order[(s * b) % len(x) :][:b]
                with speed.autocast(device):
                    logits = m(x[idx])
                loss = loss_of(logits.float(), y[idx], c.temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    return run


def packed_steps(cfgs, models, x, y, steps: int, engine: str):
    """The packed loop's inner body (training.packed.loop.train_packed) for the same runs."""
    device = x.device
    speed = Speed.for_device(device)
    stack = stack_members(models, engine)
    c0 = cfgs[0]
    opt = torch.optim.SGD(stack.parameters(), lr=c0.lr, momentum=c0.momentum, weight_decay=c0.weight_decay)
    temps = torch.tensor([c.temperature for c in cfgs], device=device)
    b = c0.batch_size
    orders = torch.stack([torch.randperm(len(x), generator=torch.Generator().manual_seed(c.seed)) for c in cfgs])
    orders = orders.to(device)

    def run() -> None:
        stack.train()
        for s in range(steps):
            idx = orders[:, (s * b) % len(x) :][:, :b]
            opt.zero_grad(set_to_none=True)
            stack.forward_backward(x[idx], y[idx], temps, c0.loss, lambda: speed.autocast(device))
            opt.step()

    return run, type(stack).__name__


def step_table(title: str, cfgs, spec: ModelSpec, shape: tuple, steps: int, engines: list[str],
               device: torch.device, repeats: int) -> dict:
    x, y = fake_data(max(1024, cfgs[0].batch_size * 4), shape, device)
    R = len(cfgs)
    fns = {"sequential": sequential_steps(cfgs, members(cfgs, spec, device), x, y, steps)}
    for engine in engines:
        run, name = packed_steps(cfgs, members(cfgs, spec, device), x, y, steps, engine)
        fns[f"packed ({name})"] = run
    rows = medians_s(fns, device, repeats)
    seq = rows["sequential"]
    print(f"\n{title}: {R} runs x {steps} steps, batch {cfgs[0].batch_size}, median of {repeats}")
    print(f"  {'how':<28}{'time s':>10}{'run-steps/s':>14}{'vs sequential':>15}")
    for how, t in rows.items():
        print(f"  {how:<28}{t:>10.3f}{R * steps / t:>14.1f}{seq / t:>14.2f}x")
    return {"runs": R, "steps": steps, "seconds": rows}


def sweep_table(runs: int, epochs: int, device: torch.device, repeats: int) -> dict:
    """The demo sweep end to end: solo loop run after run vs one packed call (rows and checkpoints too)."""
    from training.data import load_dataset
    from training.loop import train
    from training.packed.loop import train_packed

    cfgs = configs(runs, preset="demo", epochs=epochs)
    data = load_dataset("digits", cfgs[0].data_dir).to(device)
    spec = ModelSpec(data.num_classes, data.input_shape)

    def solo() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for c in cfgs:
                train(c, build_model(c, spec), data, checkpoint_dir=Path(tmp) / c.run_id, device=device)

    def packed(engine: str):
        def run() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                train_packed(cfgs, [build_model(c, spec) for c in cfgs], data, device=device, engine=engine,
                             checkpoint_dirs=[Path(tmp) / c.run_id for c in cfgs])
        return run

    auto = resolve_engine("auto", [build_model(cfgs[0], spec)], device)
    fns = {"sequential": solo, f"packed (auto = {auto})": packed("auto")}
    if auto == "solo":  # on a CPU also what packing would do there
        fns["packed (grouped)"] = packed("grouped")
    secs = medians_s(fns, device, repeats)
    seq = secs["sequential"]
    print(f"\ndemo sweep end to end (8x256 MLP on digits, {epochs} epochs, per-epoch eval + rows + checkpoints): "
          f"{runs} runs, median of {repeats}")
    print(f"  {'how':<28}{'time s':>10}{'runs/hour':>14}{'vs sequential':>15}")
    for how, t in secs.items():
        print(f"  {how:<28}{t:>10.3f}{runs * 3600 / t:>14.0f}{seq / t:>14.2f}x")
    return {"runs": runs, "epochs": epochs, "auto": auto, "seconds": secs}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a minute or so on a CPU")
    p.add_argument("--runs", type=int, help="runs per pack (default: 16 on a GPU, 4 on a CPU)")
    p.add_argument("--repeats", type=int, help="timed repeats per figure (median; default 5, --quick 3)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--skip-resnet", action="store_true", help="leave out ResNet-18")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if not gpu and os.environ.get("THERMOSCOPE_THREADS"):
        torch.set_num_threads(int(os.environ["THERMOSCOPE_THREADS"]))
    R = args.runs or (16 if gpu else 4)
    repeats = args.repeats or (3 if args.quick or gpu else 5)  # GPU figures are steady; gpu.sh has 8 minutes
    name = torch.cuda.get_device_name(device) if gpu else f"CPU ({platform.processor() or platform.machine()})"
    print(f"bench_packing  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  {name}  "
          f"{torch.get_num_threads()} torch threads  torch {torch.__version__}  {R} runs per pack"
          + ("  (--quick)" if args.quick else ""))
    out: dict = {"device": name, "date": datetime.now(UTC).isoformat(), "runs": R, "quick": args.quick}
    ratios: list[tuple[str, float]] = []

    def ratio(label: str, table: dict, key: str) -> None:
        secs = table["seconds"]
        ratios.append((label, secs["sequential"] / secs[key]))

    demo = configs(R, preset="demo")
    steps = 20 if args.quick else 100
    t = step_table("MLP 8x256 (the demo's), 8x8 input", demo, ModelSpec(10, (1, 8, 8)), (1, 8, 8), steps,
                   ["grouped", "vmap", "loop"], device, repeats)
    out["mlp_demo"] = t
    ratio(f"MLP 8x256, {R} runs: packed (grouped GEMM) vs sequential", t, "packed (GroupedMLP)")
    ratio(f"MLP 8x256, {R} runs: packed (vmap) vs sequential", t, "packed (VmapStack)")
    ratio(f"MLP 8x256, {R} runs: packed (member loop) vs sequential", t, "packed (MemberLoop)")
    if gpu or not args.quick:
        paper = configs(R, preset="cifar_mlp", arch="mlp", width=2048, depth=8, init="kaiming")
        t = step_table("MLP 8x2048 (the paper's), 3x32x32 input", paper, ModelSpec(10, (3, 32, 32)), (3, 32, 32),
                       10 if args.quick else 20 if not gpu else 50, ["grouped", "loop"], device, repeats)
        out["mlp_paper"] = t
        ratio(f"MLP 8x2048, {R} runs: packed (grouped GEMM) vs sequential", t, "packed (GroupedMLP)")
        ratio(f"MLP 8x2048, {R} runs: packed (member loop) vs sequential", t, "packed (MemberLoop)")
    if not args.skip_resnet:
        rn_runs = R if gpu else 2
        rn = configs(rn_runs, arch="resnet18", dataset="cifar10", ood=())
        engine = "vmap" if gpu else "loop"  # what engine='auto' picks there
        # on a CPU a batch-128 ResNet-18 step takes seconds: one step, one repeat (a smoke figure, not a speed)
        rn_steps = (3 if args.quick else 10) if gpu else (1 if args.quick else 3)
        t = step_table("ResNet-18 (CIFAR stem), 3x32x32 input", rn, ModelSpec(10, (3, 32, 32)), (3, 32, 32),
                       rn_steps, [engine], device, repeats if gpu else 1 if args.quick else 3)
        out["resnet18"] = t
        key = next(k for k in t["seconds"] if k != "sequential")
        ratio(f"ResNet-18, {rn_runs} runs: {key} vs sequential", t, key)
    t = sweep_table(R, 2 if args.quick else 3 if gpu else 5, device, repeats)
    out["demo_sweep"] = t
    for key in t["seconds"]:
        if key != "sequential":
            ratio(f"demo sweep end to end, {R} runs: {key} vs sequential", t, key)
    target = args.json or (os.environ.get("BENCH_OUT") and str(Path(os.environ["BENCH_OUT"]) / "bench_packing.json"))
    if target:  # BENCH_OUT: set by gpu.sh, so the GPU figures come back machine-readable too
        Path(target).write_text(json.dumps(out, indent=1))
    print("\nratios (runs per second, packed / sequential; above 1 = packing is faster):")
    for label, value in ratios:
        print(f"  {label:<64}{value:8.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
