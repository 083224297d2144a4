#!/usr/bin/env bash
# From a fresh clone: set up .venv and migrate a default SQLite file with the
# core tables and the requirements_qna agent, printing what was applied.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/bootstrap.sh
exec .venv/bin/python examples/migrate_default.py "$@"
