#!/usr/bin/env bash
# Run the whole test suite from a fresh clone: install the database servers
# the server tests start privately (tests/servers.sh: as root it installs
# them; otherwise it fails naming the one command to run), bootstrap .venv,
# then pytest. A missing server is then a failure, never a skip, so a newcomer
# runs the same tests as CI. NOCODO_TESTS_SERVERS=skip runs without the
# servers (their tests are skipped, with the reason).
# Extra arguments go to pytest (for example: bash tests/run.sh -k sqlite -x).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NOCODO_TESTS_SERVERS:-}" != "skip" ]; then
    bash tests/servers.sh
    export NOCODO_TESTS_SERVERS=required
fi
bash tests/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
