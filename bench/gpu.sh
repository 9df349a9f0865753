#!/usr/bin/env bash
# One call on a GPU machine: find (or make) a Python with torch, run the whole bench suite, keep
# everything under $OUT. Written for a copied checkout in a fresh machine that may have no network:
#
#     OUT=./bench-out bash bench/gpu.sh                 # the suite (warehouse, app at --quick) in 8 minutes
#     GPU_BENCH_QUICK=1 OUT=/tmp/x bash bench/gpu.sh    # --quick sizes (also how this script is tested on CPU)
#     GPU_BENCH_ONLY="packing training" ...             # a subset (names as run_all.py --only takes them)
#
# Results: $OUT/summary.txt (every benchmark's status and ratios), $OUT/bench_<name>.txt (each one's
# full output), $OUT/bench_packing.json, $OUT/env.txt (python, packages, GPU), $OUT/nvidia-smi.txt,
# $OUT/gpu.log (this script's whole output). Exit status: run_all's (1 if a benchmark failed).
#
# Python, first that imports torch: $PYTHON, ./.venv/bin/python, python3.11, python3, python. torch is
# never installed over a working one (a CPU wheel would replace the GPU build). Missing non-torch
# packages from pyproject.toml are tried once with pip in a venv that sees the system's packages
# (short timeouts: offline it fails fast); benchmarks that still miss a module are reported as skipped.
set -u
START=$(date +%s)
TOTAL_S=${GPU_BENCH_TOTAL_S:-470}          # the whole call, setup included: under 8 minutes
OUT=${OUT:-./bench-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.."                     # the repository root, wherever we were called from
exec > >(tee -a "$OUT/gpu.log") 2>&1
echo "gpu.sh: $(date -u '+%Y-%m-%d %H:%M:%S') UTC on $(hostname), repo $(pwd), results in $OUT"

has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
PY=""
for cand in "${PYTHON:-}" ./.venv/bin/python python3.11 python3 python; do
    [ -n "$cand" ] || continue
    command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ] || continue
    if has_torch "$cand"; then PY=$(command -v "$cand" || echo "$cand"); break; fi
done
if [ -z "$PY" ]; then
    # last resort: a venv with the pinned torch (needs a package index or a local wheel cache)
    BASE=$(command -v python3.11 || command -v python3 || true)
    if [ -n "$BASE" ] && "$BASE" -m venv .bench-venv >/dev/null 2>&1 &&
        timeout 300 .bench-venv/bin/python -m pip install --quiet --retries 0 --timeout 10 \
            -c constraints.txt torch torchvision; then
        PY=.bench-venv/bin/python
    else
        echo "gpu.sh: no Python with torch here and none could be installed; set PYTHON=/path/to/python" \
            | tee "$OUT/ERROR.txt"
        exit 2
    fi
fi
echo "gpu.sh: python $PY"

# Non-torch packages the benchmarks import (pyproject.toml's dependencies, by import name).
missing=$("$PY" - <<'EOF'
import importlib.util
wanted = {"numpy": "numpy", "sklearn": "scikit-learn", "duckdb": "duckdb>=2.0,<3", "polars": "polars>=1.0",
          "pyarrow": "pyarrow>=15", "submitit": "submitit>=1.5", "tqdm": "tqdm", "psutil": "psutil",
          "timm": "timm>=1.0,<2", "torchvision": "torchvision", "streamlit": "streamlit>=1.50",
          "altair": "altair>=5.4"}
print(" ".join(spec for mod, spec in wanted.items() if importlib.util.find_spec(mod) is None))
EOF
)
missing=${missing//torchvision/}          # never pull a second torch in through torchvision
missing=$(echo $missing)                  # (trim)
if [ -n "$missing" ]; then
    echo "gpu.sh: missing: $missing; trying pip once (fails fast offline)"
    if [ ! -x .bench-venv/bin/python ] && "$PY" -m venv --system-site-packages .bench-venv >/dev/null 2>&1; then
        :
    fi
    if [ -x .bench-venv/bin/python ] && has_torch .bench-venv/bin/python; then
        # the venv sees the system's torch, so pip's resolver keeps it
        timeout 120 .bench-venv/bin/python -m pip install --quiet --retries 0 --timeout 10 $missing \
            && PY=.bench-venv/bin/python
    else
        timeout 120 "$PY" -m pip install --quiet --user --retries 0 --timeout 10 $missing || true
    fi
fi

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S') UTC"
    echo "host: $(hostname)  cpus: $(nproc 2>/dev/null)"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | wc -l) changed file(s)"
    "$PY" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for mod in ("torch", "torchvision", "numpy", "duckdb", "polars", "pyarrow", "streamlit", "timm"):
    try:
        print(mod, importlib.import_module(mod).__version__)
    except Exception as exc:  # noqa: BLE001 (a report, not a check)
        print(mod, "missing:", type(exc).__name__)
import torch
print("cuda", torch.cuda.is_available(), torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

# Scratch homes for anything a benchmark writes: never the checkout's thermoscope-home.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/thermoscope-bench.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export THERMOSCOPE_HOME="$SCRATCH/home" BENCH_OUT="$OUT"
export THERMOSCOPE_DATA=${THERMOSCOPE_DATA:-$SCRATCH/data}
# Thermoscope itself, from this checkout, unless the Python already has it (./.venv's editable install):
# a no-deps install into a scratch target (nothing of the machine's Python changes)
if ! "$PY" -c 'import lab, training, analysis, warehouse' >/dev/null 2>&1; then
    "$PY" -m pip install --quiet --no-deps --no-build-isolation --target "$SCRATCH/site" . \
        || { echo "gpu.sh: could not install this checkout (pip install --no-deps .)" | tee "$OUT/ERROR.txt"; exit 2; }
    export PYTHONPATH="$SCRATCH/site${PYTHONPATH:+:$PYTHONPATH}"
fi

ARGS=(--out "$OUT" --timeout "${GPU_BENCH_TIMEOUT_S:-200}")
# full sizes for what the GPU speeds up; the CPU-bound warehouse and dashboard benchmarks at --quick
# sizes (their figures do not depend on the GPU, and their full sizes alone would take the 8 minutes)
if [ "${GPU_BENCH_QUICK:-0}" = "1" ]; then ARGS+=(--quick); else ARGS+=(--quick-for warehouse app); fi
# shellcheck disable=SC2206  (names are words)
[ -n "${GPU_BENCH_ONLY:-}" ] && ARGS+=(--only ${GPU_BENCH_ONLY})
LEFT=$(( TOTAL_S - ($(date +%s) - START) - 10 ))
ARGS+=(--budget "$LEFT")
echo "gpu.sh: $PY bench/run_all.py ${ARGS[*]}"
"$PY" bench/run_all.py "${ARGS[@]}"
rc=$?
echo "gpu.sh: done in $(( $(date +%s) - START )) s, exit $rc; summary in $OUT/summary.txt"
exit $rc
