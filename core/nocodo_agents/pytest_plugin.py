"""The pytest plugin for agent authors: options and fixtures for testing an agent's migrations.

Registered through the ``pytest11`` entry point, so it is loaded in every
pytest session of an environment where nocodo-agents is installed, including
suites that have nothing to do with it. Loading it therefore imports nothing
but pytest (already imported) and defines options and fixtures; the library
is imported inside the fixtures, by the tests that use them. Disable it with
``-p no:nocodo_agents``.

Options (flag, else environment variable, else ini key)::

    --nocodo-db-url URL     NOCODO_AGENTS_TEST_DB_URL   nocodo_db_url
    --nocodo-agents A,B                                 nocodo_agents

Without a URL each test gets a new SQLite file under its ``tmp_path``. With a
``postgresql://`` or ``mysql://`` URL (its user may create databases) each
test gets a database of its own created on that server, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from .discovery import AgentRegistry

#: The environment variable naming the server (or SQLite) URL tests run against.
DB_URL_VARIABLE = "NOCODO_AGENTS_TEST_DB_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nocodo-agents", "nocodo-agents: testing an agent's migrations")
    group.addoption(
        "--nocodo-db-url",
        dest="nocodo_db_url",
        metavar="URL",
        default=None,
        help=f"database server to test against: each test gets a fresh database created there and dropped "
        f"afterwards (postgresql://..., mysql://...); default: a new SQLite file per test. Env: {DB_URL_VARIABLE}",
    )
    group.addoption(
        "--nocodo-agents",
        dest="nocodo_agents",
        metavar="NAME[,NAME]",
        default=None,
        help="the agents under test, migrated (with core) by the nocodo_migrated fixture; default: every installed agent",
    )
    parser.addini("nocodo_db_url", "nocodo-agents: database server URL to test against (see --nocodo-db-url)", default="")
    parser.addini("nocodo_agents", "nocodo-agents: the agents under test (see --nocodo-agents)", type="args", default=[])


def _configured_url(config: pytest.Config) -> str | None:
    """The URL from the flag, else the environment, else the ini file; ``None``: SQLite."""
    return config.getoption("nocodo_db_url") or os.environ.get(DB_URL_VARIABLE) or config.getini("nocodo_db_url") or None


@pytest.fixture
def nocodo_agents_under_test(pytestconfig: pytest.Config) -> tuple[str, ...] | None:
    """The agents under test (``--nocodo-agents`` or the ``nocodo_agents`` ini key); ``None``: every installed agent."""
    given = pytestconfig.getoption("nocodo_agents")
    names = given.split(",") if given else [n for value in pytestconfig.getini("nocodo_agents") for n in value.split(",")]
    names = [name.strip() for name in names if name.strip()]
    return tuple(names) or None


@pytest.fixture
def nocodo_registry() -> AgentRegistry:
    """The agents the fixtures and checks migrate: the installed ones. Override it to test agents registered in-process."""
    from nocodo_agents import AgentRegistry

    return AgentRegistry.installed()


@pytest.fixture
def nocodo_db_url(pytestconfig: pytest.Config, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database of this test's own: a SQLite file, or a database created on the configured server and dropped afterwards."""
    from nocodo_agents.testing import fresh_database

    with fresh_database(_configured_url(pytestconfig), tmp_path) as url:
        yield url


@pytest.fixture
def nocodo_connection(nocodo_db_url: str) -> Iterator[Any]:
    """An open DB-API connection (sqlite3, psycopg 3 or PyMySQL) to this test's fresh, empty database; closed afterwards."""
    from nocodo_agents.urls import parse_database_url

    connection = parse_database_url(nocodo_db_url).connect(create=True)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def nocodo_migrated(
    nocodo_connection: Any, nocodo_agents_under_test: tuple[str, ...] | None, nocodo_registry: AgentRegistry
) -> Any:
    """``nocodo_connection`` with the core migrations and those of the agents under test applied."""
    from nocodo_agents import run_agent_migrations

    run_agent_migrations(nocodo_connection, nocodo_agents_under_test, registry=nocodo_registry)
    return nocodo_connection
