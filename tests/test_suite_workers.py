"""`make test`'s two workers, checked with a real inner pytest run under pytest-xdist: every test of a file on one
worker (its module fixtures built once) and every Slurm test on one worker (one shared cluster); a Slurm test
outside tests/slurm/ fails before it runs (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict

from tests.conftest import ROOT

RECORD = '''import os

import pytest
{mark}

@pytest.mark.parametrize("i", range(4))
def test_records_its_worker(i):
    with open(os.environ["WORKERS_OUT"], "a") as out:
        out.write(f"{{__name__}} {{os.environ['PYTEST_XDIST_WORKER']}}\\n")
'''
INI = "[pytest]\nmarkers =\n    slurm: x\n    browser: x\n    slow: x\n"


def _project(tmp_path, files: dict[str, str]):
    tests = tmp_path / "tests"
    (tests / "slurm").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "conftest.py", tests / "conftest.py")  # the hooks under test, as they are
    (tmp_path / "pytest.ini").write_text(INI)
    for name, mark in files.items():
        (tests / name).write_text(RECORD.format(mark=mark))


def _pytest(tmp_path, out) -> subprocess.CompletedProcess:
    env = dict(os.environ, WORKERS_OUT=str(out), PYTHONPATH=str(tmp_path))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "--dist",
                           "loadfile", "--no-loadscope-reorder"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_file_stays_on_one_worker_and_the_slurm_tests_share_one(tmp_path):
    slurm = "pytestmark = pytest.mark.slurm"
    _project(tmp_path, {"slurm/test_sa.py": slurm, "slurm/test_sb.py": slurm, "test_a.py": "", "test_b.py": "",
                        "test_c.py": "", "test_d.py": ""})
    out = tmp_path / "workers.txt"
    done = _pytest(tmp_path, out)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workers = defaultdict(set)
    for line in out.read_text().splitlines():
        module, worker = line.split()
        workers[module].add(worker)
    assert len(workers) == 6 and all(len(w) == 1 for w in workers.values()), dict(workers)
    # plain loadfile hands the first two files to the two workers: the two Slurm files would be split
    assert workers["test_sa"] == workers["test_sb"], dict(workers)
    assert set().union(*workers.values()) == {"gw0", "gw1"}  # and both workers had work


def test_a_slurm_test_outside_tests_slurm_fails_in_one_line_before_it_runs(tmp_path):
    _project(tmp_path, {"test_misplaced.py": "pytestmark = pytest.mark.slurm", "test_fine.py": ""})
    out = tmp_path / "workers.txt"
    done = _pytest(tmp_path, out)
    assert done.returncode == 1 and "4 passed, 4 errors" in done.stdout, done.stdout[-2000:]
    assert done.stdout.count("needs Slurm: move it under tests/slurm/") >= 4
    assert "test_misplaced" not in out.read_text()  # failed before running; the other file ran
