"""The environment record (`run_environments`): written by the job itself, read back by Run detail, Compare and
`status`, absent ('not recorded') for runs made before it existed.

Real parts: one tiny run trained by the local executor in its own process, a real git checkout (this one) and a
throw-away git repository for the over-the-cap diff, the real shard writer, ingest, migration and the pages
rendered by Streamlit's AppTest."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from datetime import UTC, datetime

import duckdb
import psutil
import pytest

from app.ui import plain
from lab.records import provenance
from lab.records.manifest import Manifest
from tests.app.apphelp import TOKEN, no_exceptions, run_page, texts
from tests.conftest import ROOT
from tests.slurm.slurmhelp import cli, sets
from warehouse import environment, home, write_shard
from warehouse.ingest import ingest
from warehouse.read import query

OTHER_TORCH = "2.13.0"


def git(root, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained by the local executor (its job is its own process), ingested by its job."""
    where = home(tmp_path_factory.mktemp("env-home"))
    porcelain = git(ROOT, "status", "--porcelain")  # the checkout as the job will find it
    done = cli("-m", "training.launch", *sets(epochs=1), "--executor", "local", "--wait", home=where)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    sweep_id = done.stdout.split("sweep ", 1)[1].split(":", 1)[0]
    ingest(where)
    return where, sweep_id, porcelain


@pytest.mark.slow
def test_a_trained_run_records_what_its_job_ran_on(trained):
    import torch

    where, sweep_id, porcelain = trained
    rows = query("SELECT * FROM run_environments", where=where).to_dicts()
    assert len(rows) == 1
    rec = rows[0]
    assert rec["role"] == "trained" and rec["sweep_id"] == sweep_id and rec["task_id"] == rec["run_id"]
    assert rec["torch_version"] == torch.__version__
    assert rec["device_kind"] == "cpu" and rec["device_count"] == 0 and rec["device_name"]
    # what the job ran with, not the THERMOSCOPE_THREADS=1 its environment asked for: a local sweep's one job gets
    # the machine's cores (lab/sweeps/launch.py)
    assert rec["threads"] == max(1, os.cpu_count() or 1)
    assert rec["host"] == socket.gethostname()
    assert rec["code_version"] == git(ROOT, "rev-parse", "HEAD").decode().strip()[:12]
    assert rec["code_dirty"] == bool(porcelain.strip())
    assert rec["started_at"] <= rec["ended_at"]
    import platform

    import thermoscope

    assert rec["python_version"] == platform.python_version() and rec["thermoscope_version"] == thermoscope.__version__
    assert rec["slurm_job_id"] is None  # not under Slurm: NULL, not a guess
    run = query("SELECT job_id FROM runs WHERE run_id = ?", [rec["run_id"]], where=where).row(0, named=True)
    assert rec["job_id"] == run["job_id"]
    if rec["diff_sha256"]:  # a dirty tracked file: its diff is kept beside the sweep, whole under the cap
        kept = (where.root / rec["diff_file"]).read_bytes()
        assert rec["diff_file"].startswith(f"jobs/{sweep_id}/code/")
        assert not rec["diff_cut"] and len(kept) == rec["diff_bytes"]
        assert hashlib.sha256(kept).hexdigest() == rec["diff_sha256"]


def test_a_diff_over_the_cap_keeps_its_hash_and_size_and_says_it_was_cut(tmp_path, tmp_home):
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "model.py").write_text("x = 1\n")
    git(repo, "add", "model.py")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "first")
    (repo / "model.py").write_text("".join(f"weights_{i} = {i * 7919}\n" for i in range(60_000)))  # ~1.3 MB diff
    (repo / "notes.txt").write_text("untracked")
    whole = git(repo, "diff", "HEAD")
    assert len(whole) > provenance.DIFF_CAP_BYTES
    state = provenance.code_state(repo)
    assert state.dirty is True and state.diff_cut is True and state.untracked == ("notes.txt",)
    assert state.diff_bytes == len(whole) and state.diff_sha256 == hashlib.sha256(whole).hexdigest()
    assert len(state.diff) <= provenance.DIFF_CAP_BYTES and whole.startswith(state.diff)
    assert state.commit == git(repo, "rev-parse", "HEAD").decode().strip()[:12]

    provenance.Environment(tmp_home, "r0", "s0", "trained", "cpu", code=state).start()
    ingest(tmp_home)
    rec = query("SELECT * FROM run_environments", where=tmp_home).row(0, named=True)
    assert rec["diff_cut"] is True and rec["diff_bytes"] == len(whole) and rec["code_untracked"] == ["notes.txt"]
    assert (tmp_home.root / rec["diff_file"]).read_bytes() == state.diff
    assert "cut" in environment.show("diff_sha256", rec) and f"{len(whole):,} bytes" in environment.show(
        "diff_sha256", rec)


def test_outside_git_the_record_says_unknown_never_guesses(tmp_path):
    # a folder inside a git checkout but not one itself (an installed copy in a venv inside a repo): never asks
    # the enclosing repository
    inside = ROOT / ".pytest-env-probe"
    shutil.rmtree(inside, ignore_errors=True)
    inside.mkdir()
    try:
        for folder in (tmp_path, inside):
            state = provenance.code_state(folder)
            assert state == provenance.CodeState("", None)
            assert environment.show("code_dirty", {"code_dirty": state.dirty}) == "unknown (no git)"
    finally:
        shutil.rmtree(inside)


@pytest.fixture
def dashboard(monkeypatch):
    """The pages run behind the dashboard's gate: a known token, as tests/app/conftest.py gives its tests."""
    monkeypatch.setenv("THERMOSCOPE_TOKEN", TOKEN)
    monkeypatch.delenv("THERMOSCOPE_TOKEN_FILE", raising=False)
    monkeypatch.delenv("THERMOSCOPE_APP_NO_TOKEN", raising=False)


def _second_run(where, rec: dict, run_id: str, **changes) -> None:
    """A copy of the trained run's config under another id, and its record with `changes`, through the shard writer."""
    config = query("SELECT * EXCLUDE (_shard) FROM run_configs WHERE run_id = ?", [rec["run_id"]], where=where)
    write_shard("run_configs", [dict(config.row(0, named=True), run_id=run_id, seed=99)], owner=run_id,
                name="config", where=where)
    write_shard("run_environments", [dict(rec, run_id=run_id, task_id=run_id, **changes)], owner=run_id,
                name="environment", where=where)


@pytest.mark.slow  # `trained` runs a real local job
def test_compare_names_the_field_that_differs(trained, monkeypatch, dashboard):
    import torch

    where, _, _ = trained
    rec = query("SELECT * EXCLUDE (_shard) FROM run_environments", where=where).row(0, named=True)
    _second_run(where, rec, "b" * 16, torch_version=OTHER_TORCH)
    ingest(where)
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/13_Compare.py", runs=f"{rec['run_id']},{'b' * 16}")
    no_exceptions(at)
    shown = texts(at)
    assert plain(f"torch {torch.__version__} vs {OTHER_TORCH}") in shown, shown  # as typed, escaped for markdown
    assert "Python" not in shown.split("Environment differences", 1)[1].split("Final results", 1)[0]
    detail = run_page("pages/12_Run_detail.py", run=rec["run_id"])
    no_exceptions(detail)
    (table,) = [d.value for d in detail.table if "recorded" in d.value.columns]
    values = dict(zip(table["recorded"], table.iloc[:, 1]))  # escaped to show as typed (st.table reads Markdown)
    assert values["torch"] == plain(torch.__version__) and values["threads"] == plain(str(rec["threads"]))
    assert values["made by"] == "trained"


@pytest.mark.slow  # `trained` runs a real local job
def test_an_older_warehouse_migrates_and_its_runs_show_not_recorded(trained, tmp_home, monkeypatch, dashboard):
    where, _, _ = trained
    rec = query("SELECT * EXCLUDE (_shard) FROM run_configs", where=where).row(0, named=True)
    write_shard("run_configs", [rec], owner=rec["run_id"], name="config", where=tmp_home)
    ingest(tmp_home)
    con = duckdb.connect(str(tmp_home.working))  # back to the v6 layout: no run_environments
    con.execute("DROP TABLE run_environments")
    con.execute("UPDATE _meta SET value = '6' WHERE key = 'schema_version'")
    con.close()
    shutil.copyfile(tmp_home.working, tmp_home.database)
    tmp_home.working.unlink()
    assert ingest(tmp_home).migrated == ["v6 -> v7", "v7 -> v8"]  # v8: the probe record (additive)
    assert query("SELECT count(*) AS n FROM run_environments", where=tmp_home)["n"][0] == 0
    monkeypatch.setenv("THERMOSCOPE_HOME", str(tmp_home.root))
    at = run_page("pages/12_Run_detail.py", run=rec["run_id"])
    no_exceptions(at)
    assert "Environment: not recorded" in texts(at)


def test_status_warns_in_one_line_when_a_sweep_mixes_code_versions(tmp_home):
    runs = ["a" * 16, "c" * 16, "d" * 16]
    gone = psutil.Popen(["true"])
    gone.wait()  # a job that has ended: status reconciles it and reads the records all the same
    Manifest("mixed", "local", str(tmp_home.jobs / "mixed"), {str(gone.pid): runs}).save(tmp_home)
    for rid in runs:
        provenance.write_environment(tmp_home, rid, "mixed", "trained", device="cpu", ended=True)
    same = cli("-m", "training.launch", "status", "mixed", home=tmp_home)
    assert "code versions" not in same.stdout, same.stdout
    ours = query_shard(tmp_home, runs[0])
    write_shard("run_environments", [dict(ours, run_id=runs[2], task_id=runs[2], code_version="0123456789ab",
                                                 code_dirty=False, diff_sha256="")],
                owner=runs[2], name="environment", where=tmp_home)
    shown = cli("-m", "training.launch", "status", "mixed", home=tmp_home)
    lines = [ln for ln in shown.stdout.splitlines() if "code versions" in ln]
    assert len(lines) == 1, shown.stdout + shown.stderr
    assert "2 different code versions" in lines[0] and "0123456789ab (1 run)" in lines[0]
    assert provenance.code_version() in lines[0]


def query_shard(where, run_id: str) -> dict:
    (row,) = provenance.recorded_environments(where, [run_id])
    return row


def test_the_record_that_speaks_for_a_run_is_its_own_jobs():
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    trained = dict(run_id="r", role="trained", task_id="r", started_at=t0, torch_version="2.14.1")
    later = dict(run_id="r", role="analysed", task_id="r-e0003", started_at=t1, torch_version="2.13.0")
    assert environment.primary([later, trained])["r"]["task_id"] == "r"
    assert environment.primary([later])["r"]["task_id"] == "r-e0003"
    assert environment.differences([trained, later]) == ["torch 2.14.1 vs 2.13.0"]
    assert environment.differences([trained, None]) == ["environment not recorded for 1 of 2 runs"]
    dirty = dict(trained, code_version="abc", code_dirty=True, diff_sha256="f" * 64)
    clean = dict(trained, code_version="abc", code_dirty=False, diff_sha256="")
    assert environment.differences([dirty, clean]) == ["working tree dirty vs clean"]


@pytest.mark.slow  # `trained` runs a real local job
def test_an_analysis_and_a_tracked_run_record_theirs_too(trained, tmp_home):
    """Re-measuring the trained run's checkpoint adds an 'analysed' record under its task id (the run's own stays);
    a Tracker in a plain loop records 'tracked', ended when it closes."""
    import torch
    from torch import nn

    from lab import Tracker
    from lab.commands.analyse import analyse_checkpoint

    where, _, _ = trained
    (rid,) = query("SELECT run_id FROM run_configs WHERE seed <> 99", where=where)["run_id"].to_list()
    (checkpoint,) = sorted((where.checkpoint_dir(rid)).glob("epoch0001.pt"))
    analyse_checkpoint(checkpoint, device="cpu", home_root=where.root, overrides={"probe_epochs": 1})
    ingest(where)
    recs = {r["task_id"]: r for r in query("SELECT * FROM run_environments WHERE run_id = ?", [rid],
                                           where=where).to_dicts()}
    assert set(recs) == {rid, f"{rid}-e0001"} and recs[f"{rid}-e0001"]["role"] == "analysed"
    assert recs[f"{rid}-e0001"]["ended_at"] >= recs[f"{rid}-e0001"]["started_at"] >= recs[rid]["ended_at"]
    assert environment.primary(recs.values())[rid]["task_id"] == rid  # the job that trained it speaks for the run

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(60, 6), torch.arange(60) % 3
    with Tracker(model, (x, y), (x, y), home_root=str(tmp_home.root), settings={"probe_epochs": 1}) as tracker:
        tracker.measure(0)
        (running,) = provenance.recorded_environments(tmp_home, [tracker.run_id])
        assert running["role"] == "tracked" and running["ended_at"] is None
    (ended,) = provenance.recorded_environments(tmp_home, [tracker.run_id])
    assert ended["ended_at"] is not None and ended["started_at"] == running["started_at"]
    assert ended["torch_version"] == torch.__version__ and ended["threads"] == torch.get_num_threads()
