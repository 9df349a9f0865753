"""bench/run_all.py with real child processes: tables streamed, ratios summarised, a failure, a missing
module, a hang and the suite budget each reported as such."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

FAKES = {
    "bench_packing.py": """
        import sys
        print("table: packed 2.0 s, sequential 4.0 s")
        print("ratios:")
        print("  packed vs sequential   2.00 x", "quick" if "--quick" in sys.argv else "full")
    """,
    "bench_zeta.py": "print('one line, no ratio heading')",
    "bench_broken.py": "raise SystemExit(3)",
    "bench_nodeps.py": "import not_a_module_here_xyz",
    "bench_hang.py": "import time\nprint('started', flush=True)\ntime.sleep(60)",
}


def _run(tmp_path, *args):
    for name, code in FAKES.items():
        (tmp_path / name).write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=120)


def test_every_benchmark_runs_and_the_summary_says_how_each_ended(tmp_path):
    out = tmp_path / "out"
    done = _run(tmp_path, "--quick", "--timeout", "3", "--out", str(out))
    assert done.returncode == 1  # one failed, one timed out
    text = done.stdout
    assert "table: packed 2.0 s" in text  # each benchmark's own table is shown
    summary = text[text.index("===== summary"):]
    lines = {ln.split()[0]: ln for ln in summary.splitlines()[1:] if ln and not ln.startswith(" ")}
    assert list(lines) == ["bench_packing", "bench_broken", "bench_hang", "bench_nodeps", "bench_zeta"]
    assert " ok " in lines["bench_packing"] and "packed vs sequential   2.00 x quick" in summary
    assert "failed (exit 3)" in lines["bench_broken"]
    assert "timed out after 3 s" in lines["bench_hang"]
    assert "skipped: module 'not_a_module_here_xyz' not installed" in lines["bench_nodeps"]
    assert "    one line, no ratio heading" in summary  # no heading: its last line stands for it
    assert (out / "summary.txt").read_text().startswith("===== summary")
    assert "started" in (out / "bench_hang.txt").read_text()


@pytest.mark.slow
def test_only_and_the_suite_budget(tmp_path):
    done = _run(tmp_path, "--only", "packing", "zeta")
    assert done.returncode == 0 and "full" in done.stdout and "bench_broken" not in done.stdout
    done = _run(tmp_path, "--only", "packing", "zeta", "--quick-for", "packing")
    assert "2.00 x quick" in done.stdout and "zeta.py --quick" not in done.stdout
    # the hang takes what is left of 12 s; zeta (after it: alphabetical) has no time left to start
    done = _run(tmp_path, "--only", "hang", "zeta", "--budget", "12", "--timeout", "30")
    assert re.search(r"bench_hang +timed out after 1[12] s", done.stdout), done.stdout
    assert re.search(r"bench_zeta +not run: out of the suite's time budget", done.stdout), done.stdout
    bad = _run(tmp_path, "--only", "nope")
    assert bad.returncode != 0 and "no benchmark bench_nope" in bad.stderr
