"""Shared fixtures: agent packages written to disk, registries built from them.

Unit tests never see the agents installed in the environment: the guard
below makes entry point discovery fail unless a test is marked
``installed_agents`` (tests of the real installed distributions).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import sys
import textwrap
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from nocodo_agents import discovery
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.plugins import hookimpl, load_migrations

if TYPE_CHECKING:  # pragma: no cover
    from servers import MariaDBServer, PgBouncer, PostgresServer

    from nocodo_agents.migration import Migration

_counter = itertools.count()

# The command line's remembered no-op answers (nocodo_agents.cli.noop_answer) stay off in every
# subprocess a test starts, so a test of the command line tests its full path, never a user's cache;
# tests/test_cli_noop_cache.py turns them on, each test with a directory of its own.
os.environ["NOCODO_AGENTS_NO_CACHE"] = "1"
os.environ.pop("NOCODO_AGENTS_CACHE_DIR", None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "installed_agents: the test may discover the agents installed in this environment"
    )


def _wait_for_a_settled_sys_path() -> None:
    """Wait (2 s at most) until no ``sys.path`` directory was modified within the last two seconds.

    ``tests/run.sh`` reinstalls both distributions (editable) into ``.venv``
    before pytest starts: for two seconds ``site-packages`` is too fresh to
    stamp, and :meth:`AgentRegistry.installed` scans again at every call (see
    :func:`~nocodo_agents.agent_entries.sys_path_stamp`). Tests counting scans
    start once the environment has settled, as a running application's has.
    """
    from nocodo_agents.agent_entries import sys_path_stamp
    from nocodo_agents.loading import RACY_NS

    deadline = time.monotonic() + RACY_NS / 1e9 + 0.5
    while sys_path_stamp() is None and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _no_installed_agents(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts and ends with no installed registry cached; unmarked tests may not scan."""
    AgentRegistry.clear_installed()
    if request.node.get_closest_marker("installed_agents"):
        _wait_for_a_settled_sys_path()
    else:

        def refuse() -> None:
            raise AssertionError(
                "this unit test reached the installed entry points: pass registry=... "
                "or mark the test with @pytest.mark.installed_agents"
            )

        monkeypatch.setattr(discovery, "installed_agent_entries", refuse)
    yield
    AgentRegistry.clear_installed()


def migration_module(sql: str, *, rollback: str | None = None, transactional: bool = True) -> str:
    """Source of a V-module whose migration() returns ``sql``."""
    text = f"def migration(dialect):\n    return {sql!r}\n"
    if rollback is not None:
        text += f"\n\ndef rollback(dialect):\n    return {rollback!r}\n"
    if not transactional:
        text += "\ntransactional = False\n"
    return text


@pytest.fixture
def agent_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write a package of migration modules; return its dotted name.

    ``agent_package({"V5__add_x": "CREATE TABLE x (id INTEGER);"})`` writes
    ``pkgN/migrations/V5__add_x.py``; values that start with ``def `` are
    written verbatim as module source.
    """
    root = tmp_path / "agent_packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    created = []

    def make(modules: Mapping[str, str], plugin_source: str | None = None) -> str:
        name = f"nocodo_test_agent_{next(_counter)}"
        package = root / name
        (package / "migrations").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "migrations" / "__init__.py").write_text("")
        for module, body in modules.items():
            source = body if body.lstrip().startswith(("def ", "import ", "from ", "raise ", "#")) else migration_module(body)
            (package / "migrations" / f"{module}.py").write_text(textwrap.dedent(source))
        if plugin_source is not None:
            (package / "plugin.py").write_text(textwrap.dedent(plugin_source))
        created.append(name)
        return f"{name}.migrations"

    yield make
    for name in created:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def _module_with(hook: Callable[..., object]) -> types.ModuleType:
    """A plugin module object holding ``hook``, as an entry point would load it."""
    module = types.ModuleType(f"nocodo_test_plugin_{next(_counter)}")
    module.nocodo_agents_migrations = hook  # type: ignore[attr-defined]
    return module


def plugin_for(package: str, requires: object | None = None) -> types.ModuleType:
    """A plugin object whose hook returns the migrations of ``package`` and, unless ``None``, whose
    ``nocodo_agents_requires`` returns ``requires``."""

    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return load_migrations(package)

    module = _module_with(nocodo_agents_migrations)
    if requires is not None:

        @hookimpl
        def nocodo_agents_requires():  # type: ignore[no-untyped-def]
            return requires

        module.nocodo_agents_requires = nocodo_agents_requires  # type: ignore[attr-defined]
    return module


def plugin_returning(migrations: Sequence[Migration]) -> types.ModuleType:
    """A plugin object whose hook returns ``migrations`` (this very sequence, at every call), built in the test."""

    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return migrations

    return _module_with(nocodo_agents_migrations)


def registry_of(**agents: str) -> AgentRegistry:
    """A registry of core plus ``name=package`` agents, without entry points."""
    return AgentRegistry.from_plugins({name: plugin_for(pkg) for name, pkg in agents.items()})


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agents.sqlite"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(db_path)
    yield connection
    connection.close()


def tables(connection: sqlite3.Connection) -> dict[str, str]:
    """name -> type of every schema object, SQLite's own excluded."""
    return dict(
        connection.execute(
            "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    )


def history(connection: sqlite3.Connection) -> list:
    return connection.execute(
        "SELECT version, name, agent FROM refinery_schema_history ORDER BY version"
    ).fetchall()


# -- private database servers, one of each per test session (see servers.py) ---------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from servers import PostgresServer

    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer) -> Iterator[PgBouncer]:
    from servers import PgBouncer

    bouncer = PgBouncer(postgres_server)
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    from servers import MariaDBServer

    server = MariaDBServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def mariadb_database(mariadb_server: MariaDBServer) -> Iterator[str]:
    """The name of a database of its own on the private MariaDB server, dropped after the test."""
    import uuid

    name = f"nocodo_t_{uuid.uuid4().hex[:12]}"
    mariadb_server.create_database(name)
    yield name
    admin = mariadb_server.connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


# -- this checkout's wheels, built once per test session (see packaging_support.py) -------------


@pytest.fixture(scope="session")
def project_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of both distributions and of their runtime dependencies; modules copy them (``wheelhouse_with``)."""
    from packaging_support import build_project_wheels

    return build_project_wheels(tmp_path_factory.mktemp("project_wheels"))
