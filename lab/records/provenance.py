"""Where a result came from: the code that made it, the software and machine it ran on, the job it ran in.

Recorded with every run and every measurement, so a number can be traced back to the commit and the job.
`code_version()` is the commit stamped on every row; `write_environment()` is the job's own record of what
actually ran (the `run_environments` table): Thermoscope's version, the commit and whether the tree had
uncommitted changes (their diff kept beside the sweep, capped), Python and package versions, the device,
threads, host, the Slurm allocation and the start and end times. It describes the process that writes it,
never what a launcher asked for.

Git is read without a shell: the commit from the files under `.git`, the dirty state and the diff by running
`git` with a fixed argument list and a timeout, only where this code's own folder is a git checkout. An
installed copy (site-packages) or a checkout without git gives commit '' and dirty NULL, never a guess.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # lab/records/ -> the checkout (or site-packages when installed)
DIFF_CAP_BYTES = 1 << 20  # a larger diff keeps its hash and size, and its first 1 MiB marked as cut
GIT_TIMEOUT_S = 20.0
UNTRACKED_SHOWN = 100  # untracked paths listed at most (the count is in the dirty flag's porcelain anyway)
# Slurm's description of the allocation (what the job got; sbatch sets these in the job's environment)
SLURM_RESOURCES = ("SLURM_JOB_NUM_NODES", "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_CPUS_PER_TASK",
                   "SLURM_CPUS_ON_NODE", "SLURM_JOB_CPUS_PER_NODE", "SLURM_MEM_PER_NODE", "SLURM_MEM_PER_CPU",
                   "SLURM_MEM_PER_GPU", "SLURM_GPUS", "SLURM_GPUS_PER_NODE", "SLURM_GPUS_PER_TASK",
                   "SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "SLURM_TRES_PER_TASK", "SLURM_JOB_QOS",
                   "SLURM_JOB_ACCOUNT", "SLURM_TIMELIMIT")


def _git_dirs(root: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) of the checkout at `root`; a worktree's `.git` is a file naming its git dir."""
    dot = root / ".git"
    try:
        if dot.is_dir():
            return dot, dot
        text = dot.read_text().strip()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    gitdir = (root / text[8:]).resolve()
    try:
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    except OSError:
        common = gitdir
    return gitdir, common


def code_version(root: Path = ROOT) -> str:
    """The git commit of this checkout ('' for an installed copy outside git), read without running a shell."""
    dirs = _git_dirs(root)
    if dirs is None:
        return ""
    gitdir, common = dirs
    try:
        ref = (gitdir / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            name = ref[5:]
            for folder in (gitdir, common):
                if (folder / name).exists():
                    return (folder / name).read_text().strip()[:12]
            packed = (common / "packed-refs").read_text().splitlines()
            return next(line.split()[0][:12] for line in packed if line.endswith(" " + name))
        return ref[:12]
    except (OSError, StopIteration):
        return ""


def job_env() -> tuple[str, int, str]:
    """(job id, Slurm's restart count, executor) from submitit/Slurm; the PID when run by hand."""
    try:
        import submitit

        job_id = str(submitit.JobEnvironment().job_id)
    except RuntimeError:
        job_id = f"pid{os.getpid()}"
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return job_id, restarts, os.environ.get("SUBMITIT_EXECUTOR", "none")


# ---- the code: commit, dirty flag, the uncommitted diff ------------------------------------------------


@dataclass(frozen=True)
class CodeState:
    commit: str  # 12 hex digits, '' when not a git checkout
    dirty: bool | None  # `git status --porcelain` not empty; None when git could not tell
    untracked: tuple[str, ...] = ()  # untracked paths (not in the diff: `git diff HEAD` covers tracked files)
    diff: bytes = b""  # `git diff HEAD`, at most the cap
    diff_sha256: str | None = None  # of the whole diff ('' when there is none); None when unknown
    diff_bytes: int | None = None  # size of the whole diff
    diff_cut: bool | None = None  # the diff was larger than the cap: `diff` holds its first part only


def _git(root: Path, *args: str) -> bytes | None:
    """`git <args>` in `root` (fixed argv, no shell, a timeout); None when git is missing, slow or says no."""
    env = dict(os.environ, LC_ALL="C", GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    try:
        done = subprocess.run(["git", "-C", str(root), "--no-pager", *args], capture_output=True, env=env,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_state(root: Path = ROOT, cap: int = DIFF_CAP_BYTES) -> CodeState:
    """The checkout's commit, dirty flag and diff against HEAD (untracked files listed, not diffed)."""
    commit = code_version(root)
    if _git_dirs(root) is None:  # an installed copy: never ask git about whatever folder encloses it
        return CodeState(commit, None)
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=normal")
    diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv", "--binary")
    if status is None or diff is None:
        return CodeState(commit, None)
    entries = [e.decode(errors="replace") for e in status.split(b"\0") if e]
    untracked = tuple(e[3:] for e in entries if e.startswith("?? "))[:UNTRACKED_SHOWN]
    cut = len(diff) > cap
    kept = diff[:cap]
    if cut and b"\n" in kept:  # end the kept part at a line: a reader sees whole lines
        kept = kept[: kept.rindex(b"\n") + 1]
    return CodeState(commit, bool(entries), untracked, kept, hashlib.sha256(diff).hexdigest() if diff else "",
                     len(diff), cut)


@functools.cache
def _this_code() -> CodeState:
    # once per process: the code a job runs is the code it imported when it started
    return code_state()


def keep_diff(where, sweep_id: str, state: CodeState) -> str:
    """Write the diff beside the sweep (`jobs/<sweep_id>/code/<sha>.diff`, once); its path under the home, or ''."""
    if not state.diff_sha256:
        return ""
    relative = Path("jobs") / (sweep_id or "no-sweep") / "code" / f"{state.diff_sha256[:16]}.diff"
    path = where.root / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_bytes(state.diff)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return str(relative)


# ---- software, device, job -----------------------------------------------------------------------------


def package_version(name: str) -> str | None:
    """The version of `name` this process runs: the loaded module's own `__version__`, else the installed
    distribution's; None when it is not installed."""
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None) if module is not None else None
    if isinstance(version, str):
        return version
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_facts(device: Any = None) -> dict[str, Any]:
    """torch, CUDA and cuDNN versions, the device the job uses (kind, name, GPUs visible) and torch's threads."""
    import torch

    dev = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    cuda = dev.type == "cuda"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return dict(torch_version=torch.__version__, cuda_version=torch.version.cuda, cudnn_version=
                None if cudnn is None else str(cudnn), device_kind=dev.type,
                device_name=torch.cuda.get_device_name(dev) if cuda else _cpu_name(),
                device_count=torch.cuda.device_count() if cuda else 0, threads=torch.get_num_threads())


def slurm_facts(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The Slurm job this process runs in (job id in array form, partition, nodes, the allocation); NULLs outside."""
    e = os.environ if environ is None else environ
    if "SLURM_JOB_ID" not in e:
        return dict(slurm_job_id=None, slurm_partition=None, slurm_nodes=None, slurm_resources=None)
    array = e.get("SLURM_ARRAY_JOB_ID"), e.get("SLURM_ARRAY_TASK_ID")
    job = f"{array[0]}_{array[1]}" if all(array) else e["SLURM_JOB_ID"]
    resources = {k[6:].lower(): e[k] for k in SLURM_RESOURCES if e.get(k)}
    return dict(slurm_job_id=job, slurm_partition=e.get("SLURM_JOB_PARTITION"),
                slurm_nodes=e.get("SLURM_JOB_NODELIST") or e.get("SLURM_NODELIST"),
                slurm_resources=json.dumps(resources, sort_keys=True))


def collect(device: Any = None, state: CodeState | None = None) -> dict[str, Any]:
    """Everything the record says about this process, except which run and when (see `write_environment`)."""
    from thermoscope import __version__

    state = state or _this_code()
    return dict(
        thermoscope_version=__version__, code_version=state.commit, code_dirty=state.dirty,
        code_untracked=list(state.untracked), diff_sha256=state.diff_sha256, diff_bytes=state.diff_bytes,
        diff_cut=state.diff_cut, python_version=platform.python_version(),
        **{f"{p}_version": package_version(p) for p in ("torchvision", "timm", "numpy")},
        **torch_facts(device), platform=platform.platform(), host=socket.gethostname(), job_id=job_env()[0],
        **slurm_facts())


# ---- the record ----------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def shard_name(run_id: str, task_id: str) -> str:
    """'environment' for the run's own job; 'environment-eNNNN' for an analysis task of epoch NNNN."""
    return "environment" + (task_id[len(run_id):] if task_id.startswith(run_id) else f"-{task_id}")


@dataclass
class Environment:
    """One job's record for one run: written at its start, written again (replacing it) at its end."""

    where: Any  # warehouse.Home
    run_id: str
    sweep_id: str
    role: str  # 'trained' | 'analysed' | 'tracked'
    device: Any = None
    task_id: str = ""
    started_at: datetime | None = None
    code: CodeState | None = None  # None: this checkout's, read once per process
    facts: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.task_id = self.task_id or self.run_id
        self.started_at = self.started_at or now()

    def write(self, ended: bool = False) -> dict[str, Any]:
        from warehouse import write_shard

        if self.facts is None:  # collected once: the end rewrites the start's facts with its end time
            state = self.code or _this_code()
            self.facts = dict(collect(self.device, state), diff_file=keep_diff(self.where, self.sweep_id, state))
        row = dict(self.facts, run_id=self.run_id, sweep_id=self.sweep_id, task_id=self.task_id, role=self.role,
                   started_at=self.started_at, ended_at=now() if ended else None)
        write_shard("run_environments", [row], owner=self.run_id, name=shard_name(self.run_id, self.task_id),
                    where=self.where)
        return row

    def start(self) -> Environment:
        self._safely(False)
        return self

    def end(self) -> None:
        self._safely(True)

    def _safely(self, ended: bool) -> None:
        # the record describes the run; failing to write it must never fail the run (its rows matter more)
        try:
            self.write(ended)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            print(f"run {self.run_id}: environment record not written ({type(exc).__name__}: {first}); "
                  "the run goes on without it", file=sys.stderr, flush=True)


def write_environment(where, run_id: str, sweep_id: str, role: str, *, device: Any = None, task_id: str = "",
                      ended: bool = False) -> dict[str, Any]:
    """Collect and write one record at once (the start's, or with `ended` both times equal to now)."""
    return Environment(where, run_id, sweep_id, role, device, task_id).write(ended)


def recorded_environments(where, run_ids) -> list[dict[str, Any]]:
    """The records of these runs as their shards hold them now (for `status`: no ingest needed)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for rid in dict.fromkeys(run_ids):
        for path in sorted((where.shards / "run_environments" / rid).glob("environment*.parquet")):
            try:
                rows += pq.read_table(path).to_pylist()
            except (OSError, ValueError):  # a half-written or foreign file: status never fails over it
                continue
    return rows
