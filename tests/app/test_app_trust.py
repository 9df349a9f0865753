"""The launch form holds against whoever reaches it (issue 22, items 3, 5, 6): no path oracle, no path outside the
allowed data roots, no pickle that runs code, and a huge grid refused at once. AppTest runs the real page."""

from __future__ import annotations

import time

import torch

from tests.app.apphelp import fill_form, press, run_page
from tests.lab.test_trust import planted


def _errors(at) -> list[str]:
    return [e.value for e in at.sidebar.error]


def test_one_message_for_every_path_the_form_cannot_use(tmp_home, tmp_path, monkeypatch):
    allowed, private = tmp_path / "allowed", tmp_path / "private"
    for folder in (allowed / "set", private / "set"):
        for split in ("train/a", "train/b", "test/a", "test/b"):
            (folder / split).mkdir(parents=True)
    private.chmod(0o700)
    torch.save({"weight": torch.zeros(3)}, private / "w.pt")
    (allowed / "link").symlink_to(private / "set")  # a link inside a root that leads out of it
    (allowed / "link.pt").symlink_to(private / "w.pt")
    monkeypatch.setenv("THERMOSCOPE_DATA_ROOTS", str(allowed))
    at = run_page("pages/11_Jobs.py")
    for field, paths in {
        "dataset": (f"folder:{private / 'set'}", f"folder:{tmp_path / 'missing'}", f"folder:{allowed / 'link'}",
                    f"folder:{allowed / 'missing'}", f"folder:{allowed / 'set' / 'train' / 'a' / 'nothing'}"),
        "pretrained": (str(private / "w.pt"), str(tmp_path / "missing.pt"), str(allowed / "link.pt"),
                       str(allowed / "set")),
        "data_root": (str(private), str(allowed / "link"), "/etc"),
    }.items():
        said = set()
        for path in paths:
            press(fill_form(at, **{"lf-extra": f"epochs=1\n{field}={path}"}), "Check")
            said.add(tuple(_errors(at)))
        assert len(said) == 1, said  # identical whatever the reason: missing, private, a link out, not a file
        (message,) = said.pop()
        assert "cannot use that path" in message and "private" not in message and "missing" not in message
    # a usable path under the root passes the check (the CLI's own validation then applies)
    press(fill_form(at, **{"lf-extra": f"epochs=1\ndataset=folder:{allowed / 'set'}\nood="}), "Check")
    assert not _errors(at), _errors(at)


def test_a_pretrained_that_would_run_code_is_refused_by_check_and_launch(tmp_home, tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("THERMOSCOPE_DATA_ROOTS", str(allowed))
    marker = tmp_path / "MARKER"
    evil = planted(allowed / "evil.pt", marker)
    at = fill_form(run_page("pages/11_Jobs.py"), **{"lf-extra": f"epochs=1\nwidth=8\ndepth=1\npretrained={evil}",
                                                "lf-temps": "1", "lf-seeds": "0"})
    for label in ("Check", "Launch"):
        press(at, label)
        (error,) = _errors(at)
        assert "holds pickled Python objects" in error and "state_dict()" in error, error
    assert not marker.exists()
    assert not tmp_home.jobs.exists() and not tmp_home.shards.exists()


def test_a_million_run_grid_is_refused_by_check_in_under_a_second(tmp_home):
    from app.sidebar import FormError, FormValues, check

    values = dict(temperatures=",".join(str(1 + i) for i in range(100)), seeds=",".join(map(str, range(100))),
                  extra="lr=" + ",".join(f"{0.001 * (i + 1):g}" for i in range(100)))
    start = time.perf_counter()
    try:
        check(FormValues(**values), tmp_home)
        raise AssertionError("a 10^6-run grid was not refused")
    except FormError as exc:
        message = str(exc)
    took = time.perf_counter() - start
    assert "1,000,000 runs, more than the 1,000" in message and took < 1.0, (message, took)
    at = fill_form(run_page("pages/11_Jobs.py"), **{"lf-temps": values["temperatures"], "lf-seeds": values["seeds"],
                                                "lf-extra": values["extra"]})
    for label in ("Check", "Launch"):
        start = time.perf_counter()
        press(at, label)
        assert any("1,000,000 runs" in e for e in _errors(at)), _errors(at)
        assert time.perf_counter() - start < 5.0  # the whole page run, refusal included
    assert not tmp_home.jobs.exists()


def test_the_jobs_page_names_no_path_outside_the_home(tmp_home):
    from app.jobs import OUTSIDE, shown

    text = (f"pretrained '/root/.ssh/id_rsa' is not a checkpoint; log at {tmp_home.root}/jobs/s/1_0_log.err\n"
            f'  File "{torch.__file__}", line 3')
    out = shown(text, tmp_home)
    assert "id_rsa" not in out and "/root/.ssh" not in out and OUTSIDE in out
    assert "$THERMOSCOPE_HOME/jobs/s/1_0_log.err" in out and torch.__file__ in out  # code paths are not private
