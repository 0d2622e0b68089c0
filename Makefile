# Two commands do everything on a fresh machine: `make repro` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch is installed first where the venv has none, so the open `torch`
# range in pyproject.toml never pulls a multi-GB CUDA build; GPU users keep the torch they have.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup browser repro test lint bench clean-venv team-deps team-up team-down team-status

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_CPU)"
	$(BIN)/python -m pip install --quiet -e ".[dev,team]"
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

test: setup browser team-deps
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

# ---------------------------------------------------------------------------- team mode
# The shared stack on this machine (PostgreSQL, S3 object store, MLflow server with auth):
# `make team-up` starts what is not running and writes team.env + the DVC remote in
# .dvc/config.local; `make team-down` stops it; `make team-status` says what runs where.
# Debian's PostgreSQL server (and OpenSSH's server, for the SSH-remote test) on first use.

team-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; } \
		|| echo "warning: could not install$$missing (needs root and apt): team mode needs them"; \
	fi

team-up: setup team-deps
	$(BIN)/python -m genlab.team up

team-down: setup
	$(BIN)/python -m genlab.team down

team-status: setup
	$(BIN)/python -m genlab.team status
