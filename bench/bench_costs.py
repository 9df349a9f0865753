"""What each measurement costs for a given layer size, and what measuring costs a training loop.

1. One representation of N samples × d features (float32, 10 classes with a real signal), each family alone,
   as analyse_model runs it: numerical rank (Gram fast path), one linear probe (Table 5: Adam, 50 epochs,
   batch 4,096) on N train rows scored on N test rows, OrthoDev (both variants), NC1–NC4, OOD detection (MSP,
   energy, NECO, Mahalanobis on d-dimensional penultimate features, N ID vs N OOD test rows) and the alignment
   of a d-input Linear (2,000 inputs). The reference in the same run is one training epoch of a d-wide linear
   classifier over the same N rows (SGD, batch 128), so each cost reads as "so many epochs of the cheapest
   possible training".
2. `Tracker.measure` of the demo MLP (8 × 256 on the embedded digits, shapes as OOD, the default settings) vs
   one epoch of that MLP's own training loop (batch 128, SGD), both in this process: how much a measured epoch
   adds to a plain loop. Tap discovery (FX trace of a torchvision ResNet-18) is timed beside a forward pass.

Each phase runs in its own process. Device: cuda if available, else cpu.

    .venv/bin/python bench/bench_costs.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"full": [(10_000, 512), (10_000, 2_048)], "quick": [(1_000, 64)]}
FAMILIES = ("epoch", "rank", "probe", "orthodev", "nc", "ood", "alignment")


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def _layer(n: int, d: int, seed: int, dev, classes: int = 10):
    import torch

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, d, generator=g)
    x[:, :classes] += 2.0 * torch.nn.functional.one_hot(y, classes)
    return x.to(dev), y.to(dev)


def family(name: str, n: int, d: int) -> dict:
    """Time one family on an N × d representation (untimed warm-up call first: one-off library set-up)."""
    import torch

    from analysis.alignment import layers_alignment
    from analysis.collapse import neural_collapse
    from analysis.ood import detection_metrics
    from analysis.orthodev import orthodev_classmean, orthodev_sample
    from analysis.probes import train_probes
    from analysis.rank import rank_with_detail

    dev = _device()
    torch.manual_seed(0)
    xtr, ytr = _layer(n, d, 1, dev)
    xte, yte = _layer(n, d, 2, dev)
    xood, _ = _layer(n, d, 3, dev)
    head = torch.nn.Linear(d, 10).to(dev)

    def epoch():
        opt = torch.optim.SGD(head.parameters(), lr=0.01)
        for lo in range(0, n, 128):
            loss = torch.nn.functional.cross_entropy(head(xtr[lo:lo + 128]), ytr[lo:lo + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()

    with torch.no_grad():
        logits_te, logits_ood = head(xte), head(xood)
    work = {
        "epoch": epoch,
        "rank": lambda: rank_with_detail(xte),
        "probe": lambda: train_probes([xtr], ytr, 10, epochs=50, lr=1e-3, weight_decay=1e-3, batch=4096)[0]
        .accuracy(xte, yte),
        "orthodev": lambda: (orthodev_sample(xte, 1_000, 0), orthodev_classmean(xte, yte, 10)),
        "nc": lambda: neural_collapse(xtr, ytr, weight=head.weight.detach(), predictions=ytr, num_classes=10),
        "ood": lambda: detection_metrics(logits_te, logits_ood, temperature=1.0, id_train_features=xtr,
                                         id_features=xte, ood_features=xood, neco_dim=10, id_train_labels=ytr),
        "alignment": lambda: layers_alignment(head, [head], xte[:2_000], top_k=15, device=dev),
    }[name]
    work()
    _sync(dev)
    t = time.perf_counter()
    work()
    _sync(dev)
    return {"seconds": time.perf_counter() - t}


def tracker_vs_epoch(quick: bool) -> dict:
    """One demo-MLP training epoch and one Tracker.measure of the same model, in this process."""
    import tempfile

    import torch
    import torchvision

    from analysis import discover_taps
    from lab import Tracker
    from training.config import make_config
    from training.data import load_dataset
    from training.models import ModelSpec, build_model

    dev = _device()
    data, ood = load_dataset("digits", Path(".")), load_dataset("shapes", Path("."))
    cfg = make_config(preset="demo", width=64 if quick else 256, depth=3 if quick else 8)
    model = build_model(cfg, ModelSpec(10, (1, 8, 8))).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = data.x_train.to(dev), data.y_train.to(dev)

    def epoch():
        model.train()
        perm = torch.randperm(len(y), device=dev)
        for lo in range(0, len(y), 128):
            idx = perm[lo:lo + 128]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        _sync(dev)

    settings = {"probe_epochs": 5} if quick else {}
    with tempfile.TemporaryDirectory() as folder:
        tracker = Tracker(model, (data.x_train, data.y_train), (data.x_test, data.y_test),
                          ood={"shapes": ((ood.x_train, ood.y_train), (ood.x_test, ood.y_test))}, dataset="digits",
                          settings=settings, home_root=folder, name="bench")
        epoch()
        t = time.perf_counter()
        epoch()
        epoch_s = time.perf_counter() - t
        tracker.measure(0)  # warm-up: the first FX trace and LAPACK calls of the process
        t = time.perf_counter()
        tracker.measure(1)
        measure_s = time.perf_counter() - t
        tracker.close()
    resnet = torchvision.models.resnet18(weights=None, num_classes=10).to(dev).eval()
    batch = torch.randn(2, 3, 32, 32, device=dev)
    discover_taps(resnet, batch)
    t = time.perf_counter()
    discover_taps(resnet, batch)
    discover_s = time.perf_counter() - t
    with torch.no_grad():
        t = time.perf_counter()
        resnet(torch.randn(128, 3, 32, 32, device=dev))
        _sync(dev)
        forward_s = time.perf_counter() - t
    return {"epoch_s": epoch_s, "measure_s": measure_s, "discover_s": discover_s, "forward_s": forward_s,
            "samples": int(len(y)), "model": f"{cfg.depth} x {cfg.width}", "settings": settings or "default"}


def run_phase(call: str, threads: int) -> dict:
    from bench_analysis import in_process  # a sibling script: this runs as bench/bench_costs.py

    return in_process("bench.bench_costs", call, threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THERMOSCOPE_THREADS", "2")))
    args = parser.parse_args()
    import torch

    dev = _device()
    print(f"device: {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else f'{args.threads} CPU threads'}), "
          f"torch {torch.__version__}")
    sizes = SIZES["quick" if args.quick else "full"]
    table = {}
    for n, d in sizes:
        for name in FAMILIES:
            table[(n, d, name)] = run_phase(f"b.family({name!r}, {n}, {d})", args.threads)["seconds"]
            print(f"  {n:>6,} x {d:<6,} {name:<10} {table[(n, d, name)]:8.3f} s", flush=True)
    print(f"\n{'samples x features':<20}" + "".join(f"{f:>11}" for f in FAMILIES))
    for n, d in sizes:
        print(f"{f'{n:,} x {d:,}':<20}" + "".join(f"{table[(n, d, f)]:>10.2f}s" for f in FAMILIES))
    t = run_phase(f"b.tracker_vs_epoch({args.quick})", args.threads)
    print("\nratios (each measurement / one training epoch of a linear classifier on the same rows):")
    for n, d in sizes:
        ref = table[(n, d, "epoch")]
        print(f"  {n:,} x {d:,}: " + ", ".join(f"{f} {table[(n, d, f)] / ref:.1f}x" for f in FAMILIES[1:]))
    print(f"  Tracker.measure (MLP {t['model']}, digits + shapes, {t['settings']} settings) / one training epoch "
          f"of it ({t['samples']:,} samples): {t['measure_s']:.2f} s / {t['epoch_s']:.3f} s = "
          f"{t['measure_s'] / t['epoch_s']:.0f}x")
    print(f"  tap discovery of a torchvision ResNet-18 (FX trace) / one forward pass at batch 128: "
          f"{t['discover_s']:.3f} s / {t['forward_s']:.3f} s = {t['discover_s'] / t['forward_s']:.1f}x")


if __name__ == "__main__":
    main()
