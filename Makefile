# Thermoscope — the two commands a new user needs are `make demo` and `make test`.
# `make` installs Thermoscope into .venv (editable) with the exact versions of constraints.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
export THERMOSCOPE_HOME ?= $(CURDIR)/thermoscope-home
PORT   ?= 8501
# Test workers (pytest-xdist): two keep both cores busy while half of each worker's time is waiting on jobs,
# Slurm and servers; TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

.PHONY: demo demo-run app test lint unit bench clean-home constraints

# The venv is rebuilt when the package's metadata or the pinned versions change.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "make: no python3 found; install Python >= 3.11 or run make PYTHON=/path/to/python3"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "make: $(PYTHON) is older than Python 3.11; run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

demo: demo-run app

# Train the embedded demo sweep (3 temperatures x 2 seeds) locally and wait; write the appendix's
# theory demonstrations and the logits norm at initialisation (Figure 8); ingest into DuckDB.
demo-run: $(VENV)/.installed
	$(PY) -m training.launch sweeps/demo.toml --executor local --wait
	$(VENV)/bin/thermoscope theory
	$(VENV)/bin/thermoscope init-norms --arch mlp --width 256 --depth 8 --dataset digits --init default,kaiming,normal
	$(VENV)/bin/thermoscope init-norms --arch resnet18,resnet20,vgg19 --dataset noise-3x32x32 --init default,torchvision --seeds 3
	$(VENV)/bin/thermoscope ingest

app: $(VENV)/.installed
	$(VENV)/bin/thermoscope app --port $(PORT)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

# Re-pin constraints.txt to what .venv holds now (after upgrading a dependency on purpose).
constraints: $(VENV)/.installed
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^thermoscope'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean-home:
	rm -rf $(THERMOSCOPE_HOME)
