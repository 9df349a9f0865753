"""`make bench`: run every bench/bench_*.py that exists, print each one's table, then every ratio.

    .venv/bin/python bench/run_all.py [--quick] [--quick-for NAME ...] [--only NAME ...]
                                                   [--out DIR] [--timeout S] [--budget S]

Each benchmark runs in its own process (a crash or a hang in one costs only that one), with this
this interpreter (which imports the installed Thermoscope) and `--quick` passed through when asked. Its output is streamed as it comes
and, with --out, kept in DIR/<name>.txt. At the end a summary lists each benchmark's status, time and
its ratio lines (the lines from its last "ratio..." heading on; its last line if it has none).
A benchmark whose imports are missing on this machine (e.g. duckdb on a bare GPU node) is reported as
skipped with the missing module, not as a failure. Exit status: 1 if any benchmark failed or timed out.

Order: the GPU-relevant ones first (packing, training), then analysis, warehouse, app, then any
other bench_*.py alphabetically, so that a --budget cut (gpu.sh's 8 minutes) drops the CPU-bound ones.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST = ["bench_packing", "bench_training", "bench_analysis", "bench_warehouse", "bench_app"]


def discover(only: list[str], folder: Path = ROOT / "bench") -> list[Path]:
    found = {p.stem: p for p in sorted(folder.glob("bench_*.py"))}
    names = [n for n in FIRST if n in found] + [n for n in found if n not in FIRST]
    if only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in only}
        unknown = wanted - set(found)
        if unknown:
            raise SystemExit(f"run_all: no benchmark {', '.join(sorted(unknown))}; have {', '.join(names)}")
        names = [n for n in names if n in wanted]
    return [found[n] for n in names]


def ratio_lines(lines: list[str]) -> list[str]:
    heads = [i for i, ln in enumerate(lines) if re.match(r"\s*ratios?\b", ln, re.IGNORECASE)]
    if heads:
        return lines[heads[-1]:]
    return lines[-1:] if lines else []


def missing_module(text: str) -> str | None:
    m = re.search(r"ModuleNotFoundError: No module named '([^']+)'", text)
    return m.group(1) if m else None


def stop(proc: subprocess.Popen) -> None:
    """End our own child's process group: SIGINT first (its `finally` blocks remove temporary folders),
    SIGKILL if it is still there after 10 s."""
    for sig, grace in ((signal.SIGINT, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)  # the group we started it in (start_new_session): its id is its pid
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(path: Path, quick: bool, timeout: float, out: Path | None) -> dict:
    cmd = [sys.executable, "-u", str(path)] + (["--quick"] if quick else [])
    env = dict(os.environ)
    print(f"\n===== {path.stem}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    lines: list[str] = []
    # its own session: on a time-out the benchmark's own helpers (readers, servers) go with it
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, start_new_session=True)
    def pump() -> None:  # streamed: a long benchmark shows its progress; a silent hang still times out
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    status = "ok"
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        status = f"timed out after {timeout:.0f} s"
    reader.join(timeout=10)
    seconds = time.perf_counter() - t0
    if status == "ok" and proc.returncode != 0:
        missing = missing_module("\n".join(lines))
        status = f"skipped: module {missing!r} not installed" if missing else f"failed (exit {proc.returncode})"
    if out is not None:
        (out / f"{path.stem}.txt").write_text("\n".join(lines) + "\n")
    return {"name": path.stem, "status": status, "seconds": seconds, "ratios": ratio_lines(lines) if status == "ok"
            else [ln for ln in lines[-3:]]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run every bench/bench_*.py; print tables, then ratios.")
    p.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    p.add_argument("--quick-for", nargs="+", default=[], metavar="NAME",
                   help="pass --quick to these only (gpu.sh: the CPU-bound ones, to leave the time to the GPU's)")
    p.add_argument("--only", nargs="+", default=[], metavar="NAME", help="only these (e.g. packing warehouse)")
    p.add_argument("--out", help="also keep each benchmark's output in this folder, and summary.txt")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one benchmark may take (default 1800)")
    p.add_argument("--dir", default=str(ROOT / "bench"), help=argparse.SUPPRESS)  # tests: a folder of fakes
    p.add_argument("--budget", type=float, default=0, help="seconds for the whole suite; benchmarks that would "
                   "start after it are not run (default: no limit)")
    args = p.parse_args(argv)
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = []
    for path in discover(args.only, Path(args.dir)):
        left = args.budget - (time.perf_counter() - started) if args.budget else args.timeout
        if args.budget and left < 10:
            results.append({"name": path.stem, "status": "not run: out of the suite's time budget", "seconds": 0.0,
                            "ratios": []})
            continue
        quick = args.quick or path.stem in {n if n.startswith("bench_") else f"bench_{n}" for n in args.quick_for}
        results.append(run_one(path, quick, min(args.timeout, left), out))
    summary = ["", "===== summary" + (" (--quick)" if args.quick else "")]
    for r in results:
        summary.append(f"{r['name']:<18} {r['status']:<44} {r['seconds']:7.1f} s")
        summary += [f"    {ln}" for ln in r["ratios"]]
    text = "\n".join(summary)
    print(text, flush=True)
    if out is not None:
        (out / "summary.txt").write_text(text.lstrip("\n") + "\n")
    bad = [r for r in results if r["status"].startswith(("failed", "timed out"))]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
