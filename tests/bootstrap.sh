#!/usr/bin/env bash
# Create (or refresh) .venv with both distributions installed in editable mode
# and the test tools, drivers and documentation tools (the docs extra).
# Idempotent; safe to run on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "hatchling>=1.18" editables "pluggy>=1.2"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
    -e ".[test,docs]" -e plugins/requirements_qna
