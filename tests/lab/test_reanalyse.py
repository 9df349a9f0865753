"""`python -m analysis reanalyse`: a tiny demo sweep's kept checkpoints measured again as one local job array with
one setting changed: rows replaced, never duplicated, the tasks finished, the runs' own status untouched; the
same settings again are skipped; analyse-model's weights files as a job array too."""

from __future__ import annotations

import pytest
import torch

from tests.lab.reanalysis import LOCAL, check_replaced, reanalysed
from tests.slurm.slurmhelp import cli


@pytest.mark.slow
def test_reanalysing_a_sweep_replaces_its_rows_and_skips_what_it_would_repeat(tmp_home, tiny_sweep, monkeypatch):
    from tests.app.apphelp import no_exceptions, run_page
    from warehouse.read import query

    sweep_id = tiny_sweep
    before = query("SELECT count(*) AS n FROM layer_metrics", where=tmp_home)["n"][0]
    assert query("SELECT count(*) AS n FROM analyses", where=tmp_home)["n"][0] == 4  # recorded by the training job
    same = reanalysed(tmp_home, sweep_id, "--set", "probe_epochs=2", *LOCAL)  # the settings it was measured with
    assert same.returncode == 0 and same.stdout.count("already analysed with these settings") == 4, same.stdout
    files = sorted(tmp_home.root.rglob("*"))
    dry = reanalysed(tmp_home, sweep_id, "--set", "max_samples=100", "--dry-run", *LOCAL)
    assert dry.returncode == 0 and dry.stdout.count("would analyse") == 4, dry.stdout + dry.stderr
    assert sorted(tmp_home.root.rglob("*")) == files  # a dry run writes nothing

    out = reanalysed(tmp_home, sweep_id, "--set", "max_samples=100", *LOCAL, "--wait")
    check_replaced(tmp_home, sweep_id, out)
    assert query("SELECT count(*) AS n FROM layer_metrics", where=tmp_home)["n"][0] == before  # replaced, not added
    again = reanalysed(tmp_home, sweep_id, "--set", "max_samples=100", *LOCAL)
    assert "nothing to analyse" in again.stdout and again.stdout.count("skip") == 4
    forced = reanalysed(tmp_home, sweep_id, "--set", "max_samples=100", "--force", "--dry-run", "--epoch", "2",
                        *LOCAL)
    assert forced.stdout.count("would analyse") == 2  # only the kept epoch asked for
    status = cli("-m", "training.launch", "status", home=tmp_home)
    assert status.returncode == 0 and "4 finished" in status.stdout and "-e0002" in status.stdout
    monkeypatch.setenv("THERMOSCOPE_HOME", str(tmp_home.root))
    at = run_page("pages/11_Jobs.py")  # the analysis sweep beside the training sweep, its tasks as its runs
    no_exceptions(at)
    live = [d.value for d in at.dataframe if "job" in d.value.columns]
    tasks = sorted(t for table in live for t in table["run_id"] if "-e" in t)
    assert len(live) == 2 and len(tasks) == 4 and all(t.endswith(("-e0000", "-e0002")) for t in tasks)
    # the probe protocol is a setting like any other: the kept checkpoints re-probed, no retraining
    paper = reanalysed(tmp_home, sweep_id, "--set", "analysis.probe_protocol=paper", "--epoch", "2", *LOCAL, "--wait")
    assert paper.returncode == 0, paper.stdout[-2000:] + paper.stderr[-2000:]
    protocols = query("SELECT epoch, probe_protocol, count(*) AS n FROM layer_metrics WHERE metric = 'probe_acc' "
                      "GROUP BY ALL ORDER BY ALL", where=tmp_home).rows()
    assert [(e, p) for e, p, _ in protocols] == [(0, "converged"), (2, "paper")]
    kr = query("SELECT DISTINCT epoch, probe_protocol FROM run_metrics WHERE metric IN ('kappa', 'rho') "
               "ORDER BY ALL", where=tmp_home).rows()
    assert kr == [(0, "converged"), (2, "paper")]


def test_targets_and_settings_that_make_no_sense_are_one_line(tmp_home):
    for args, words in ((["no-such-sweep"], "no checkpoint file, and no sweep or run"),
                        (["x", "--set", "max_sample=3"], "unknown analysis setting"),
                        (["x", "--ood", "nowhere"], "unknown ood dataset")):
        done = cli("-m", "analysis", "reanalyse", *args, *LOCAL, home=tmp_home)
        assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not tmp_home.root.exists() or not any(tmp_home.root.rglob("*.parquet"))


@pytest.mark.slow
def test_outside_weights_files_as_one_job_array(tmp_path, tmp_home):
    from torch import nn

    for i in range(2):
        torch.manual_seed(i)
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        torch.save(net.state_dict(), tmp_path / f"net{i}.pt")
    (tmp_path / "nets.py").write_text("from torch import nn\n\n\ndef net(num_classes):\n    return nn.Sequential("
                                      "nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, num_classes))\n")
    import os
    import subprocess
    import sys

    env = dict(os.environ, THERMOSCOPE_HOME=str(tmp_home.root), THERMOSCOPE_THREADS="1",
               PYTHONPATH=str(tmp_path))  # the job imports the factory too
    done = subprocess.run([sys.executable, "-m", "analysis", "analyse-model", "--model", "module:nets:net",
                           "--weights", str(tmp_path / "net0.pt"), "--weights", str(tmp_path / "net1.pt"),
                           "--dataset", "digits", "--set", "probe_epochs=2", "--set", "max_samples=200", *LOCAL,
                           "--wait"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 finished" in done.stdout
    from warehouse.read import query

    runs = query("SELECT source, status, arch FROM runs", where=tmp_home).to_dicts()
    assert runs == [{"source": "analysed", "status": "finished", "arch": "module:nets:net"}] * 2


def test_a_preempted_analysis_job_resubmits_the_tasks_not_done_and_gives_up_at_max_requeues(tmp_home):
    import subprocess
    import sys

    from lab.jobs.analyse_job import AnalyseJob
    from lab.records.events import run_events
    from tests.conftest import ROOT

    items = [{"id": f"r{i}-e0000", "task": {"kind": "checkpoint"}} for i in range(3)]
    job = AnalyseJob(max_requeues=3, requeues=1)
    job._done = ["r0-e0000"]
    again = job.checkpoint(items, "sweep-a", str(tmp_home.root))
    assert type(again.function) is AnalyseJob and again.function.requeues == 2
    assert [i["id"] for i in again.args[0]] == ["r1-e0000", "r2-e0000"]
    assert [e["status"] for e in run_events("r2-e0000", tmp_home)] == ["queued"]
    # at max_requeues the tasks are marked failed and the process ends (os._exit): in a child, not this test
    code = ("import sys; from lab.jobs.analyse_job import AnalyseJob; job = AnalyseJob(max_requeues=3, requeues=3); "
            "job.checkpoint([{'id': 'r2-e0000', 'task': {}}], 'sweep-a', sys.argv[1]); print('returned')")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_home.root)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "returned" not in done.stdout, done.stdout + done.stderr
    assert run_events("r2-e0000", tmp_home)[-1]["status"] == "failed"
