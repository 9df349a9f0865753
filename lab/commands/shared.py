"""What several commands share: one-line argument errors, `--set` analysis settings, the Slurm flags, and
reporting (or waiting for) what was submitted."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from analysis.settings import AnalysisSettings
from lab.records.manifest import load_manifest
from slurm import SlurmOptions
from slurm.options import cli_options, parse_flag
from thermoscope import fields as tfields
from thermoscope.fields import ConfigError
from thermoscope.status import ENDED_OK

if TYPE_CHECKING:
    from lab.sweeps.launch import LaunchResult

LAUNCH = "python -m training.launch"
EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (what was wrong, what to do) instead of usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"launch: {message}; see `{self.prog} --help`\n")


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """['probe_epochs=2', 'analysis.max_samples=500'] → {'probe_epochs': '2', 'max_samples': '500'} (checked)."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set wants NAME=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip().removeprefix("analysis.")] = value.strip()
    AnalysisSettings.from_dict(out)  # one line naming the first wrong setting
    return out


def add_slurm_flags(group) -> None:
    """The Slurm option flags, built from SlurmOptions' declarations (launch and the analysis commands share them)."""
    kinds = tfields.field_types(SlurmOptions)
    for f in cli_options():
        group.add_argument(f.metadata["flag"], dest=f.name, type=kinds[f.name], default=None, help=f.metadata["doc"])
    group.add_argument("--sbatch", action="append", default=[], metavar="FLAG=VALUE",
                       help="any other sbatch flag, e.g. --sbatch exclude=node7 (repeatable)")


def slurm_options(sweep, args: argparse.Namespace) -> SlurmOptions:
    """The sweep file's [slurm] section with the CLI's Slurm flags on top."""
    overrides = {f.name: getattr(args, f.name) for f in cli_options() if getattr(args, f.name) is not None}
    if args.sbatch:
        overrides["additional"] = dict(parse_flag(item) for item in args.sbatch)
    return SlurmOptions.from_dict(sweep.slurm).merged(overrides)


def report_submitted(result: LaunchResult, what: str, wait: bool, where) -> int:
    """One line for what was submitted where, then either how to follow it or (`wait`) the wait and the ingest."""
    print(f"{what} in {len(result.jobs)} {result.executor} job(s) "
          f"({', '.join(result.job_ids[:3])}{', ...' if len(result.job_ids) > 3 else ''})")
    if not wait:
        print(f"follow it with: {LAUNCH} status {result.sweep_id}")
        return 0
    return wait_and_ingest(result, where)


def wait_and_ingest(result: LaunchResult, where) -> int:
    from lab.records.reconcile import reconcile
    from lab.sweeps.follow import print_status, wait
    from warehouse.ingest import IngestBusy, ingest

    manifest = load_manifest(where, result.sweep_id)
    local = result.executor == "local"
    status = wait(manifest, where, jobs=result.jobs if local else None)
    if local:  # every run reported; let the job processes exit so their states read COMPLETED
        for job in result.jobs:  # submitit's job.wait() looks once a second; a local job's done() is a cheap poll()
            while not job.done():
                time.sleep(0.05)
        status = reconcile(manifest, where)
    try:
        print(ingest(where))
    except IngestBusy as exc:  # the shards are safe on disk; the next ingest loads them
        print(f"launch: not ingested now ({exc}); run `python -m warehouse ingest` later", file=sys.stderr)
    print_status(status)
    return 0 if set(status.counts()) <= ENDED_OK else 1
