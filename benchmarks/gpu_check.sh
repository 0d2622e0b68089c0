#!/usr/bin/env bash
# The GPU path, checked and timed in one call (see benchmarks/gpu_check.py for what it runs).
#
# On a machine with the project's environment:   bash benchmarks/gpu_check.sh [OUT.json]
# On a bare GPU machine with PyTorch + Lightning but without pydantic or mnist1d, put their
# wheels in .whl/ first (pydantic pydantic-core annotated-types typing-inspection mnist1d, see the
# README); this script installs them into a private folder, never into the system.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if ! "$PY" -c "import pydantic, mnist1d" 2>/dev/null; then
    [ -d .whl ] || { echo "gpu_check: pydantic or mnist1d is missing and there is no .whl/ folder" >&2; exit 2; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/genlab-site .whl/*.whl
    export PYTHONPATH="/tmp/genlab-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" benchmarks/gpu_check.py "${1:-gpu_check.json}"
