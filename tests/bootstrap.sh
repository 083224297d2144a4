#!/usr/bin/env bash
# Create (or refresh) .venv with both distributions installed in editable mode
# and the test tools, drivers, documentation tools (the docs extra) and linters (the lint extra).
# Idempotent; safe to run on a fresh clone.
# When .venv already holds what this script and both pyproject.toml files ask
# for (a stamp of their contents and the Python version, written after a
# successful install), pip is not run again: the sources are editable installs,
# so only those files can change what needs installing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STAMP=.venv/.nocodo-bootstrap-stamp
wanted() {
    "$PYTHON" - <<'PY'
import hashlib, sys
digest = hashlib.sha256(sys.version.encode())
for name in ("tests/bootstrap.sh", "pyproject.toml", "plugins/requirements_qna/pyproject.toml"):
    with open(name, "rb") as f:
        digest.update(name.encode() + b"\0" + f.read() + b"\0")
print(digest.hexdigest())
PY
}
want="$(wanted)"
if [ -x .venv/bin/python ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && .venv/bin/python -c "from importlib.metadata import distribution as d; d('nocodo-agents'); d('nocodo-agents-requirements-qna'); import nocodo_agents, nocodo_agents_requirements_qna" >/dev/null 2>&1; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
rm -f "$STAMP"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "hatchling>=1.18" editables "pluggy>=1.2"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
    -e ".[test,docs,lint]" -e plugins/requirements_qna
echo "$want" > "$STAMP"
