"""`thermoscope delete SWEEP_ID|RUN_ID [--dry-run]`: remove runs and everything kept of them.

What goes, for the runs of a sweep (its manifest's runs) or for one run:
- their shards in every table (`shards/<table>/<run_id>/`) and quarantined shards (`quarantine/<table>/<run_id>/`),
- their rows in the warehouse (removed from the ingester's file and published: warehouse/ingest.py `forget`),
- their checkpoints (`checkpoints/<run_id>/`) and superseded checkpoints (`<run_id>.superseded-*`),
- for every sweep all of whose runs are deleted: its job folder (`jobs/<sweep_id>/`: manifest, logs, pickles)
  and its `jobs` shards (`shards/jobs/<sweep_id>/`).
A run that is in other sweeps too is deleted from them as well (one run id, one set of files). Refused while a
run of it is queued or running (its job would write again): cancel the sweep first. `--dry-run` prints exactly
the list `delete` removes, and removes nothing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lab.records.manifest import list_sweeps, load_manifest
from lab.sweeps.plan import current_events
from lab.sweeps.retention import superseded
from thermoscope.status import LIVE
from warehouse import Home, home
from warehouse.schema import TABLES

EXIT_BAD_INPUT = 2
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class CannotDelete(ValueError):
    pass


@dataclass
class Doomed:
    """Everything `delete` removes: files and folders, and warehouse rows by owner."""

    runs: list[str]
    sweeps: list[str]  # sweeps whose every run goes: their job folders and jobs shards go too
    paths: list[Path] = field(default_factory=list)  # files and folders, each removed whole
    rows: dict[str, int] = field(default_factory=dict)  # table -> warehouse rows

    @property
    def owners(self) -> dict[str, list[str]]:
        """table -> shard owner folders whose rows go (run ids; sweep ids for `jobs`)."""
        return {t: (self.sweeps if t == "jobs" else self.runs) for t in TABLES}

    def lines(self, where: Home) -> list[str]:
        out = [f"runs: {len(self.runs)} ({', '.join(self.runs[:5])}{', …' if len(self.runs) > 5 else ''})",
               f"sweeps whose job folders go: {', '.join(self.sweeps) or 'none'}"]
        out += [f"  {p.relative_to(where.root)}{'/' if p.is_dir() else ''}" for p in self.paths]
        rows = {t: n for t, n in self.rows.items() if n}
        out.append("warehouse rows: " + (", ".join(f"{t} {n}" for t, n in sorted(rows.items())) or "none"))
        return out


def runs_of(where: Home, ident: str) -> list[str]:
    """The run ids `ident` names: a sweep's runs, or the one run."""
    if not _ID.fullmatch(ident):
        raise CannotDelete(f"{ident!r} is not a sweep or run id; give one that `thermoscope status` lists")
    if ident in list_sweeps(where):
        return list(dict.fromkeys(load_manifest(where, ident).run_ids))
    if any((where.shards / t / ident).is_dir() for t in TABLES) or where.checkpoint_dir(ident).is_dir() \
            or superseded(where, ident) or _warehouse_rows(where, {"run_configs": [ident]}):
        return [ident]
    raise CannotDelete(f"no sweep or run {ident!r} in {where.root}; `thermoscope status` lists sweeps")


def plan_delete(where: Home, ident: str) -> Doomed:
    """What deleting `ident` removes, checked: CannotDelete while one of its runs is queued or running."""
    runs = runs_of(where, ident)
    live = {r: e for r, e in current_events(runs, where).items() if e["status"] in LIVE}
    if live:
        rid, event = next(iter(live.items()))
        raise CannotDelete(f"run {rid} is {event['status']} in sweep {event['sweep_id']} ({len(live)} live run(s)); "
                           f"cancel it first (`thermoscope cancel {event['sweep_id']}`) or wait until it ends")
    gone = set(runs)
    sweeps = [s for s in list_sweeps(where) if set(_manifest_runs(where, s)) <= gone]
    doomed = Doomed(runs, sweeps)
    for table in TABLES:
        for owner in (sweeps if table == "jobs" else runs):
            doomed.paths += [p for p in (where.shards / table / owner, where.quarantine / table / owner) if p.exists()]
    for rid in runs:
        doomed.paths += [p for p in (where.checkpoint_dir(rid), *superseded(where, rid)) if p.exists()]
    doomed.paths += [where.jobs / s for s in sweeps if (where.jobs / s).exists()]
    doomed.rows = _warehouse_rows(where, doomed.owners)
    return doomed


def _manifest_runs(where: Home, sweep_id: str) -> list[str]:
    try:
        return load_manifest(where, sweep_id).run_ids
    except Exception:  # a manifest being written: not a sweep to remove with these runs
        return ["?"]


def _warehouse_rows(where: Home, owners: dict[str, list[str]]) -> dict[str, int]:
    """Rows per table that shards of these owners loaded into the published warehouse."""
    from warehouse.read import WarehouseMissing, query

    counts: dict[str, int] = {}
    for table, names in owners.items():
        if not names:
            continue
        try:
            frame = query(f"SELECT count(*) AS n FROM \"{table}\" WHERE split_part(_shard, '/', 2) IN "
                          "(SELECT unnest(?::VARCHAR[]))", [names], where)
        except WarehouseMissing:
            return {}
        except Exception:  # a table an older warehouse does not have yet
            continue
        counts[table] = int(frame["n"][0])
    return counts


def delete(where: Home, doomed: Doomed) -> dict[str, int]:
    """Remove the files, then the rows (so a crash in between leaves rows a re-run of delete removes)."""
    from warehouse.ingest import forget

    for path in doomed.paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return forget(where, doomed.owners)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="thermoscope delete", description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="a sweep id or a run id")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    p.add_argument("--home", default=None, help="Thermoscope home (default $THERMOSCOPE_HOME)")
    args = p.parse_args(argv)
    where = home(args.home)
    try:
        doomed = plan_delete(where, args.target)
    except CannotDelete as exc:
        print(f"delete: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(("would remove" if args.dry_run else "removing") + f" from {where.root}:")
    print("\n".join(doomed.lines(where)))
    if args.dry_run:
        return 0
    removed = delete(where, doomed)
    print(f"deleted {len(doomed.runs)} run(s): {len(doomed.paths)} file(s)/folder(s), "
          f"{sum(removed.values())} warehouse row(s)")
    return 0
