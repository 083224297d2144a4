#!/usr/bin/env bash
# Run the whole test suite from a fresh clone: bootstrap .venv, then pytest.
# Extra arguments go to pytest (for example: bash tests/run.sh -k sqlite -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
