"""``plugins/requirements_qna``'s own test suite (written with the nocodo-agents pytest plugin) passes on every dialect.

It runs in a subprocess from that distribution's directory, as its author
runs it (its ``pyproject.toml`` names the agent under test), against SQLite
and, given their URLs, the private PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from servers import MariaDBServer, PostgresServer

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugins" / "requirements_qna"

pytestmark = pytest.mark.installed_agents


def _run_suite(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "NOCODO_AGENTS_TEST_DB_URL" and not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *arguments],
        cwd=PLUGIN_DIR, env=environment, capture_output=True, text=True, timeout=600,
    )


def _assert_passed(result: subprocess.CompletedProcess[str], expected: int) -> None:
    summary: list[str] = result.stdout.strip().splitlines()[-1:]
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary and summary[0].startswith(f"{expected} passed") and "skipped" not in summary[0], result.stdout


#: The ready-made checks (6) and the suite's own tests (2).
EXPECTED = 8


def test_the_suite_passes_on_sqlite() -> None:
    _assert_passed(_run_suite(), EXPECTED)


def test_the_suite_passes_on_postgresql(postgres_server: PostgresServer) -> None:
    _assert_passed(_run_suite("--nocodo-db-url", postgres_server.url("postgres")), EXPECTED)


def test_the_suite_passes_on_mariadb(mariadb_server: MariaDBServer) -> None:
    _assert_passed(_run_suite("--nocodo-db-url", mariadb_server.url("mysql")), EXPECTED)
