"""Dashboard benchmark: every page's first render and one interaction on a 10,000-run warehouse, via AppTest.

    .venv/bin/python bench/bench_app.py [--quick] [--runs N] [--keep DIR] [--repeat K]

The warehouse is written the way jobs write it (Parquet shards, one per table) and loaded with
`warehouse.ingest`, so the derived tables the pages read exist as in production. Budgets from issue
#7: first render < 1 s (with Streamlit's data cache cleared, i.e. a new session after an ingest),
each interaction < 300 ms. Prints figures first, then ratios figure / budget (below 1 = within), and
the largest number of rows any chart received (charts get aggregated rows only).
Timings are medians (and bests) of --repeat runs; the machine is shared, so expect noise: the load
average at the start is printed, and the best of the repeats is the figure least disturbed by others. The very first render
in a fresh process (imports included) is printed separately: a server pays it once, not per session.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from warehouse import home, write_shard
from warehouse.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]

ARCHS = ["mlp", "vgg19", "vgg19_bn", "resnet18", "resnet20", "resnet34", "resnet50", "vit_b16"]
DATASETS = ["cifar10", "cifar100", "svhn", "imagenet100"]
TEMPS = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0]
SEEDS = 3
LAYERS = 10
EPOCHS = 20
CHECKPOINTS = (0, EPOCHS)
FIRST_BUDGET_MS, INTERACTION_BUDGET_MS = 1000.0, 300.0


def _runs(n: int) -> dict[str, np.ndarray]:
    k = np.arange(n)
    seed = k % SEEDS
    temp_i = (k // SEEDS) % len(TEMPS)
    g = k // (SEEDS * len(TEMPS))
    return dict(
        k=k, seed=seed, temperature=np.array(TEMPS)[temp_i], arch=np.array(ARCHS)[g % len(ARCHS)],
        dataset=np.array(DATASETS)[(g // len(ARCHS)) % len(DATASETS)],
        loss=np.where((g // (len(ARCHS) * len(DATASETS))) % 2 == 0, "ce", "mse"),
        width=(64 * (1 + g // (2 * len(ARCHS) * len(DATASETS)))).astype(np.int32),
        run_id=np.array([f"bench{i:011d}" for i in k]),
    )


def build(where, n: int) -> dict[str, int]:
    """Write one shard per table for `n` runs and ingest them; returns the row counts."""
    r = _runs(n)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    cfgs = [dict(arch=str(a), dataset=str(d), temperature=float(t), seed=int(s), loss=str(lo), width=int(w),
                 depth=LAYERS, preset="cifar_resnet", epochs=EPOCHS)
            for a, d, t, s, lo, w in zip(r["arch"], r["dataset"], r["temperature"], r["seed"], r["loss"], r["width"])]
    n_sweeps = max(1, n // 240)
    sweep = np.array([f"2026110{1 + i % 9}-0000{i % 10}0-{i:06x}" for i in range(n_sweeps)])[r["k"] % n_sweeps]
    configs = pa.table({
        "run_id": r["run_id"], "sweep_id": sweep, "arch": r["arch"], "dataset": r["dataset"],
        "ood": [["svhn"]] * n, "temperature": r["temperature"], "seed": r["seed"], "loss": r["loss"],
        "preset": ["cifar_resnet"] * n, "epochs": np.full(n, EPOCHS, np.int32), "lr": np.full(n, 0.1),
        "width": r["width"], "depth": np.full(n, LAYERS, np.int32),
        "config_json": [json.dumps(c, sort_keys=True) for c in cfgs], "created_at": [t0] * n,
    })
    # one config shard per run, as the launcher writes them: ingest refreshes the seed-group statistics
    # (layer_stats) of the runs whose shards it loads, and it learns the run ids from these folder names
    for i in range(n):
        write_shard("run_configs", configs.slice(i, 1), owner=str(r["run_id"][i]), name="config", where=where)
    statuses = np.array(["queued", "running", "finished"])
    last = np.where(r["k"] % 97 == 0, "failed", np.where(r["k"] % 89 == 0, "running", "finished"))
    write_shard("run_events", pa.table({
        "run_id": np.repeat(r["run_id"], 3), "sweep_id": np.repeat(sweep, 3),
        "ts": [t0 + timedelta(minutes=int(i) % 3) for i in range(3 * n)],
        "status": np.concatenate([[statuses[0], statuses[1], s] for s in last]),
        "job_id": np.repeat(r["k"].astype(str), 3), "epoch": np.tile(np.array([0, 1, EPOCHS], np.int32), n),
        "message": np.concatenate([["", "", "Traceback (most recent call last):\nRuntimeError: bench" if s == "failed"
                                    else ""] for s in last]),
    }), owner="bench", name="events", where=where)
    e = np.arange(EPOCHS + 1)
    ep_run = np.repeat(r["run_id"], len(e))
    ep_t = np.repeat(r["temperature"], len(e))
    ep = np.tile(e, n).astype(np.int32)
    write_shard("epochs", pa.table({
        "run_id": ep_run, "epoch": ep, "step": ep.astype(np.int64) * 391, "test_acc": 0.5 + 0.02 * ep,
        "logits_norm": 10.0 / ep_t * (1 + ep / 5), "rank_pre_softmax": np.full(len(ep), 9, np.int32),
        "rank_post_softmax": np.where(ep_t > 10, 3 + ep // 4, 9).astype(np.int32),
    }), owner="bench", name="epochs", where=where)
    # per-layer rows: rank (hidden, preact, logits, softmax), probe_acc ID + OOD, orthodev, nc1 at 2 checkpoints
    rows: dict[str, list] = {c: [] for c in ("run_id", "epoch", "layer_index", "layer_name", "kind", "dataset",
                                             "split", "metric", "value")}
    layer_spec = ([(li, f"hidden{li}", kind) for li in range(LAYERS) for kind in ("hidden", "preact")]
                  + [(LAYERS, "logits", "logits"), (LAYERS, "softmax", "softmax")])
    per_run = []
    for li, name, kind in layer_spec:
        per_run.append((li, name, kind, "id", "rank"))
        if kind in ("hidden", "logits"):
            per_run += [(li, name, kind, "id", "probe_acc"), (li, name, kind, "svhn", "probe_acc")]
        if kind == "hidden":
            per_run += [(li, name, kind, "id", m) for m in ("orthodev_sample", "orthodev_classmean", "nc1")]
    m = len(per_run) * len(CHECKPOINTS)
    li = np.array([p[0] for p in per_run] * len(CHECKPOINTS), np.int32)
    rows["run_id"] = np.repeat(r["run_id"], m)
    rows["epoch"] = np.tile(np.repeat(np.array(CHECKPOINTS, np.int32), len(per_run)), n)
    rows["layer_index"] = np.tile(li, n)
    rows["layer_name"] = np.tile(np.array([p[1] for p in per_run] * len(CHECKPOINTS)), n)
    rows["kind"] = np.tile(np.array([p[2] for p in per_run] * len(CHECKPOINTS)), n)
    ds = np.tile(np.array([p[3] for p in per_run] * len(CHECKPOINTS)), n)
    rows["dataset"] = np.where(ds == "id", np.repeat(r["dataset"], m), ds)
    rows["split"] = np.full(n * m, "test")
    rows["metric"] = np.tile(np.array([p[4] for p in per_run] * len(CHECKPOINTS)), n)
    rng = np.random.default_rng(0)
    rows["value"] = np.tile(li.astype(float), n) + rng.random(n * m)
    write_shard("layer_metrics", pa.table(rows), owner="bench", name="analysis", where=where)
    names = ["kappa", "rho", "solution_rank", "nc4", "auroc_msp", "fpr95_msp", "auroc_energy", "fpr95_energy"]
    write_shard("run_metrics", pa.table({
        "run_id": np.repeat(r["run_id"], len(names)), "epoch": np.full(n * len(names), EPOCHS, np.int32),
        "dataset": np.where(np.tile(np.array(["id", "svhn", "id", "id", "svhn", "svhn", "svhn", "svhn"]), n) == "id",
                            np.repeat(r["dataset"], len(names)), "svhn"),
        "metric": np.tile(np.array(names), n), "value": 50 + 50 * rng.random(n * len(names)),
    }), owner="bench", name="summary", where=where)
    # alignment for one run in 25: 15 x 15 for 3 layers at 3 checkpoints
    sub = r["run_id"][::25]
    per = 3 * 3 * 225
    i, j = np.indices((15, 15))
    write_shard("alignment", pa.table({
        "run_id": np.repeat(sub, per), "epoch": np.tile(np.repeat(np.array([0, 10, 20], np.int32), 3 * 225), len(sub)),
        "layer_index": np.tile(np.repeat(np.array([2, 5, 8], np.int32), 225), 3 * len(sub)),
        "layer_name": np.tile(np.repeat(np.array(["hidden2", "hidden5", "hidden8"]), 225), 3 * len(sub)),
        "i": np.tile(i.ravel().astype(np.int32), 9 * len(sub)), "j": np.tile(j.ravel().astype(np.int32), 9 * len(sub)),
        "cosine": rng.random(per * len(sub)),
    }), owner="bench", name="alignment", where=where)
    write_shard("init_norms", pa.table({
        "arch": np.repeat(np.array(ARCHS), 9), "dataset": ["cifar10"] * 72,
        "init": np.tile(np.repeat(np.array(["kaiming", "default", "normal"]), 3), 8),
        "seed": np.tile(np.arange(3), 24), "logits_norm": 10 ** rng.uniform(-3, 2, 72),
    }), owner="init", name="norms", where=where)
    report = ingest(where)
    return dict(runs=n, layer_metrics=n * m, epochs=len(ep), alignment=per * len(sub), ingest=str(report))


# page -> (widget kind, key, new value) of the interaction measured
INTERACTIONS = {
    "Home.py": ("selectbox", "home-loss", "mse"),
    "pages/1_Runs.py": ("multiselect", "runs-group-by", ["arch", "temperature"]),
    "pages/2_Rank.py": ("selectbox", "rank-epoch", 0),
    "pages/3_Probes.py": ("selectbox", "probe-epoch", 0),
    "pages/4_Kappa_rho.py": ("multiselect", "kr-loss", ["ce", "mse"]),
    "pages/5_Logits_norm.py": ("selectbox", "norm-arch", "resnet18"),
    "pages/6_Alignment.py": ("slider", "align-top", 10),
    "pages/7_Geometry_OOD.py": ("selectbox", "geo-nc-layer", "nc2"),
    "pages/8_Theory.py": ("slider", "k1-c", 30.0),
    "pages/9_Paper_check.py": ("slider", "paper-tol", 3.0),
    "pages/10_SQL.py": ("button", "Run", None),
    "pages/11_Jobs.py": ("toggle", "jobs-live", False),
    "pages/12_Run_detail.py": ("selectbox", "detail-metric", "probe_acc"),
}


def _chart_rows(at) -> int:
    best = 0
    for el in at.get("vega_lite_chart"):
        blobs = [el.proto.data.data] if el.proto.data.data else []  # a spec sent beside its frame
        for blob in blobs + [d.data.data for d in el.proto.datasets]:
            best = max(best, pa.ipc.open_stream(blob).read_all().num_rows)
    return best


BENCH_TOKEN = "bench-" + "0123456789abcdef" * 2


def measure(page: str, repeat: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    kind, key, value = INTERACTIONS[page]
    first, inter, rows = [], [], 0
    for _ in range(repeat):
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app" / page), default_timeout=120)
        at.query_params["token"] = BENCH_TOKEN  # the dashboard's gate (app/gate.py); main() sets the same token
        if page.endswith("Run_detail.py"):
            at.query_params["run"] = "bench00000000000"
        t0 = time.perf_counter()
        at.run()
        first.append((time.perf_counter() - t0) * 1000)
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].value}")
        rows = max(rows, _chart_rows(at))
        if kind == "button":
            widget = next(b for b in at.button if b.label == key)
            t0 = time.perf_counter()
            widget.click().run()
        else:
            widget = getattr(at, kind)(key=key)
            t0 = time.perf_counter()
            widget.set_value(value).run()
        inter.append((time.perf_counter() - t0) * 1000)
        if at.exception:
            raise RuntimeError(f"{page} after {key}: {at.exception[0].value}")
        rows = max(rows, _chart_rows(at))
    return dict(first_ms=statistics.median(first), interaction_ms=statistics.median(inter), chart_rows=rows,
                first_best=min(first), interaction_best=min(inter), charts=len(at.get("vega_lite_chart")))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="runs in the warehouse (default 10,000; --quick 1,000)")
    p.add_argument("--repeat", type=int, help="measurements per page (default 3; --quick 1)")
    p.add_argument("--quick", action="store_true", help="smoke run for `bench/run_all.py --quick`")
    p.add_argument("--keep", help="build the warehouse here and keep it (reused when it already holds one)")
    args = p.parse_args()
    args.runs = args.runs or (1_000 if args.quick else 10_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-app-"))
    where = home(root)
    print(f"bench_app  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  {os.cpu_count()} CPUs  "
          f"python {platform.python_version()}  load average {os.getloadavg()[0]:.1f} (others share these cores)")
    try:
        if not where.database.exists():
            t0 = time.perf_counter()
            counts = build(where, args.runs)
            print(f"warehouse: {counts['runs']:,} runs, {counts['layer_metrics']:,} layer_metrics rows, "
                  f"{counts['epochs']:,} epoch rows, {counts['alignment']:,} alignment rows; built and ingested in "
                  f"{time.perf_counter() - t0:.1f} s ({counts['ingest']})")
        os.environ["THERMOSCOPE_HOME"] = str(root)
        os.environ["THERMOSCOPE_TOKEN"] = BENCH_TOKEN
        results = {}
        # the first page view of a fresh server process also pays for importing Streamlit's elements,
        # Altair, Polars and the app: reported once here, then every page is measured in a warm process
        # (its data cache cleared before each first render, like a new session after an ingest)
        cold = measure("Home.py", 1)
        print(f"cold process: Home first render {cold['first_ms']:.0f} ms (imports included; once per server)")
        print(f"{'page':<26}{'first render':>14}{'interaction':>13}{'charts':>8}{'max chart rows':>16}"
              f"{'best first':>12}{'best inter.':>13}")
        for page in INTERACTIONS:
            res = results[page] = measure(page, args.repeat)
            print(f"{page.removeprefix('pages/'):<26}{res['first_ms']:>11.0f} ms{res['interaction_ms']:>10.0f} ms"
                  f"{res['charts']:>8}{res['chart_rows']:>16,}{res['first_best']:>9.0f} ms{res['interaction_best']:>10.0f} ms")
        print("ratios (figure / budget; below 1 is within):")
        worst_first = max(results.items(), key=lambda kv: kv[1]["first_ms"])
        worst_inter = max(results.items(), key=lambda kv: kv[1]["interaction_ms"])
        for page, res in results.items():
            print(f"  {page.removeprefix('pages/'):<24} first {res['first_ms'] / FIRST_BUDGET_MS:5.2f}   "
                  f"interaction {res['interaction_ms'] / INTERACTION_BUDGET_MS:5.2f}")
        print(f"  worst first render: {worst_first[0]} {worst_first[1]['first_ms'] / FIRST_BUDGET_MS:.2f}; "
              f"worst interaction: {worst_inter[0]} {worst_inter[1]['interaction_ms'] / INTERACTION_BUDGET_MS:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
