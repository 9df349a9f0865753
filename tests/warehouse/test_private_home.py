"""A home is private by default (thermoscope/private.py): what Thermoscope writes, another Unix user cannot read;
THERMOSCOPE_SHARE_GROUP=1 lets the home's group read it, and only read it.

Writers run in fresh processes started with umask 022 (a typical login shell's), so what is measured is what
Thermoscope itself does, not this test process's umask. The other user is `nobody`, through runuser (the tests
run as root here; skipped where runuser or root is missing). The home sits in a folder everyone may enter, so a
refusal comes from the home's own modes.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOBODY_GROUP = "nogroup"


def _needs_second_user() -> None:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to act as a second user (nobody)")


@pytest.fixture
def open_base():
    """A folder every user may enter (0755), outside pytest's 0700 tmp folders."""
    base = Path(tempfile.mkdtemp(prefix="thermoscope-private-", dir="/tmp"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _as_nobody(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", *cmd], capture_output=True, text=True, timeout=60,
                          errors="replace",
                          cwd="/")


def _write_home(root: Path, **env_extra: str) -> subprocess.CompletedProcess:
    """A real home written the way jobs and ingest write it (tests/app/factory.py: shards, then an ingest), by a
    fresh process with umask 022."""
    code = f"from tests.app import factory; from warehouse import home; factory.build(home({str(root)!r}))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("THERMOSCOPE_SHARE_GROUP", None)
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=300, preexec_fn=lambda: os.umask(0o022))
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)) or ".": stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


def test_nobody_else_can_read_a_home(open_base):
    _needs_second_user()
    root = open_base / "home"
    _write_home(root)
    modes = _modes(root)
    assert (root / "warehouse.duckdb").exists() and any((root / "shards").rglob("*.parquet"))
    loose = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert not loose, f"readable by others: {loose}"
    assert modes["."] == 0o700

    assert _as_nobody("ls", str(open_base)).returncode == 0  # the folder around it is open: the home is not
    for cmd in (["cat", str(root / "warehouse.duckdb")], ["ls", str(root / "shards")], ["ls", str(root)]):
        out = _as_nobody(*cmd)
        assert out.returncode != 0 and "Permission denied" in out.stderr, (cmd, out.stdout[:200], out.stderr)

    # the second layer: with the home's own folder opened by hand, its files and folders still keep others out
    os.chmod(root, 0o755)
    assert _as_nobody("ls", str(root)).returncode == 0
    for cmd in (["cat", str(root / "warehouse.duckdb")], ["ls", str(root / "shards")]):
        out = _as_nobody(*cmd)
        assert out.returncode != 0 and "Permission denied" in out.stderr, (cmd, out.stderr)


def test_an_open_home_is_tightened_with_one_line(open_base):
    root = open_base / "home"
    root.mkdir()
    os.chmod(root, 0o755)
    out = _write_home(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    said = [line for line in out.stderr.splitlines() if line.startswith("thermoscope:")]
    assert len(said) == 1 and "was mode 0755, now 0700" in said[0] and "THERMOSCOPE_SHARE_GROUP" in said[0], said


def test_a_home_shared_through_its_group(open_base):
    """The documented set-up: the home made once in the lab's group with 2750; then every member's files are
    group-readable, never group-writable, never world-readable."""
    _needs_second_user()
    gid = grp.getgrnam(NOBODY_GROUP).gr_gid  # nobody's own group plays the lab's
    root = open_base / "home"
    root.mkdir()
    os.chown(root, 0, gid)
    os.chmod(root, 0o2750)
    _write_home(root, THERMOSCOPE_SHARE_GROUP="1")
    modes = _modes(root)
    assert not {p: oct(m) for p, m in modes.items() if m & 0o027}, "group-writable or world-readable files"
    assert modes["."] == 0o2750
    for path in [root, *root.rglob("*")]:
        assert path.lstat().st_gid == gid, f"{path} is not in the home's group (setgid should carry it)"
        if path.is_dir():
            assert path.stat().st_mode & stat.S_ISGID, path
    assert _as_nobody("cat", str(root / "warehouse.duckdb")).returncode == 0  # the group reads
    assert _as_nobody("ls", str(root / "shards")).returncode == 0
    out = _as_nobody("touch", str(root / "from-nobody"))  # and cannot write
    assert out.returncode != 0 and not (root / "from-nobody").exists()


@pytest.mark.slow
def test_a_local_job_writes_owner_only_files(open_base):
    """A real sweep launched from the CLI, with umask 022, run by a local job: every file it leaves (shards,
    checkpoints, the submitit folder and logs, the warehouse) is the owner's only."""
    _needs_second_user()
    from tests.slurm.slurmhelp import TINY_ANALYSIS

    root = open_base / "home"
    args = ["--set", "preset=demo", "--set", "width=16", "--set", "depth=2", "--set", "epochs=1",
            "--set", "temperature=1", "--set", "seed=0", "--executor", "local", "--wait"]
    args += [a for k, v in TINY_ANALYSIS.items() for a in ("--set", f"analysis.{k}={v}")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), THERMOSCOPE_HOME=str(root), THERMOSCOPE_THREADS="1")
    env.pop("THERMOSCOPE_SHARE_GROUP", None)
    out = subprocess.run([sys.executable, "-m", "training.launch", *args], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600, preexec_fn=lambda: os.umask(0o022))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    modes = _modes(root)
    kinds = {p.split("/")[0] for p in modes}
    assert {"shards", "checkpoints", "jobs", "warehouse.duckdb"} <= kinds, sorted(kinds)
    assert any(p.startswith("jobs/") and p.endswith(".out") for p in modes), "no job log written?"
    loose = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert not loose, f"readable by others: {loose}"
    out = _as_nobody("cat", str(root / "warehouse.duckdb"))
    assert out.returncode != 0
