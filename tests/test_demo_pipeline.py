"""The whole demo pipeline for real, at tiny sizes: launch (local executor) → train → analyse →
shards → ingest → SQL. Nothing is mocked: real subprocesses, real training, a real DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TINY = ["--set", "preset=demo", "--set", "epochs=3", "--set", "width=32", "--set", "depth=3",
        "--set", "analysis.probe_epochs=3", "--set", "analysis.probe_protocol=both", "--set", "temperature=1,100",
        "--set", "seed=0"]


def cli(*args: str, home) -> subprocess.CompletedProcess:
    env = dict(os.environ, THERMOSCOPE_HOME=str(home.root), THERMOSCOPE_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    from warehouse import home

    where = home(tmp_path_factory.mktemp("demo") / "home")
    done = cli("-m", "training.launch", *TINY, "--executor", "local", "--wait", home=where)
    assert done.returncode == 0, done.stdout + done.stderr
    ingest = cli("-m", "warehouse", "ingest", home=where)
    assert ingest.returncode == 0, ingest.stderr
    return where


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_every_run_finished_and_is_in_the_warehouse(demo_home):
    from warehouse.read import query

    runs = query("SELECT run_id, temperature, status, arch, dataset, ood FROM runs ORDER BY temperature", where=demo_home)
    assert runs["status"].to_list() == ["finished", "finished"]
    assert runs["temperature"].to_list() == [1.0, 100.0]
    assert runs["ood"].to_list() == [["shapes"], ["shapes"]]


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_the_analysis_settings_of_the_sweep_are_stored_with_each_run_and_used(demo_home):
    import json

    from warehouse.read import query

    stored = query("SELECT analysis_json FROM runs", where=demo_home)["analysis_json"].to_list()
    assert [json.loads(s)["probe_epochs"] for s in stored] == [3, 3]  # --set analysis.probe_epochs=3
    details = query("SELECT DISTINCT detail FROM layer_metrics WHERE metric = 'probe_acc' AND probe_protocol = "
                    "'paper'", where=demo_home)
    assert {json.loads(d)["epochs"] for d in details["detail"].to_list()} == {3}  # and the probes used it
    records = query("SELECT probe_protocol, min(probe_iterations) AS it, bool_and(probe_converged) AS ok FROM "
                    "layer_metrics WHERE metric = 'probe_acc' GROUP BY ALL ORDER BY ALL", where=demo_home).rows()
    # converged probes on real features of a real run reach their tolerance; 3 paper epochs (3 Adam steps) do not
    assert records == [("converged", records[0][1], True), ("paper", 3, False)] and records[0][1] > 3


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_epoch_log_has_one_row_per_epoch_and_the_init(demo_home):
    from warehouse.read import query

    log = query("SELECT run_id, list(epoch ORDER BY epoch) AS epochs, min(logits_norm) AS lo FROM epochs GROUP BY run_id",
                where=demo_home)
    assert all(e == [0, 1, 2, 3] for e in log["epochs"].to_list())
    assert all(v > 0 for v in log["lo"].to_list())


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_rank_rows_cover_every_layer_and_respect_the_matrix_shape(demo_home):
    from warehouse.read import query

    ranks = query(
        "SELECT run_id, epoch, layer_index, layer_name, kind, value, n_samples, n_features FROM layer_metrics "
        "WHERE metric = 'rank' AND dataset = 'digits' AND epoch = 3",
        where=demo_home,
    )
    for run_id in ranks["run_id"].unique().to_list():
        mine = ranks.filter(ranks["run_id"] == run_id)
        kinds = set(mine["kind"].to_list())
        assert {"hidden", "logits", "softmax"} <= kinds
        assert mine.filter(mine["kind"] == "hidden").height == 3  # depth=3 hidden layers
    # a rank is an integer between 0 and min(samples, features)
    for value, n, f in zip(ranks["value"], ranks["n_samples"], ranks["n_features"]):
        assert value == int(value) and 0 <= value <= min(n, f)


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_probes_kappa_rho_and_solution_rank_are_stored(demo_home):
    from warehouse.read import query

    probes = query("SELECT DISTINCT dataset FROM layer_metrics WHERE metric = 'probe_acc'", where=demo_home)
    assert set(probes["dataset"].to_list()) == {"digits", "shapes"}
    summary = query("SELECT run_id, metric, dataset, value FROM run_metrics WHERE epoch = 3", where=demo_home)
    per_run = summary.group_by("run_id").agg(summary["metric"].unique().alias("metrics"))
    for metrics in per_run["metrics"].to_list():
        assert {"kappa", "rho", "solution_rank"} <= set(metrics)
    kappa = summary.filter(summary["metric"] == "kappa")["value"].to_list()
    assert all(0 < k <= 100 for k in kappa)
    sr = summary.filter(summary["metric"] == "solution_rank")["value"].to_list()
    assert all(1 <= s <= 10 for s in sr)


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_relaunching_skips_finished_runs_unless_forced(demo_home):
    again = cli("-m", "training.launch", *TINY, "--executor", "local", "--dry-run", home=demo_home)
    assert again.returncode == 0, again.stderr
    assert "0 run(s) to submit, 2 skipped" in again.stdout
    forced = cli("-m", "training.launch", *TINY, "--executor", "local", "--dry-run", "--force", home=demo_home)
    assert "2 run(s) to submit" in forced.stdout


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_ingest_twice_changes_nothing(demo_home):
    from warehouse.read import query

    before = query("SELECT count(*) AS n FROM layer_metrics", where=demo_home)["n"][0]
    again = cli("-m", "warehouse", "ingest", home=demo_home)
    assert again.returncode == 0
    assert "0 new and 0 re-written" in again.stdout
    assert query("SELECT count(*) AS n FROM layer_metrics", where=demo_home)["n"][0] == before


@pytest.mark.slow
def test_bad_input_gets_one_line_errors(tmp_home):
    for args, fragment in [
        (["--set", "arch=resnet99"], "unknown arch 'resnet99'; choose one of"),
        (["--set", "dataset=folder:/no/such/place"], "does not exist"),
        (["--set", "temperature=-3"], "temperature must be a positive finite number"),
    ]:
        done = cli("-m", "training.launch", *args, "--executor", "local", home=tmp_home)
        assert done.returncode == 2
        assert fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not tmp_home.shards.exists()  # nothing was written for a rejected sweep


def test_launch_against_an_outdated_warehouse_says_what_to_run(tmp_home):
    import duckdb

    tmp_home.root.mkdir(parents=True)
    con = duckdb.connect(str(tmp_home.database))  # a first-prototype file: no _meta, no version
    con.execute("CREATE TABLE run_configs (run_id VARCHAR)")
    con.close()
    done = cli("-m", "training.launch", *TINY, "--executor", "local", "--dry-run", home=tmp_home)
    assert done.returncode == 2
    assert "python -m warehouse migrate" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_force_retrains_a_finished_run_from_scratch_keeping_the_old_checkpoints(tmp_home):
    from lab.records.events import latest_events

    one = ["--set", "preset=demo", "--set", "epochs=1", "--set", "width=8", "--set", "depth=2",
           "--set", "analysis.probe_epochs=1", "--set", "temperature=1"]
    first = cli("-m", "training.launch", *one, "--executor", "local", "--wait", home=tmp_home)
    assert first.returncode == 0, first.stderr
    again = cli("-m", "training.launch", *one, "--executor", "local", "--wait", "--force", home=tmp_home)
    assert again.returncode == 0, again.stderr
    (run_id,) = [p.name for p in tmp_home.checkpoints.iterdir() if "." not in p.name]
    aside = [p for p in tmp_home.checkpoints.iterdir() if p.name.startswith(f"{run_id}.superseded-")]
    assert len(aside) == 1 and (aside[0] / "last.pt").exists()  # the first training, kept
    assert (tmp_home.checkpoint_dir(run_id) / "last.pt").exists()  # the second one
    events = sorted((tmp_home.shards / "run_events" / run_id).glob("event-*running*.parquet"))
    import pyarrow.parquet as pq

    messages = [pq.read_table(p).column("message")[0].as_py() for p in events]
    assert len(messages) == 2 and not any("resumed" in (m or "") for m in messages)  # trained, not resumed
    assert latest_events([run_id], tmp_home)[run_id]["status"] == "finished"


@pytest.mark.slow  # demo_home trains a real 2-run sweep
def test_the_report_of_real_runs_gives_commands_that_plan_exactly_those_runs(demo_home, tmp_path):
    """The report's launch command, run as written (--dry-run, into an empty home), plans the very run ids the
    warehouse holds: a run id is a hash of the whole config, so this checks every field the command carries."""
    import html
    import re
    import shlex

    from warehouse import home
    from warehouse.read import query

    out = tmp_path / "report.html"
    done = cli("-m", "app.report", "--out", str(out), home=demo_home)  # no sweep named: the latest
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert "not what the commands plan" not in text
    assert re.search(r"<figure class=\"chart\" data-chart=\"f1-rank\"><svg", text)
    launches = [html.unescape(line) for line in re.findall(r"(?:^|<code>)(python -m training\.launch [^<\n]*)", text, flags=re.M)]
    assert len(launches) == 1 and "--set analysis.probe_epochs=3" in launches[0], launches
    fresh = home(tmp_path / "fresh")
    planned = cli(*shlex.split(launches[0])[1:], "--dry-run", "--executor", "local", home=fresh)
    assert planned.returncode == 0, planned.stderr
    would = sorted(re.findall(r"^would run\s+([0-9a-f]{16})", planned.stdout, flags=re.M))
    stored = sorted(query("SELECT run_id FROM runs", where=demo_home)["run_id"].to_list())
    assert would == stored and len(stored) == 2
