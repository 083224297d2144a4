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

A URL that cannot be used, a server that cannot be reached, a migration that
fails in ``nocodo_migrated``: the test errs with the library's message alone,
never a traceback through the library. The URL a test is given prints with its
password hidden, as pytest shows a failing test's fixture values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from .connection import DBAPIConnection
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


def _configured_url(config: pytest.Config) -> tuple[str | None, str]:
    """The URL from the flag, else the environment, else the ini file (``None``: SQLite), and where it came from."""
    for url, source in (
        (config.getoption("nocodo_db_url"), "--nocodo-db-url"),
        (os.environ.get(DB_URL_VARIABLE), f"the environment variable {DB_URL_VARIABLE}"),
        (config.getini("nocodo_db_url"), "the ini key nocodo_db_url"),
    ):
        if url:
            return url, source
    return None, "the default"


class _RedactedUrl(str):
    """A database URL whose ``repr``, what pytest prints of a fixture's value or an assertion's operand, hides its password."""

    __slots__ = ()

    def __repr__(self) -> str:
        from nocodo_agents.urls import redact

        return repr(redact(str.__str__(self)))


@contextmanager
def _library_errors_fail(source: str = "") -> Iterator[None]:
    """A library error inside the block fails the test with its message alone (``source``: where the URL came from)."""
    from nocodo_agents.errors import MigrationError

    try:
        yield
        return
    except MigrationError as error:
        message = f"{error}{f' (the URL given by {source})' if source else ''}"
    # from None: pytest would print the library error (and the driver's, its cause) under the message
    raise pytest.fail.Exception(message, pytrace=False) from None


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

    url, source = _configured_url(pytestconfig)
    with _library_errors_fail(source), fresh_database(url, tmp_path) as fresh:
        yield _RedactedUrl(fresh)


@pytest.fixture
def nocodo_connection(nocodo_db_url: str) -> Iterator[DBAPIConnection]:
    """An open DB-API connection (sqlite3, psycopg 3 or PyMySQL) to this test's fresh, empty database; closed afterwards."""
    from nocodo_agents.urls import parse_database_url

    with _library_errors_fail():
        connection = parse_database_url(nocodo_db_url).connect(create=True)
    try:
        yield connection
    finally:
        if getattr(connection, "open", True):  # the test may have closed it: PyMySQL refuses to close it twice
            connection.close()


@pytest.fixture
def nocodo_migrated(
    nocodo_connection: DBAPIConnection, nocodo_agents_under_test: tuple[str, ...] | None, nocodo_registry: AgentRegistry
) -> DBAPIConnection:
    """``nocodo_connection`` with the core migrations and those of the agents under test applied."""
    from nocodo_agents import run_agent_migrations

    with _library_errors_fail():
        run_agent_migrations(nocodo_connection, nocodo_agents_under_test, registry=nocodo_registry)
    return nocodo_connection
