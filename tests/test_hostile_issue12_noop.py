"""Hostile tests of the no-op cache and of edited-migration detection (issue 12).

Each test makes a long-running process meet a change a fresh process would
see, in a way a file's modification time alone does not show (an edit that
keeps the time and size, as tools restoring times do: ``cp -p``, ``rsync -a``,
``tar -x`` of an archive built with a fixed ``SOURCE_DATE_EPOCH``; a package
directory switched to another release by a symlink), or a distribution
installed within the same tick of the clock as the last scan, and checks the
run gives what a fresh process gives. Also: the cache keeps no connection
alive.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from cli_support import sql_module, write_agent_distribution
from conftest import plugin_for

from nocodo_agents import DivergentMigrationError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.noop_cache import NO_OP_CACHE

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY);"
#: The same length as NOTES: an edit that keeps the file's size.
NOTEZ = "CREATE TABLE notez (id INTEGER PRIMARY KEY);"
TAGS = "CREATE TABLE tags (id INTEGER PRIMARY KEY);"
#: One fixed time for every file, as an archive built with SOURCE_DATE_EPOCH gives them.
EPOCH_NS = (1_600_000_000 * 10**9,) * 2
#: Statements of a no-op answered from the cache (see tests/test_noop_cache.py).
CACHED = 1


def date_back(*paths: Path) -> None:
    for path in paths:
        os.utime(path, ns=EPOCH_NS, follow_symlinks=False) if path.is_symlink() else os.utime(path, ns=EPOCH_NS)


def answered_from_cache(conn: sqlite3.Connection, registry: AgentRegistry) -> None:
    run_agent_migrations(conn, registry=registry)
    run_agent_migrations(conn, registry=registry)
    assert run_agent_migrations(conn, registry=registry).statements == CACHED


def fresh_process_outcome(db_path: Path, package_root: Path, package: str) -> str:
    """What a new process running the same migrations on the same file says: ``ok`` or the error's class name."""
    script = textwrap.dedent(
        f"""
        import sqlite3, sys
        sys.path.insert(0, {str(package_root)!r})
        from nocodo_agents.discovery import AgentRegistry
        from nocodo_agents.plugins import hookimpl, load_migrations
        from nocodo_agents.database.migrations import run_agent_migrations
        import types
        module = types.ModuleType("plugin")
        @hookimpl
        def nocodo_agents_migrations():
            return load_migrations({package!r})
        module.nocodo_agents_migrations = nocodo_agents_migrations
        conn = sqlite3.connect({str(db_path)!r})
        try:
            report = run_agent_migrations(conn, registry=AgentRegistry.from_plugins({{"notes": module}}))
            print("ok", list(report.versions))
        except Exception as error:
            print(type(error).__name__)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def notes_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """``(root on sys.path, package name)`` of an agent package whose migrations directory is ``<package>/migrations``."""
    root = tmp_path / "code"
    package = root / "hostile_notes_agent"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    yield root, "hostile_notes_agent.migrations"
    for name in [m for m in sys.modules if m.startswith("hostile_notes_agent")]:
        del sys.modules[name]


@pytest.mark.parametrize("kind", ["sql", "py"])
def test_an_edit_keeping_time_and_size_is_never_missed(
    conn: sqlite3.Connection, db_path: Path, notes_package: tuple[Path, str], kind: str
) -> None:
    """An applied migration rewritten with the same size and its old time put back (cp -p, rsync -a, tar -x)."""
    root, package = notes_package
    directory = root / "hostile_notes_agent" / "migrations"
    migration = directory / f"V100__create_notes.{kind}"
    migration.write_text(NOTES if kind == "sql" else sql_module(NOTES))
    date_back(directory, *directory.iterdir())
    registry = AgentRegistry.from_plugins({"notes": plugin_for(package)})
    answered_from_cache(conn, registry)
    edited = NOTEZ if kind == "sql" else sql_module(NOTEZ)
    assert len(edited) == len(migration.read_text())
    migration.write_text(edited)
    date_back(migration, directory)
    assert fresh_process_outcome(db_path, root, package) == "DivergentMigrationError"
    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(conn, registry=registry)
    assert raised.value.version == 100


def test_a_migrations_directory_switched_by_symlink_is_listed_again(
    conn: sqlite3.Connection, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``migrations`` a symlink to one release's directory, switched to the next release's (same times, a file more)."""
    root = tmp_path / "code"
    package = root / "hostile_release_agent"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    releases = tmp_path / "releases"
    for release, modules in (("r1", {"V100__create_notes": NOTES}), ("r2", {"V100__create_notes": NOTES, "V101__create_tags": TAGS})):
        directory = releases / release
        directory.mkdir(parents=True)
        (directory / "__init__.py").write_text("")
        for name, sql in modules.items():
            (directory / f"{name}.py").write_text(sql_module(sql))
    for release in ("r1", "r2"):  # both releases unpacked with the same fixed times
        date_back(*(releases / release).iterdir())
        date_back(releases / release)
    (package / "migrations").symlink_to(releases / "r1")
    monkeypatch.syspath_prepend(str(root))
    try:
        registry = AgentRegistry.from_plugins({"notes": plugin_for("hostile_release_agent.migrations")})
        answered_from_cache(conn, registry)
        (package / "next").symlink_to(releases / "r2")
        os.replace(package / "next", package / "migrations")  # the release switch, atomically
        assert run_agent_migrations(conn, registry=registry).versions == (101,)
    finally:
        for name in [m for m in sys.modules if m.startswith("hostile_release_agent")]:
            del sys.modules[name]


@pytest.mark.installed_agents
def test_an_agent_installed_within_the_same_tick_as_the_scan_is_never_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conn: sqlite3.Connection
) -> None:
    """A distribution installed while the ``sys.path`` directory's time does not move (a coarse clock, one tick).

    Simulated by putting the directory's time back to what the scan saw: the
    next run must still find the new agent, as a fresh process does.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    try:
        write_agent_distribution(site, "tick-agent", "tick", "tick_agent", {"V100__create_notes": sql_module(NOTES)})
        now = time.time_ns()
        os.utime(site, ns=(now, now))
        run_agent_migrations(conn)
        run_agent_migrations(conn)
        write_agent_distribution(site, "tock-agent", "tock", "tock_agent", {"V101__create_tags": sql_module(TAGS)})
        os.utime(site, ns=(now, now))  # the same tick: the directory's time did not move
        assert "tock" in AgentRegistry.from_entry_points().agent_names()
        assert run_agent_migrations(conn).versions == (101,)
    finally:
        for name in [m for m in sys.modules if m.startswith(("tick_agent", "tock_agent"))]:
            del sys.modules[name]


class WeaklyReferenced(sqlite3.Connection):
    """A sqlite3 connection subclass (a plain one cannot be weakly referenced)."""


def test_the_cache_keeps_no_connection_alive(db_path: Path, agent_package: Callable[..., str]) -> None:
    registry = AgentRegistry.from_plugins({"notes": plugin_for(agent_package({"V100__create_notes": NOTES}))})
    conn = sqlite3.connect(db_path, factory=WeaklyReferenced)
    run_agent_migrations(conn, registry=registry)
    run_agent_migrations(conn, registry=registry)
    assert id(conn) in NO_OP_CACHE._answers
    alive = weakref.ref(conn)
    conn.close()
    del conn
    gc.collect()
    assert alive() is None
