#!/usr/bin/env bash
# Run every benchmark: build (once) the benchmark's own virtual environment
# benchmarks/.venv with the peers, (re)install both distributions of this
# working tree into it (not editable: measured as users install them), then
# run `python -m benchmarks` with the arguments given (--quick, --only NAME,
# --max-n N, ...). The peers never become project dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=benchmarks/.venv
PEERS=(
    "yoyo-migrations==9.*"      # yoyo: SQL files, its own history table
    "sqlite-utils>=4"           # its Migrations (the sqlite-migrate plugin, merged into sqlite-utils 4)
    "alembic" "SQLAlchemy>=2"   # alembic: one revision file per migration
    "matplotlib"                # the scale-curve chart
    "psycopg[binary]>=3.1" "PyMySQL>=1.0" "pytest"   # drivers; tests/servers.py imports pytest
)
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.peers-installed" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "hatchling>=1.18" "pluggy>=1.2" "${PEERS[@]}"
    touch "$VENV/.peers-installed"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
    --force-reinstall . ./plugins/requirements_qna
exec "$VENV/bin/python" -m benchmarks "$@"
