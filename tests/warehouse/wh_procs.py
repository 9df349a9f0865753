"""Worker processes for the reliability tests (run as `python wh_procs.py ROLE ...`): real processes,
real files, so a crash or a lock behaves as it does on a cluster."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from warehouse import home, write_shard  # the installed package: no path set-up

ROWS_PER_RUN = 2


def writer(root: str, index: int, runs: int) -> None:
    """Write `runs` runs' rows, one shard per run; every 10th run is written twice (a requeue)."""
    where = home(root)
    for r in range(runs):
        run_id = f"w{index:02d}r{r:04d}"
        for attempt in range(2 if r % 10 == 0 else 1):
            rows = [dict(run_id=run_id, epoch=1, layer_index=i, metric="rank", value=float(attempt))
                    for i in range(ROWS_PER_RUN)]
            write_shard("layer_metrics", rows, owner=run_id, name="analysis-e0001", where=where)


def big_writer(root: str) -> None:
    """One shard large enough to take a while to write, so the test can kill us in the middle."""
    import pyarrow as pa

    n = 3_000_000
    table = pa.table({"run_id": pa.array(["big"] * n), "epoch": pa.array([1] * n, pa.int32()),
                      "layer_index": pa.array(range(n), pa.int32()), "metric": pa.array(["rank"] * n),
                      "value": pa.array([float(i) for i in range(n)])})
    print("writing", flush=True)
    write_shard("layer_metrics", table, owner="big", name="analysis-e0001", where=home(root))
    print("done", flush=True)


def ingester(root: str, stop: str) -> None:
    from warehouse.ingest import ingest

    where, rounds = home(root), 0
    while not Path(stop).exists():
        ingest(where, batch_size=500, lock_wait_s=30)
        rounds += 1
    print(json.dumps({"rounds": rounds}), flush=True)


def reader(root: str, stop: str) -> None:
    """Query while everything runs: never locked out, counts only grow, whole shards only."""
    from warehouse.read import WarehouseMissing, query

    where, seen, queries, problems = home(root), 0, 0, []
    while not Path(stop).exists():
        try:
            n = query("SELECT count(*) AS n FROM layer_metrics", where=where)["n"][0]
        except WarehouseMissing:
            if seen:
                problems.append("snapshot vanished")
            time.sleep(0.05)
            continue
        except Exception as exc:  # any lock-out or error is a failure of the design
            problems.append(f"{type(exc).__name__}: {exc}")
            continue
        queries += 1
        if n < seen or n % ROWS_PER_RUN:
            problems.append(f"count went {seen} -> {n}")
        seen = n
    print(json.dumps({"queries": queries, "problems": problems[:5]}), flush=True)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    {"writer": lambda: writer(args[0], int(args[1]), int(args[2])), "big_writer": lambda: big_writer(args[0]),
     "ingester": lambda: ingester(*args), "reader": lambda: reader(*args)}[role]()
