"""A packed RunJob after a kill: runs left at different epochs resume (in separate packs, one per epoch; a
pack of one is a solo run) and end with the weights of uninterrupted solo runs; a preemption resubmits the
remaining runs as a packed RunJob."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from tests.packing.helpers import tiny_configs, train_solo


class Killed(Exception):
    pass


def _kill_after_epoch(cfg, folder, epoch: int) -> None:
    """Train `cfg` solo and stop it as a kill would, leaving last.pt at `epoch`."""
    from training.data import load_dataset
    from training.loop import train
    from training.models import ModelSpec, build_model

    def stop(row):
        if row["epoch"] == epoch + 1:  # rows come before that epoch's checkpoint is written
            raise Killed

    data = load_dataset(cfg.dataset, cfg.data_dir)
    with pytest.raises(Killed):
        train(cfg, build_model(cfg, ModelSpec(data.num_classes, data.input_shape)), data, checkpoint_dir=folder,
              on_epoch=stop)


@pytest.mark.slow
def test_runs_at_different_epochs_resume_and_finish_as_uninterrupted_runs(tmp_home, tmp_path, monkeypatch):
    from lab.jobs.run_job import RunJob
    from lab.records.events import run_events
    from training import checkpoint as ckpt

    torch.set_num_threads(1)
    monkeypatch.setenv("THERMOSCOPE_PACK_ENGINE", "grouped")
    cfgs = tiny_configs()
    _kill_after_epoch(cfgs[0], tmp_home.checkpoint_dir(cfgs[0].run_id), 1)
    _kill_after_epoch(cfgs[1], tmp_home.checkpoint_dir(cfgs[1].run_id), 1)
    status = RunJob(pack=True)([c.to_dict() for c in cfgs], "sweep-r", str(tmp_home.root))
    assert set(status.values()) == {"finished"}
    # runs 0 and 1 resume together as a stacked pack of two at epoch 1; run 2 starts afresh: a pack of one
    for cfg, resumed, mates in zip(cfgs, (1, 1, None), (1, 1, None)):
        first = run_events(cfg.run_id, tmp_home)[0]
        assert first["status"] == "running" and first["epoch"] == resumed
        assert ("resumed from its checkpoint" in first["message"]) == bool(resumed)
        assert (f"packed with {mates} other run(s)" in first["message"]) == bool(mates), first["message"]
        final = ckpt.load(tmp_home.checkpoint_dir(cfg.run_id) / "last.pt")
        straight, _ = train_solo(cfg, tmp_path / "straight" / cfg.run_id)
        for name, b in straight.state_dict().items():
            torch.testing.assert_close(final["model"][name], b, rtol=1e-4, atol=1e-5, msg=name)


def test_a_preempted_pack_is_resubmitted_as_a_pack_of_the_runs_not_done(tmp_home):
    from lab.jobs.run_job import RunJob
    from lab.records.events import run_events

    cfgs = tiny_configs()
    job = RunJob(max_requeues=3, requeues=1, pack=True)
    job._job_id, job._current, job._done = "job7", [cfgs[1]], [cfgs[0].run_id]
    again = job.checkpoint([c.to_dict() for c in cfgs], "sweep-p", str(tmp_home.root))
    assert type(again.function) is RunJob and again.function.requeues == 2 and again.function.pack
    assert [v["seed"] for v in again.args[0]] == [1, 2]  # run 0 was done
    assert [e["status"] for e in run_events(cfgs[2].run_id, tmp_home)] == ["queued"]
    # at max_requeues RunJob's bookkeeping marks the runs failed and ends the process (os._exit(1)):
    # in a child process, so that it is not this test's
    code = ("import sys; from tests.packing.helpers import tiny_configs; from lab.jobs.run_job import RunJob; "
            "cfgs = tiny_configs(); job = RunJob(max_requeues=3, requeues=3, pack=True); "
            "job._job_id, job._current, job._done = 'job7', [cfgs[1]], [cfgs[0].run_id]; "
            "job.checkpoint([c.to_dict() for c in cfgs], 'sweep-p', sys.argv[1]); print('returned')")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_home.root)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "returned" not in done.stdout, done.stdout + done.stderr
    assert run_events(cfgs[2].run_id, tmp_home)[-1]["status"] == "failed"
