#!/usr/bin/env bash
# The linters CI runs after the tests, from the repository root with .venv (bootstrapped first,
# a no-op when it is up to date): ruff with the [tool.ruff] rules of pyproject.toml, then
# mypy --strict on what [tool.mypy] lists (both distributions, the template, their tests).
# Both must pass. Extra arguments go to ruff (for example: bash tests/lint.sh --fix).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/bootstrap.sh
.venv/bin/ruff check "$@" .
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    .venv/bin/mypy
else
    echo "lint: mypy not run: mypy 2 needs Python 3.10 or newer, .venv has $(.venv/bin/python --version)" >&2
fi
