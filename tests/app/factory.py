"""A small real warehouse with known numbers, written the way jobs write it (shards + ingest).

Two seed groups per temperature are built from formulas, so a test can say what mean and std
each chart must receive:

    rank(layer, T, seed)      = 100 - 10 * layer_index - T + seed           (mean: ... + 0.5, std: sqrt(0.5))
    probe_acc ID  (layer, T, seed) = 0.5 + 0.05 * layer_index - 0.001 * T + 0.01 * seed
    probe_acc OOD (layer, T, seed) = 0.4 + 0.02 * layer_index - 0.002 * T + 0.01 * seed
    kappa = 100 - T / 10 + seed, rho = 10 + T / 10 + seed, solution_rank = 9 - (T > 5)
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from lab.records.verdict import judge
from warehouse import Home, write_shard
from warehouse.ingest import ingest

ARCH, ID, OOD = "mlp", "digits", "shapes"
TEMPS = (1.0, 10.0)
SEEDS = (0, 1)
HIDDEN = 4  # hidden layers 0..3, then logits (4) and softmax (4)
EPOCHS = (0, 1, 2)
LOSS_BUMP = {"ce": 0.0, "mse": 1000.0}  # MSE runs' ranks sit far away: mixing seed groups shows at once
T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def rank(layer: int, t: float, seed: int) -> float:
    return 100 - 10 * layer - t + seed


def probe(layer: int, t: float, seed: int, ood: bool = False) -> float:
    if ood:
        return 0.4 + 0.02 * layer - 0.002 * t + 0.01 * seed
    return 0.5 + 0.05 * layer - 0.001 * t + 0.01 * seed


def kappa(t: float, seed: int) -> float:
    return 100 - t / 10 + seed


def rho(t: float, seed: int) -> float:
    return 10 + t / 10 + seed


def run_id(arch: str, t: float, seed: int, loss: str = "ce") -> str:
    return f"{arch[:3]}{loss}{int(t):04d}s{seed:02d}".ljust(16, "0")[:16]


def build(where: Home, *, archs: tuple[str, ...] = (ARCH,), statuses: dict[str, str] | None = None,
          extra_loss: bool = False, dataset: str = ID, stuck: tuple[float, ...] = ()) -> list[str]:
    """Write every table for len(archs) x |TEMPS| x |SEEDS| finished runs and ingest; returns run ids."""
    statuses = statuses or {}
    ids = []
    losses = ("ce", "mse") if extra_loss else ("ce",)
    for arch in archs:
        for loss in losses:
            for t in TEMPS:
                for seed in SEEDS:
                    rid = run_id(arch, t, seed, loss)
                    ids.append(rid)
                    _write_run(where, rid, arch, t, seed, loss, statuses.get(rid, "finished"), dataset, t in stuck)
    _write_globals(where, archs)
    ingest(where)
    return ids


def _write_run(where: Home, rid: str, arch: str, t: float, seed: int, loss: str, status: str,
               dataset: str = ID, stuck: bool = False, labels: dict | None = None) -> None:
    """One run's shards; `labels` (name, tags, note) go into its run_configs row as a launch with --name,
    --tag, --note writes them."""
    sweep = "20261129-030000-abcdef"
    cfg = dict(arch=arch, dataset=dataset, ood=[OOD], temperature=t, seed=seed, loss=loss,
               preset="demo", epochs=2, lr=0.05, momentum=0.9, weight_decay=0.0, batch_size=128, milestones=[],
               gamma=0.1, init="kaiming", init_std=0.01, layernorm=False, width=16, depth=HIDDEN, pretrained="",
               data_root="")
    write_shard("run_configs", [dict(cfg, run_id=rid, sweep_id=sweep, config_json=json.dumps(cfg, sort_keys=True),
                                     code_version="test", created_at=T0, **(labels or {}))],
                owner=rid, name="config", where=where)
    events = [("queued", 0), ("running", 1), (status, 2)]
    for k, (s, minutes) in enumerate(events):
        write_shard("run_events", [dict(
            run_id=rid, sweep_id=sweep, ts=T0 + timedelta(minutes=minutes), status=s, host="node1",
            job_id="123_0", requeues=0, epoch=k, message="Traceback: boom" if s == "failed" else "",
        )], owner=rid, name=f"event-{k}-{s}", where=where)
    log = [dict(
        run_id=rid, epoch=e, step=10 * e, train_loss=1.0 / (e + 1), train_acc=0.5 + 0.1 * e,
        test_acc=0.11 if stuck else 0.6 + 0.1 * e - 0.001 * t, lr=0.05, logits_norm=(1 + e) * 10 / t, logits_fro_norm=100.0 / t,
        rank_pre_softmax=9, rank_post_softmax=9 if t < 5 else 3 + e, eval_samples=256, wall_s=float(e),
    ) for e in EPOCHS]
    write_shard("epochs", log, owner=rid, name="epochs", where=where)
    rows = []
    for e in (0, EPOCHS[-1]):
        shift = 0 if e == EPOCHS[-1] else 50  # epoch 0 has other values: the 'last epoch' rule matters
        for layer in range(HIDDEN + 1):
            kinds = ["hidden", "preact"] if layer < HIDDEN else ["logits", "softmax"]
            for kind in kinds:
                name = f"hidden{layer}" if layer < HIDDEN else kind
                base = dict(run_id=rid, epoch=e, layer_index=layer, layer_name=name, kind=kind, split="test",
                            n_samples=256, n_features=16, detail="{}")
                r = rank(layer, t, seed) + shift + LOSS_BUMP[loss] - (5 if kind == "preact" else 0) - (1 if kind == "softmax" else 0)
                rows.append(dict(base, dataset=dataset, metric="rank", value=r))
                if kind in ("hidden", "logits"):
                    rows.append(dict(base, dataset=dataset, metric="probe_acc", value=probe(layer, t, seed) - shift / 100))
                    rows.append(dict(base, dataset=OOD, metric="probe_acc", value=probe(layer, t, seed, True)))
                if kind == "hidden":
                    rows.append(dict(base, dataset=dataset, metric="orthodev_sample", value=1.0 / (layer + 1) / t))
                    rows.append(dict(base, dataset=dataset, metric="orthodev_classmean", value=0.5 / (layer + 1)))
                    for k in (1, 2, 3):
                        rows.append(dict(base, dataset=dataset, metric=f"nc{k}", value=k + layer / 10 + seed / 100))
    write_shard("layer_metrics", rows, owner=rid, name="analysis", where=where)
    e = EPOCHS[-1]
    metrics = dict(kappa=kappa(t, seed) + LOSS_BUMP[loss], rho=rho(t, seed), solution_rank=9 - (t > 5), nc4=0.1 * seed,
                   auroc_msp=0.7 + t / 100, fpr95_msp=0.5 - t / 100, auroc_energy=0.75, fpr95_energy=0.45,
                   auroc_neco=0.8 + seed / 100, fpr95_neco=0.3)
    summary = [dict(run_id=rid, epoch=e, dataset=OOD if k.startswith(("auroc", "fpr", "rho")) else dataset, metric=k,
                    value=float(v), detail="{}") for k, v in metrics.items()]
    if status in ("finished", "diverged"):  # the verdict an ending job stores (lab/jobs/pipeline.py), by its own rule
        summary.append(judge(log[-1], 10, loss, diverged=status == "diverged").row(rid, e, dataset))
    write_shard("run_metrics", summary, owner=rid, name="summary", where=where)
    align = []
    for e in EPOCHS:
        for layer in range(1, HIDDEN):
            for i in range(15):
                for j in range(15):
                    diag = (min(1.0, 0.1 * e * (t / 10)) if i == j else 0.0)
                    align.append(dict(run_id=rid, epoch=e, layer_index=layer, layer_name=f"hidden{layer}", i=i, j=j,
                                      cosine=diag + 0.01 * ((i + j) % 3)))
    write_shard("alignment", align, owner=rid, name="alignment", where=where)
    write_shard("jobs", [dict(sweep_id=sweep, run_id=rid, job_id="123_0", executor="local", state="SUBMITTED",
                              requeues=0, ts=T0, host="", traceback="")], owner=rid, name="jobs", where=where)


def _write_globals(where: Home, archs: tuple[str, ...]) -> None:
    rows = [dict(arch=a, dataset=ID, init=init, init_std=0.01, seed=s, logits_norm=(i + 1) * 2.0 + s / 10,
                 detail="{}") for i, a in enumerate(archs) for init in ("kaiming", "default") for s in range(3)]
    write_shard("init_norms", rows, owner="init", name="norms", where=where)
    theory = [dict(experiment="prop_k1", param_name="c", param=c, metric="rank", value=float(min(8, 2 + c)),
                   detail="{}") for c in range(0, 8)]
    write_shard("theory", theory, owner="prop_k1", name="demo", where=where)


def expected_rank_mean(layer: int, t: float) -> float:
    return sum(rank(layer, t, s) for s in SEEDS) / len(SEEDS)


def expected_std(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def seed_stats(groups: dict[tuple, list[float]], quantity: str = "logits_norm"):
    """A curve frame as the queries give it: mean, sample std and n per (temperature, epoch) from the raw seed
    values in `groups`, with its band (warehouse.queries.with_band): known numbers for the chart tests."""
    import polars as pl

    from warehouse.queries import with_band

    rows = []
    for (t, epoch), values in groups.items():
        n = len(values)
        rows.append(dict(config_group=f"g{t}", temperature=t, epoch=epoch, quantity=quantity, mean=sum(values) / n,
                         std=expected_std(values) if n > 1 else None, n=n))
    return with_band(pl.DataFrame(rows, schema_overrides={"std": pl.Float64}))
