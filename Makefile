# Two commands do everything on a fresh machine: `make repro` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch is installed first where the venv has none, so the open `torch`
# range in pyproject.toml never pulls a multi-GB CUDA build; GPU users keep the torch they have.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup browser repro test lint bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_CPU)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Stages call `python`: with the venv first on PATH they run in the project's environment.
export PATH := $(CURDIR)/$(BIN):$(PATH)

repro: setup
	dvc repro

# Headless Chromium (Debian's package) for the report's browser test.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the report's browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
		|| echo "warning: could not install chromium (needs root and apt): the browser test will be skipped"; }

test: setup browser
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src pipelines tests benchmarks

# Each prints ratios against a baseline measured in the same run.
bench: setup
	$(BIN)/python benchmarks/lightning_overhead.py
	$(BIN)/python benchmarks/biasvar_vectorized.py
	$(BIN)/python benchmarks/tuning_pruning.py
	$(BIN)/python benchmarks/tuning_workers.py

clean-venv:
	rm -rf $(VENV)
