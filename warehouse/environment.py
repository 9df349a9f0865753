"""Reading the environment records (`run_environments`): which one speaks for a run, what differs between runs.

Pure functions over plain rows (dicts, as `Queries.run_environments` or the shards give them), shared by the
Run detail and Compare pages and by `status`. A run without a record is `None` here and 'not recorded' on
screen: it was made before the record existed (or by a job killed before it started), and nothing is guessed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NOT_RECORDED = "not recorded"
ROLE_ORDER = {"trained": 0, "tracked": 0, "analysed": 1}  # the job that made the run speaks for it

# (column, title) in the order the pages show them
FIELDS: tuple[tuple[str, str], ...] = (
    ("role", "made by"),
    ("thermoscope_version", "Thermoscope"),
    ("code_version", "commit"),
    ("code_dirty", "working tree"),
    ("diff_sha256", "uncommitted diff"),
    ("python_version", "Python"),
    ("torch_version", "torch"),
    ("torchvision_version", "torchvision"),
    ("timm_version", "timm"),
    ("numpy_version", "numpy"),
    ("cuda_version", "CUDA"),
    ("cudnn_version", "cuDNN"),
    ("device_kind", "device"),
    ("device_name", "device name"),
    ("device_count", "GPUs"),
    ("threads", "threads"),
    ("platform", "platform"),
    ("host", "host"),
    ("job_id", "job"),
    ("slurm_job_id", "Slurm job"),
    ("slurm_partition", "partition"),
    ("slurm_nodes", "nodes"),
    ("slurm_resources", "allocation"),
    ("started_at", "started"),
    ("ended_at", "ended"),
)
TITLES = dict(FIELDS)
# What can change a number: compared between runs. Host, job ids, nodes and times differ between any two jobs.
COMPARED: tuple[str, ...] = ("thermoscope_version", "code_version", "code_dirty", "diff_sha256", "python_version",
                             "torch_version", "torchvision_version", "timm_version", "numpy_version", "cuda_version",
                             "cudnn_version", "device_kind", "device_name", "device_count", "threads",
                             "slurm_partition", "slurm_resources")


def primary(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run, the record that speaks for it: the job that trained or tracked it, else its latest analysis."""
    best: dict[str, dict[str, Any]] = {}
    for rec in records:
        rid = rec["run_id"]
        have = best.get(rid)
        key = (-ROLE_ORDER.get(rec.get("role") or "", 2), rec.get("started_at") is not None, rec.get("started_at"))
        if have is None or key > (-ROLE_ORDER.get(have.get("role") or "", 2), have.get("started_at") is not None,
                                  have.get("started_at")):
            best[rid] = dict(rec)
    return best


def show(column: str, rec: Mapping[str, Any] | None) -> str:
    """One field of a record as text; 'not recorded' for a run without a record."""
    if rec is None:
        return NOT_RECORDED
    value = rec.get(column)
    if column == "code_version":
        return value or "none (an installed copy, or no git)"
    if column == "code_dirty":
        return {True: "dirty", False: "clean"}.get(value, "unknown (no git)")
    if column == "diff_sha256":
        if value is None:
            return "unknown (no git)"
        if value == "":
            return "none"
        size = rec.get("diff_bytes")
        text = f"sha256 {value[:12]}, {size:,} bytes" if size is not None else f"sha256 {value[:12]}"
        return text + (" (cut: the kept file holds its first 1 MiB)" if rec.get("diff_cut") else "")
    if column == "slurm_resources" and value:
        try:
            return ", ".join(f"{k}={v}" for k, v in json.loads(value).items()) or "—"
        except ValueError:
            return str(value)
    if column in ("started_at", "ended_at") and value is not None:
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    if column == "ended_at":
        return "not ended (still running, or killed)"
    if value is None:
        return "—"
    return str(value)


def _word(column: str, rec: Mapping[str, Any] | None) -> str:
    """A field's value as the difference line names it ('dirty', 'torch 2.14.1')."""
    if rec is None:
        return NOT_RECORDED
    if column == "code_dirty":
        return show(column, rec)
    if column == "diff_sha256":
        value = rec.get(column)
        return "no diff" if value == "" else ("unknown" if value is None else value[:12])
    return show(column, rec)


def differences(records: Sequence[Mapping[str, Any] | None]) -> list[str]:
    """What differs between these runs' records, one line per field: 'torch 2.14.1 vs 2.13.0', 'working tree
    dirty vs clean'. A run without a record makes one line of its own ('environment not recorded for 1 of 2')."""
    lines = []
    missing = sum(r is None for r in records)
    if missing and missing < len(records):
        lines.append(f"environment {NOT_RECORDED} for {missing} of {len(records)} runs")
    present = [r for r in records if r is not None]
    if len(present) < 2:
        return lines
    for column in COMPARED:
        if column == "diff_sha256" and len({r.get("code_dirty") for r in present}) > 1:
            continue  # 'dirty vs clean' already says it
        words = list(dict.fromkeys(_word(column, r) for r in present))
        if len(words) > 1:
            lines.append(f"{TITLES[column]} {' vs '.join(words)}")
    return lines


def code_of(rec: Mapping[str, Any]) -> str:
    """The code a record ran as one word: the commit, '+dirty <diff hash>' when the tree had changes."""
    commit = rec.get("code_version") or "no commit"
    if rec.get("code_dirty"):
        diff = rec.get("diff_sha256")
        return f"{commit}+dirty" + (f" (diff {diff[:8]})" if diff else " (untracked files)")
    return commit


def mixed_code_warning(records: Iterable[Mapping[str, Any]]) -> str:
    """One line when a sweep's jobs ran different code (commits, or clean and dirty trees, or different diffs);
    '' when they all ran the same. Counted per run, by the record that speaks for it."""
    runs = primary(records).values()
    counts: dict[str, int] = {}
    for rec in runs:
        counts[code_of(rec)] = counts.get(code_of(rec), 0) + 1
    if len(counts) < 2:
        return ""
    parts = ", ".join(f"{code} ({n} run{'s' if n > 1 else ''})" for code, n in
                      sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"warning: this sweep's runs ran {len(counts)} different code versions: {parts}; "
            "a difference between them may be the code's, not the config's")
