"""Jobs queued before lab/ moved into rooms (0.2) still unpickle on requeue after an upgrade.

Submitit keeps a queued job as a pickled DelayedSubmission whose callable is referenced by module path; 0.2
wrote `lab.job.RunJob` and `lab.analyse_job.AnalyseJob`. Here such a file is made the way 0.2 made it (the
class referenced under its old path) and loaded by a fresh interpreter, as a requeued job's node would.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from submitit.core.utils import DelayedSubmission

from lab.jobs.analyse_job import AnalyseJob
from lab.jobs.run_job import RunJob

LOAD = """
import sys
from submitit.core.utils import DelayedSubmission
d = DelayedSubmission.load(sys.argv[1])
job = d.function
print(type(job).__module__, type(job).__name__, job.max_requeues, job.requeues, d.args[1])
"""


@pytest.mark.parametrize("cls, old_module, job", [
    (RunJob, "lab.job", RunJob(max_requeues=5, requeues=2, pack=True, threads=1)),
    (AnalyseJob, "lab.analyse_job", AnalyseJob(max_requeues=5, requeues=2, threads=1)),
])
def test_a_job_pickled_under_its_old_module_path_loads(tmp_path, cls, old_module, job):
    path = tmp_path / "submitted.pkl"
    importlib.import_module(old_module)  # 0.2 had it loaded: cloudpickle references only classes it can look up
    new_module = cls.__module__
    cls.__module__ = old_module  # how 0.2 referenced it; pickle checks that the old path still finds the class
    try:
        DelayedSubmission(job, [], "sweep-old", str(tmp_path)).dump(path)
    finally:
        cls.__module__ = new_module
    assert old_module.encode() in path.read_bytes()
    out = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [new_module, cls.__name__, "5", "2", "sweep-old"]
