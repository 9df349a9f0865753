"""Benchmark the analysis' two speed goals, each against its reference measured in the same run:

1. numerical rank: the float64-Gram fast path vs torch.linalg.matrix_rank on 10,000 × 2,048 (same rank asserted),
   on a Gaussian matrix and on one whose spectrum decays over 6 decades (the threshold falls inside it);
2. linear probes: all layers in one train_probes call (one shared batch schedule, contiguous slices, written-out
   gradient), layer-major and step-major, vs the plain loop one layer after another (nn.Linear + autograd, a
   shuffled gather per batch); the same Table 5 recipe (Adam, lr 1e-3, wd 1e-3, 50 epochs, batch 4096);
3. analyse_model on an MLP with the default memory budget vs strictly one layer at a time;
5. probe protocols (`--protocols`): every layer's converged probe (L-BFGS to the default tolerance) vs the paper
   protocol (Table 5) on 10,000 × 2,048 activation-like features, 10 classes, and on the demo sweep's hidden layers
   (a checkpoint from $THERMOSCOPE_HOME, when there is one), with scikit-learn's LogisticRegression on the same
   rows as the outside reference for accuracy;
4. the full analysis of one ResNet-18 (CIFAR stem, 32 × 32 inputs, every layer: rank, ID and OOD probes, κ/ρ/SR,
   alignment, OrthoDev, NC, OOD detection), the same two ways: the issue's "one ResNet-18 checkpoint on the GPU"
   (10,000 samples per split there; 256 on a CPU, where 10,000 would take an hour).

Each phase runs in its own process, so the peak memory it reports is its own (ru_maxrss on CPU,
torch.cuda.max_memory_allocated on a GPU). Device: cuda if available, else cpu.

    .venv/bin/python bench/bench_analysis.py [--quick] [--threads N] [--protocols]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SIZES = {
    "full": dict(rank_m=10_000, rank_n=2_048, probe_n=10_000, probe_d=1_024, probe_layers=6, probe_classes=10,
                 probe_epochs=50, proto_n=10_000, proto_d=2_048, proto_layers=4, mlp_n=4_000, mlp_width=1_024, mlp_depth=6, resnet_n=10_000, resnet_n_cpu=256),
    "quick": dict(rank_m=1_000, rank_n=256, probe_n=2_000, probe_d=128, probe_layers=4, probe_classes=10,
                  probe_epochs=5, proto_n=2_000, proto_d=256, proto_layers=2, mlp_n=600, mlp_width=64, mlp_depth=3, resnet_n=256, resnet_n_cpu=64),
}


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _start_mem(dev) -> float:
    """Memory in use when the timed work starts (inputs made, libraries loaded): the peak is reported above it."""
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    return _rss_mb()


def _peak_mb(dev, start: float) -> float:
    import torch

    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20 - start
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start  # ru_maxrss: KiB on Linux


def _warm_up(dev) -> None:
    """The first Adam step / first LAPACK call of a process pays one-off set-up costs; keep them out of timings."""
    import torch

    from analysis.probes import train_probes

    x = torch.randn(64, 8, device=dev)
    train_probes([x], torch.zeros(64, dtype=torch.long, device=dev), 2, epochs=2, batch=32)
    lin = torch.nn.Linear(8, 2).to(dev)
    opt = torch.optim.Adam(lin.parameters())
    torch.nn.functional.cross_entropy(lin(x), torch.zeros(64, dtype=torch.long, device=dev)).backward()
    opt.step()
    torch.linalg.matrix_rank(x)
    torch.linalg.eigvalsh(x.double().T @ x.double())


def _matrix(kind: str, m: int, n: int, dev):
    import torch

    g = torch.Generator().manual_seed(0)
    if kind == "gaussian":
        a = torch.randn(m, n, generator=g)
    else:  # activation-like: a spectrum decaying over 6 decades, so the threshold falls inside it
        r = n // 2
        a = (torch.randn(m, r, generator=g) * torch.logspace(0, -6, r)) @ torch.randn(r, n, generator=g)
    return a.to(dev)


def _probe_data(s: dict, dev):
    import torch

    g = torch.Generator().manual_seed(0)
    n, d, c = s["probe_n"], s["probe_d"], s["probe_classes"]
    y = torch.randint(c, (n + n // 4,), generator=g)
    feats = []
    for layer in range(s["probe_layers"]):  # later layers carry more label signal
        x = torch.randn(n + n // 4, d, generator=g)
        x[:, :c] += (0.5 + 0.5 * layer) * torch.nn.functional.one_hot(y, c)
        feats.append(x.to(dev))
    return [f[:n] for f in feats], y[:n].to(dev), [f[n:] for f in feats], y[n:].to(dev)


def _protocol_data(s: dict, dev):
    """Activation-like features: ReLU(a random 64 → d map of noisy class codes), more label signal per layer;
    train rows, labels, test rows (a quarter as many), labels."""
    import torch

    g = torch.Generator().manual_seed(0)
    n, d, c = s["proto_n"], s["proto_d"], s["probe_classes"]
    m = n + n // 4
    y = torch.randint(c, (m,), generator=g)
    codes = torch.randn(c, 64, generator=g)
    feats = []
    for layer in range(s["proto_layers"]):
        z = (0.3 + 0.2 * layer) * codes[y] + torch.randn(m, 64, generator=g)
        feats.append(torch.relu(z @ torch.randn(64, d, generator=g) / 8 + 0.1 * torch.randn(m, d, generator=g)))
    return [f[:n].to(dev) for f in feats], y[:n].to(dev), [f[n:].to(dev) for f in feats], y[n:].to(dev)


def _demo_features():
    """The demo sweep's hidden-layer features of its first T = 100 run (bench/probe_reference.py), or None."""
    import torch

    from analysis import AnalysisSettings
    from bench.probe_reference import features
    from lab.jobs.rebuild import read_checkpoint, rebuild
    from warehouse import home

    where = home()
    ckpts = sorted(where.checkpoints.glob("*/epoch0120.pt")) if where.checkpoints.exists() else []
    for path in ckpts:
        ckpt = read_checkpoint(path)
        if ckpt.config.temperature == 100 and ckpt.config.seed == 0 and ckpt.config.dataset == "digits":
            s = AnalysisSettings()
            model, data = rebuild(ckpt, s, torch.device("cpu"))
            model.eval()
            xtr, ytr, xte, yte, _ = features(model, model.layer_taps(), data, s, ckpt.config.temperature)["shapes"]
            return xtr, ytr, xte, yte
    return None


def _protocol_phase(name: str, s: dict, dev) -> dict:
    from analysis.probes import fit_converged, train_probes

    if name.startswith("protocol_demo_"):
        found = _demo_features()
        if found is None:
            return dict(seconds=float("nan"), peak_mb=0.0, result="no demo checkpoint in $THERMOSCOPE_HOME")
        xtr, ytr, xte, yte = found
    else:
        xtr, ytr, xte, yte = _protocol_data(s, dev)
    c = int(max(int(ytr.max()), int(yte.max()))) + 1
    _warm_up(dev)
    start = _start_mem(dev)
    t = time.perf_counter()
    method = name.rsplit("_", 1)[1]
    if method == "converged":
        probes = fit_converged(xtr, ytr, c)
    elif method == "paper":
        probes = train_probes(xtr, ytr, c, epochs=50, lr=1e-3, weight_decay=1e-3, batch=4096)
    else:  # scikit-learn, same objective and standardisation (the outside reference)
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        probes = []
        for x in xtr:
            scaler = StandardScaler().fit(x.cpu().double().numpy())
            probes.append((scaler, LogisticRegression(C=1.0 / (1e-3 * x.shape[0]), tol=1e-6, max_iter=10_000).fit(
                scaler.transform(x.cpu().double().numpy()), ytr.cpu().numpy())))
    _sync(dev)
    seconds = time.perf_counter() - t
    if method == "sklearn":
        accs = [float(m.score(sc.transform(x.cpu().double().numpy()), yte.cpu().numpy())) for (sc, m), x in
                zip(probes, xte)]
        extra = {"iterations": [int(m.n_iter_[0]) for _, m in probes]}
    else:
        accs = [p.accuracy(x, yte) for p, x in zip(probes, xte)]
        extra = ({"iterations": [p.record.iterations for p in probes], "dtype": [p.record.dtype for p in probes],
                  "converged": all(p.record.converged for p in probes)} if method == "converged" else {})
    return dict(seconds=seconds, peak_mb=_peak_mb(dev, start), result=[round(a, 4) for a in accs], **extra)


def _images(n: int, classes: int, seed: int):
    """CIFAR-shaped inputs whose class shifts each channel's mean: a real signal for the probes, no download."""
    import torch

    from analysis import Split

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 3, 32, 32, generator=g) + 0.5 * torch.randn(classes, 3, 1, 1, generator=torch.Generator()
                                                                     .manual_seed(0))[y]
    return Split(x, y)


def _timed_analysis(model, data, s: dict, dev, one_layer: bool) -> tuple[dict, dict]:
    """analyse_model with the default memory budget (or strictly one layer at a time): timing, peak, rows."""
    from analysis import AnalysisSettings, analyse_model

    budget = 0.0 if one_layer else AnalysisSettings().memory_budget_mb
    settings = AnalysisSettings(probe_epochs=s["probe_epochs"], memory_budget_mb=budget)
    _warm_up(dev)
    start = _start_mem(dev)
    t = time.perf_counter()
    rows = analyse_model(model, model.layer_taps(), data, run_id="bench", epoch=0, temperature=1.0,
                         settings=settings, device=dev)
    _sync(dev)
    seconds = time.perf_counter() - t
    return dict(seconds=seconds, peak_mb=_peak_mb(dev, start), rows=sum(len(v) for v in rows.values())), rows


def phase(name: str, size: str) -> dict:
    """Run one measurement in this process; returns its seconds, peak memory and result."""
    import torch

    s = SIZES[size]
    dev = _device()
    torch.manual_seed(0)  # the plain probe loop's init and shuffles
    if name.startswith("rank_"):
        _, method, kind = name.split("_", 2)
        a = _matrix(kind, s["rank_m"], s["rank_n"], dev)
        from analysis import rank_with_detail

        _warm_up(dev)
        # one untimed call at full size first: MKL's first large eigvalsh/SVD in a process pays for its thread
        # and workspace set-up (0.7 s vs 0.26 s for eigvalsh at 2,048), which an analysis of many layers pays once
        torch.linalg.matrix_rank(a) if method == "svd" else rank_with_detail(a, "gram")
        start = _start_mem(dev)
        t = time.perf_counter()
        if method == "svd":
            result, fallback = int(torch.linalg.matrix_rank(a)), False
        else:
            result, detail = rank_with_detail(a, "gram")
            fallback = detail["fallback"]
        _sync(dev)
        return dict(seconds=time.perf_counter() - t, peak_mb=_peak_mb(dev, start), result=result, fallback=fallback)
    if name.startswith("probe_"):
        from analysis.probes import train_probes

        xtr, ytr, xte, yte = _probe_data(s, dev)
        kw = dict(epochs=s["probe_epochs"], lr=1e-3, weight_decay=1e-3, batch=4096)
        _warm_up(dev)
        start = _start_mem(dev)
        t = time.perf_counter()
        if name == "probe_ours_step":
            probes = train_probes(xtr, ytr, s["probe_classes"], order="step", **kw)
        elif name == "probe_ours_layer":
            probes = train_probes(xtr, ytr, s["probe_classes"], order="layer", **kw)
        else:  # the plain loop: nn.Linear, a fresh shuffle each epoch, a gathered batch per step
            probes = []
            for x in xtr:
                lin = torch.nn.Linear(x.shape[1], s["probe_classes"]).to(dev)
                opt = torch.optim.Adam(lin.parameters(), lr=1e-3, weight_decay=1e-3)
                for _ in range(s["probe_epochs"]):
                    perm = torch.randperm(x.shape[0], device=dev)
                    for lo in range(0, x.shape[0], 4096):
                        idx = perm[lo:lo + 4096]
                        loss = torch.nn.functional.cross_entropy(lin(x[idx]), ytr[idx])
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                probes.append(lin)
        _sync(dev)
        seconds = time.perf_counter() - t
        with torch.no_grad():
            accs = [float(((p.logits(x) if hasattr(p, "logits") else p(x)).argmax(1) == yte).float().mean())
                    for p, x in zip(probes, xte)]
        return dict(seconds=seconds, peak_mb=_peak_mb(dev, start), result=[round(a, 4) for a in accs])
    if name.startswith("protocol_"):
        return _protocol_phase(name, s, dev)
    if name.startswith("resnet18_"):
        from analysis import AnalysisData
        from training.config import make_config
        from training.models import ModelSpec, build_model

        n = s["resnet_n"] if dev.type == "cuda" else s["resnet_n_cpu"]
        model = build_model(make_config(arch="resnet18", dataset="cifar10", ood=("svhn",)),
                            ModelSpec(10, (3, 32, 32))).to(dev).eval()
        data = AnalysisData("cifar10-shaped", _images(n, 10, 1), _images(n, 10, 2),
                            {"svhn-shaped": (_images(n, 10, 3), _images(n, 10, 4))})
        out, rows = _timed_analysis(model, data, s, dev, one_layer=name == "resnet18_one_layer")
        ranks = [r["value"] for r in rows["layer_metrics"]
                 if r["metric"] == "rank" and r["dataset"] == data.id_name and r["split"] == "test"]
        return dict(out, samples=n, result=sum(ranks))
    if name.startswith("analyse_"):
        from analysis import AnalysisData
        from tests.analysis.helpers import TinyMLP, blobs

        torch.manual_seed(0)
        model = TinyMLP(d_in=64, width=s["mlp_width"], depth=s["mlp_depth"], classes=10).to(dev)
        data = AnalysisData("blobs", blobs(s["mlp_n"], 64, 10, 1), blobs(s["mlp_n"] // 2, 64, 10, 2),
                            {"other": (blobs(s["mlp_n"] // 2, 64, 5, 3), blobs(s["mlp_n"] // 4, 64, 5, 4))})
        out, rows = _timed_analysis(model, data, s, dev, one_layer=name == "analyse_one_layer")
        kappa = next(r["value"] for r in rows["run_metrics"] if r["metric"] == "kappa")
        return dict(out, result=round(kappa, 3))
    raise SystemExit(f"unknown phase {name!r}")


def in_process(module: str, call: str, threads: int) -> dict:
    """`call` (an expression on `module` imported as b) in a fresh process with `threads` torch threads; its JSON."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    code = (f"import json, torch; torch.set_num_threads({threads}); import {module} as b; "
            f"print('RESULT' + json.dumps({call}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"phase {call} failed:\n{out.stderr[-3000:]}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def run_phase(name: str, size: str, threads: int) -> dict:
    return in_process("bench.bench_analysis", f"b.phase({name!r}, {size!r})", threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THERMOSCOPE_THREADS", "2")))
    parser.add_argument("--protocols", action="store_true",
                        help="only the probe-protocol phases (converged vs paper vs scikit-learn, item 5)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of every phase, interleaved; the fastest counts (default: 1 quick or GPU, 2 full on CPU)")
    args = parser.parse_args()
    size = "quick" if args.quick else "full"
    s = SIZES[size]
    import torch

    dev = _device()
    print(f"device: {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else f'{args.threads} CPU threads'}), "
          f"torch {torch.__version__}, sizes: {size}")
    if args.protocols:
        return protocols_main(size, args, dev)
    names = ["rank_svd_gaussian", "rank_gram_gaussian", "rank_svd_activation", "rank_gram_activation",
             "probe_plain_one_by_one", "probe_ours_layer", "probe_ours_step", "analyse_one_layer",
             "analyse_budget", "resnet18_budget", "resnet18_one_layer"]  # the case before its reference
    # a GPU is not shared and its one lent call has a time limit: one round there; two interleaved on a CPU
    repeat = args.repeat or (1 if args.quick or dev.type == "cuda" else 2)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for round_ in range(repeat):  # interleaved, so a burst of load from other users hits every phase alike
        for n in names:
            runs[n].append(run_phase(n, size, args.threads))
            # printed as it comes, so a run cut short by a time limit still leaves its figures behind
            print(f"  round {round_ + 1}: {n:<24} {runs[n][-1]['seconds']:9.3f} s  {runs[n][-1]['result']}", flush=True)
    res = {}
    for n, rs in runs.items():
        assert all(r["result"] == rs[0]["result"] for r in rs), f"{n} is not deterministic"
        res[n] = dict(rs[0], seconds=min(r["seconds"] for r in rs), peak_mb=max(r["peak_mb"] for r in rs),
                      fallback=any(r.get("fallback") for r in rs))
    print(f"\nfastest of {repeat} interleaved runs per phase")
    print(f"{'phase':<26}{'seconds':>10}{'+peak MiB':>11}  result   (+peak: above the memory in use at the start)")
    for n in names:
        r = res[n]
        extra = " (fell back to SVD)" if r.get("fallback") else ""
        print(f"{n:<26}{r['seconds']:>10.3f}{r['peak_mb']:>11.0f}  {r['result']}{extra}")
    for kind in ("gaussian", "activation"):
        assert res[f"rank_svd_{kind}"]["result"] == res[f"rank_gram_{kind}"]["result"], f"rank differs on {kind}"
    print(f"\nrank on {s['rank_m']:,} x {s['rank_n']:,}: identical results asserted "
          f"({res['rank_svd_gaussian']['result']}, {res['rank_svd_activation']['result']})")
    print(f"probes: {s['probe_layers']} layers x {s['probe_n']:,} x {s['probe_d']:,}, {s['probe_epochs']} epochs")
    print("ratios (reference / ours; goal >= 3x for rank and for probes vs the plain loop):")
    for kind in ("gaussian", "activation"):
        ratio = res[f"rank_svd_{kind}"]["seconds"] / res[f"rank_gram_{kind}"]["seconds"]
        print(f"  rank fast path vs matrix_rank ({kind}): {ratio:.2f}x")
    default = "probe_ours_layer" if dev.type == "cpu" else "probe_ours_step"
    print(f"  probes, all layers in one call ({default.split('_')[-1]}-major, this device's default) vs the plain "
          f"loop one after another: {res['probe_plain_one_by_one']['seconds'] / res[default]['seconds']:.2f}x")
    print(f"  probes, step-major (every layer each step) vs layer-major: "
          f"{res['probe_ours_layer']['seconds'] / res['probe_ours_step']['seconds']:.2f}x")
    one, budget = res["analyse_one_layer"], res["analyse_budget"]
    print(f"  analyse_model, one layer at a time vs the default memory budget: time "
          f"{one['seconds'] / budget['seconds']:.2f}x; +peak memory {one['peak_mb']:.0f} vs {budget['peak_mb']:.0f} MiB")
    one, budget = res["resnet18_one_layer"], res["resnet18_budget"]
    print(f"  ResNet-18 full analysis ({budget['samples']:,} samples per split, {budget['rows']:,} rows): "
          f"{budget['seconds']:.1f} s with the default memory budget, {one['seconds']:.1f} s one layer at a time "
          f"({one['seconds'] / budget['seconds']:.2f}x); +peak memory {budget['peak_mb']:.0f} vs {one['peak_mb']:.0f} MiB")



PROTOCOL_PHASES = ["protocol_big_paper", "protocol_big_converged", "protocol_big_sklearn",
                   "protocol_demo_paper", "protocol_demo_converged", "protocol_demo_sklearn"]


def protocols_main(size: str, args, dev) -> None:
    """Item 5: converged probes vs the paper protocol (and scikit-learn) on paper-size features and the demo's."""
    s = SIZES[size]
    repeat = args.repeat or (1 if args.quick or dev.type == "cuda" else 2)
    runs: dict[str, list[dict]] = {n: [] for n in PROTOCOL_PHASES}
    for round_ in range(repeat):
        for n in PROTOCOL_PHASES:
            runs[n].append(run_phase(n, size, args.threads))
            r = runs[n][-1]
            print(f"  round {round_ + 1}: {n:<24} {r['seconds']:9.3f} s  {r['result']}"
                  + (f"  iterations {r['iterations']}" if "iterations" in r else ""), flush=True)
    res = {n: dict(rs[0], seconds=min(r["seconds"] for r in rs)) for n, rs in runs.items()}
    print(f"\nprobe protocols, fastest of {repeat}: {s['proto_layers']} layers x {s['proto_n']:,} x {s['proto_d']:,} "
          "(10 classes) and the demo's 8 hidden layers (shapes, T = 100 seed 0)")
    for case in ("big", "demo"):
        paper, conv, sk = (res[f"protocol_{case}_{m}"] for m in ("paper", "converged", "sklearn"))
        if isinstance(conv["result"], str):
            print(f"  {case}: {conv['result']}")
            continue
        worst = max(abs(a - b) for a, b in zip(conv["result"], sk["result"]))
        print(f"  {case}: converged {conv['seconds']:.2f} s ({'all converged' if conv['converged'] else 'NOT converged'}, "
              f"iterations {conv['iterations']}), paper {paper['seconds']:.2f} s, scikit-learn {sk['seconds']:.2f} s; "
              f"converged / paper = {conv['seconds'] / paper['seconds']:.2f}x (goal <= 1); largest accuracy gap to "
              f"scikit-learn {100 * worst:.2f} points (goal <= 0.5)")
        print(f"    accuracy per layer: converged {conv['result']}, paper {paper['result']}, scikit-learn {sk['result']}")


if __name__ == "__main__":
    main()
