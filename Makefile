# Thermoscope — the two commands a new user needs are `make demo` and `make test`.
# Everything runs from the repository root with PYTHONPATH=. (no install step for our own code).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)
export THERMOSCOPE_HOME ?= $(CURDIR)/thermoscope-home
PORT   ?= 8501

.PHONY: demo demo-run app test lint unit bench clean-home

# The venv is rebuilt when pyproject.toml changes. torch/torchvision are pinned exactly there.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[dev]"
	touch $@

demo: demo-run app

# Train the embedded demo sweep (3 temperatures x 2 seeds) locally and wait; write the appendix's
# theory demonstrations and the logits norm at initialisation (Figure 8); ingest into DuckDB.
demo-run: $(VENV)/.installed
	$(PY) -m training.launch sweeps/demo.toml --executor local --wait
	$(PY) -m analysis theory
	$(PY) -m training.init_norms --arch mlp --width 256 --depth 8 --dataset digits --init default,kaiming,normal
	$(PY) -m training.init_norms --arch resnet18,resnet20,vgg19 --dataset noise-3x32x32 --init default,torchvision --seeds 3
	$(PY) -m warehouse ingest

app: $(VENV)/.installed
	@echo "Thermoscope dashboard: http://127.0.0.1:$(PORT)  (warehouse: $(THERMOSCOPE_HOME))"
	$(PY) -m streamlit run app/Home.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -p no:cacheprovider

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

clean-home:
	rm -rf $(THERMOSCOPE_HOME)
