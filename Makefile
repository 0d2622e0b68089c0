# Two commands do everything on a fresh machine: `make repro` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch is installed first where the venv has none, so the open `torch`
# range in pyproject.toml never pulls a multi-GB CUDA build; GPU users keep the torch they have.
TORCH_CPU ?= torch==2.13.0
# Every other package, pinned with its hashes (`make lock` writes it; torch is left out of it).
LOCK      := requirements.lock
# uv installs the lock in seconds from its cache; its own version is pinned too.
UV_PIN    ?= uv==0.13.9
UV        := $(BIN)/uv
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release pyproject.toml allows.
LOCK_FLAGS ?=

# uv does not read pip's configuration: this prints the indexes and find-links this machine's
# pip uses (pip.conf and PIP_* variables, read by pip itself) as uv options. A file index
# that does not exist is dropped (pip only warns; uv fails). `lock` puts pip's main index
# first, so the lock carries that index's full set of hashes; `install` puts it last, so
# local mirrors and find-links serve what they hold.
define PIP_INDEX_PY
import os, sys
from pip._internal.commands import create_command
o = create_command("install").parse_args([])[0]
ok = lambda u: "://" in u.removeprefix("file://") or os.path.exists(u.removeprefix("file://"))
urls = [u for u in o.extra_index_urls if ok(u)] + [o.index_url]
if sys.argv[1] == "lock":
    urls = urls[-1:] + urls[:-1]
args = [a for u in urls[:-1] for a in ("--index", u)] + ["--default-index", urls[-1]]
args += [a for f in o.find_links if ok(f) for a in ("--find-links", f)]
args += ["--no-index"] if o.no_index else []
print(" ".join(args + ["--index-strategy", "unsafe-best-match"]))
endef
export PIP_INDEX_PY
PIP_INDEX = $(BIN)/python -c "$$PIP_INDEX_PY"

.PHONY: setup lock bytecode browser repro dashboard test test-fast lint deps bench clean-venv team-deps team-up team-down team-status

setup: $(VENV)/.installed

# The venv and the pinned uv in it (pip is only needed for this bootstrap).
$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(UV_PIN)"

# Reinstalls when the lock or pyproject.toml changes; otherwise `make setup` does nothing.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(UV)
# torch first, unless the venv has one already (a GPU user's CUDA build is kept)
	$(BIN)/python -c "import torch" 2>/dev/null || $(UV) pip install --quiet --compile-bytecode \
		--python $(BIN)/python --no-deps "$(TORCH_CPU)" $$($(PIP_INDEX) install)
# exactly the locked versions, each checked against its hashes; compiled to bytecode now (uv
# does not by default: where .pyc files may not be written, PYTHONDONTWRITEBYTECODE, every
# stage process would compile all its imports again, 16 s instead of 7 s)
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes --no-deps --compile-bytecode \
		-r $(LOCK) $$($(PIP_INDEX) install)
# genlab itself, editable, built with the locked setuptools (nothing else is fetched)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
# fails if a requirement is missing or conflicts (e.g. a GPU user's torch vs the lock)
	$(UV) pip check --python $(BIN)/python
	touch $@

# Re-resolves pyproject.toml (main deps + dev + team extras) for Python 3.11 on Linux x86_64,
# keeping the current pins unless LOCK_FLAGS says otherwise.
lock: | $(UV)
# resolved with $(TORCH_CPU) (torch itself stays out) and setuptools (builds genlab in setup)
	printf '%s\n' "$(TORCH_CPU)" "setuptools>=68" \
		| $(UV) pip compile pyproject.toml - --extra dev --extra team --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--no-emit-package torch --custom-compile-command "make lock" --quiet \
		$(LOCK_FLAGS) $$($(PIP_INDEX) lock) -o $(LOCK)
# a CUDA build of torch (no CPU wheel on find-links) would add nvidia-*, cuda-*, triton: drop them
	awk '/^[^ #]/ { skip = /^(nvidia-|cuda-|triton=)/ } !skip' $(LOCK) > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

# Stages call `python`: with the venv first on PATH they run in the project's environment.
export PATH := $(CURDIR)/$(BIN):$(PATH)

# genlab's own modules as bytecode (the installed packages are compiled at install): where .pyc
# files may not be written (PYTHONDONTWRITEBYTECODE) each stage process would compile the
# modules it imports again, 0.2-0.4 s apiece. Only what changed is compiled again.
bytecode: setup
	$(BIN)/python -m compileall -q src

repro: setup bytecode
	dvc repro

# optuna-dashboard on the tune study (OPTUNA_STORAGE, else params tune.storage), served on
# 127.0.0.1 only; `make dashboard DASHBOARD_PORT=8081` picks another port.
DASHBOARD_PORT ?= 8080
dashboard: setup
	$(BIN)/python -m genlab.stages.tune.dashboard --port $(DASHBOARD_PORT)

# Headless Chromium (Debian's package) for the report's browser test.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the report's browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
		|| echo "warning: could not install chromium (needs root and apt): the browser test will be skipped"; }

# Every test: tests/unit and tests/integration (one shared tiny `dvc repro`, stage processes,
# servers, the team stack), on TEST_WORKERS pytest-xdist workers: most tests wait on a stage
# process, a server or a lock, so three keep two cores busy. tests/conftest.py orders and groups
# them (a module's tests, or the team stack's, stay on one worker). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: setup bytecode browser team-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# Unit tests only (tests/unit: no `dvc repro`, no stage processes, no servers): under a minute.
test-fast: setup bytecode
	$(BIN)/python -m pytest tests/unit -q

# Rewrites each stage's code deps in dvc.yaml from its script's imports (genlab/stage_deps.py):
# run it after adding, moving or removing an import; `make test` fails until it is run.
deps: setup
	$(BIN)/python -m genlab.stage_deps

lint: setup
	$(BIN)/ruff check src pipelines tests benchmarks

# Each prints ratios against a baseline measured in the same run.
bench: setup
	$(BIN)/python benchmarks/lightning_overhead.py
	$(BIN)/python benchmarks/biasvar_vectorized.py
	$(BIN)/python benchmarks/tuning_pruning.py
	$(BIN)/python benchmarks/tuning_workers.py
	$(BIN)/python benchmarks/epoch_evaluation.py
	$(BIN)/python benchmarks/stage_startup.py

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
