"""The in-process no-op cache: a repeated no-op on one connection is cheap, and never answers what an uncached run would not.

Every test makes the cached connection meet a change (a migration edited in
place or by rename, an agent installed or removed, another process, another
connection, the same connection, other arguments) and checks that the run
gives what a run without any cache gives: :func:`uncached` clears the cache
and uses a fresh connection to the same file.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_support import site_on_sys_path, sql_module, write_agent_distribution
from conftest import registry_of

from nocodo_agents import DivergentMigrationError, MigrationReport
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.noop_cache import NO_OP_CACHE

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY);"
TAGS = "CREATE TABLE tags (id INTEGER PRIMARY KEY);"
AN_HOUR_AGO_NS = (time.time_ns() - 3600 * 10**9,) * 2
#: Statements of a no-op answered from the cache with the default lock timeout (60 s) on a connection whose
#: busy timeout is at most that (sqlite3's default is 5 s): one, reading the history with the busy timeout.
CACHED = 1
#: The same on a connection whose busy timeout is above the lock timeout: read the busy timeout, set it to
#: the lock timeout, read the history, set it back.
CACHED_SETTING_THE_WAIT = 4


def settle(*paths: Path) -> None:
    """Date ``paths`` an hour back, as if nobody had touched them for a while."""
    for path in paths:
        os.utime(path, ns=AN_HOUR_AGO_NS)


def settle_package(package: str) -> Path:
    """Settle a migrations package written by ``agent_package`` (its directory and files); return its directory."""
    directory = Path(importlib.import_module(package).__path__[0])
    settle(directory, *directory.iterdir())
    return directory


def outcome(run: Callable[[], MigrationReport]) -> tuple[str, Any]:
    """What a run gives, comparable: its report's facts, or its error's class and message."""
    try:
        report = run()
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        return type(error).__name__, str(error)
    return "report", (report.versions, tuple((r.version, r.name, r.agent) for r in report.not_installed), report.dry_run)


def uncached(db_path: Path, **kwargs: Any) -> tuple[str, Any]:
    """The outcome of the same run with no cache, on a fresh connection to the same file (then closed).

    What the cache remembers for other connections is kept for them.
    """
    kept = dict(NO_OP_CACHE._answers)
    NO_OP_CACHE.clear()
    fresh = sqlite3.connect(db_path)
    try:
        return outcome(lambda: run_agent_migrations(fresh, **kwargs))
    finally:
        fresh.close()
        NO_OP_CACHE.clear()
        NO_OP_CACHE._answers.update(kept)


def cached_twice(conn: sqlite3.Connection, **kwargs: Any) -> MigrationReport:
    """Run until nothing is to do on ``conn``, then again: that run must be answered from the cache. Returns it."""
    run_agent_migrations(conn, **kwargs)
    run_agent_migrations(conn, **kwargs)
    report = run_agent_migrations(conn, **kwargs)
    assert report.applied == () and report.statements == CACHED, "answered from the cache"
    return report


@pytest.fixture
def notes(agent_package: Callable[..., str]) -> tuple[AgentRegistry, Path]:
    """A registry of core and agent ``notes`` (V100), its package settled; and the package's directory."""
    package = agent_package({"V100__create_notes": NOTES})
    directory = settle_package(package)
    return registry_of(notes=package), directory


def test_a_repeated_no_op_reads_the_history_once_and_loads_nothing(conn: sqlite3.Connection, notes) -> None:
    registry, _ = notes
    first = run_agent_migrations(conn, registry=registry)
    full = run_agent_migrations(conn, registry=registry)
    assert first.versions == (1, 2, 3, 100) and full.applied == () and full.statements == 5
    again = run_agent_migrations(conn, registry=registry)
    assert again == full and again.statements == CACHED
    assert run_agent_migrations(conn, registry=registry, lock_timeout=5.0).statements == 5, "another argument: full run"
    assert run_agent_migrations(conn, registry=registry, lock_timeout=5.0).statements == CACHED, "busy timeout 5 s"
    assert run_agent_migrations(conn, registry=registry, lock_timeout=1.0).statements == 5, "another argument: full run"
    assert run_agent_migrations(conn, registry=registry, lock_timeout=1.0).statements == CACHED_SETTING_THE_WAIT
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000 and conn.row_factory is None


def test_the_callers_connection_is_left_as_it_was(conn: sqlite3.Connection, notes) -> None:
    registry, _ = notes
    cached_twice(conn, registry=registry)
    conn.execute("PRAGMA busy_timeout = 1234")
    conn.row_factory = sqlite3.Row
    conn.text_factory = bytearray
    assert run_agent_migrations(conn, registry=registry).statements == CACHED
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    assert conn.row_factory is sqlite3.Row and conn.text_factory is bytearray and not conn.in_transaction


def test_the_callers_busy_timeout_decides_how_the_history_is_read(conn: sqlite3.Connection, notes) -> None:
    """At most the lock timeout: read with it as it is (one statement); above: set for the read and put back.

    A caller raising it above the lock timeout between two runs is seen in
    the next run's read (that read waited, if at all, up to the caller's own
    setting), and from then on the busy timeout is set for the read.
    """
    registry, _ = notes
    cached_twice(conn, registry=registry)
    for busy_ms, statements in [(60000, CACHED), (0, CACHED), (120000, CACHED), (120000, CACHED_SETTING_THE_WAIT),
                                (120000, CACHED_SETTING_THE_WAIT), (60000, CACHED_SETTING_THE_WAIT), (60000, CACHED)]:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        report = run_agent_migrations(conn, registry=registry)
        assert (report.applied, report.statements) == ((), statements), busy_ms
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == busy_ms, "the caller's busy timeout is left as it was"


@pytest.mark.parametrize("busy_ms", [0, 120000])
def test_a_locked_database_is_waited_for_as_without_cache(conn: sqlite3.Connection, db_path: Path, notes, busy_ms: int) -> None:
    """A writer holding the database exclusively: the cached read gives up, and the run waits ``lock_timeout`` as ever."""
    registry, _ = notes
    cached_twice(conn, registry=registry)
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    run_agent_migrations(conn, registry=registry, lock_timeout=0.05)
    cached = run_agent_migrations(conn, registry=registry, lock_timeout=0.05)
    assert cached.statements == (CACHED if busy_ms <= 50 else CACHED_SETTING_THE_WAIT), "answered from the cache"
    writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        expected = outcome(lambda: run_agent_migrations(conn, registry=registry, lock_timeout=0.05))
        NO_OP_CACHE.clear()
        assert expected[0] == "LockTimeoutError"
        assert outcome(lambda: run_agent_migrations(conn, registry=registry, lock_timeout=0.05)) == expected
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == busy_ms


@pytest.mark.parametrize("how", ["in place", "by rename"])
def test_an_applied_migration_edited_is_never_missed(conn: sqlite3.Connection, db_path: Path, notes, how: str) -> None:
    registry, directory = notes
    cached_twice(conn, registry=registry)
    module = directory / "V100__create_notes.py"
    edited = sql_module(NOTES + " -- edited")
    if how == "in place":
        with open(module, "r+") as file:  # same inode, directory untouched
            file.write(edited)
    else:
        (directory / "V100.tmp").write_text(edited)
        os.replace(directory / "V100.tmp", module)
    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(conn, registry=registry)
    assert raised.value.version == 100
    assert outcome(lambda: run_agent_migrations(conn, registry=registry))[0] == "DivergentMigrationError", "every run"
    assert uncached(db_path, registry=registry)[0] == "DivergentMigrationError"


def test_an_applied_sql_file_edited_in_place_is_never_missed(
    conn: sqlite3.Connection, db_path: Path, agent_package: Callable[..., str]
) -> None:
    package = agent_package({})
    directory = settle_package(package)
    (directory / "V100__create_notes.sql").write_text(NOTES)
    registry = registry_of(notes=package)
    run_agent_migrations(conn, registry=registry)
    settle(directory, *directory.iterdir())
    cached_twice(conn, registry=registry)
    with open(directory / "V100__create_notes.sql", "a") as file:
        file.write("\n-- edited")
    settle(directory)  # an edit in place leaves the directory as it was
    assert outcome(lambda: run_agent_migrations(conn, registry=registry)) == uncached(db_path, registry=registry)
    assert uncached(db_path, registry=registry)[0] == "DivergentMigrationError"


def test_a_migration_added_to_a_requested_agent_is_applied(conn: sqlite3.Connection, db_path: Path, notes) -> None:
    registry, directory = notes
    cached_twice(conn, registry=registry)
    (directory / "V101__create_tags.py").write_text(sql_module(TAGS))
    assert run_agent_migrations(conn, registry=registry).versions == (101,)
    (directory / "V101__create_tags.py").unlink()
    report = run_agent_migrations(conn, registry=registry)
    assert [row.version for row in report.not_installed] == [101]
    assert outcome(lambda: run_agent_migrations(conn, registry=registry)) == uncached(db_path, registry=registry)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` that agent distributions are installed into."""
    yield from site_on_sys_path(tmp_path, monkeypatch)


@pytest.mark.installed_agents
def test_an_agent_installed_or_uninstalled_while_running_is_never_missed(
    site: Path, conn: sqlite3.Connection, db_path: Path
) -> None:
    settle(site)
    cached_twice(conn)
    write_agent_distribution(site, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    assert run_agent_migrations(conn).versions == (100,), "agents=None: the new agent is applied"
    settle(site, site / "notes_agent" / "migrations", *(site / "notes_agent" / "migrations").iterdir())
    cached_twice(conn)
    shutil.rmtree(site / "notes_agent-1.0.dist-info")
    report = run_agent_migrations(conn)
    assert report.statements == 5 and [row.version for row in report.not_installed] == [100]
    assert outcome(lambda: run_agent_migrations(conn)) == uncached(db_path)


CHANGES = {
    "checksum updated": "UPDATE refinery_schema_history SET checksum = '1' WHERE version = 100",
    "row deleted": "DELETE FROM refinery_schema_history WHERE version = 100",
    "row added": "INSERT INTO refinery_schema_history VALUES (7, 'elsewhere', '2024-01-01T00:00:00Z', '7', 'gone')",
    "agent cleared": "UPDATE refinery_schema_history SET agent = NULL WHERE version = 100",
    "table dropped": "DROP TABLE refinery_schema_history",
    "column widened": "ALTER TABLE refinery_schema_history RENAME TO old_history; "
    "CREATE TABLE refinery_schema_history(version INT8 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), "
    "checksum VARCHAR(255), agent VARCHAR(255)); INSERT INTO refinery_schema_history SELECT * FROM old_history",
}


def _change_here(conn: sqlite3.Connection, db_path: Path, sql: str) -> None:
    conn.executescript(sql)


def _change_from_another_connection(conn: sqlite3.Connection, db_path: Path, sql: str) -> None:
    other = sqlite3.connect(db_path)
    other.executescript(sql)
    other.close()


def _change_from_another_process(conn: sqlite3.Connection, db_path: Path, sql: str) -> None:
    script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.close()"
    subprocess.run([sys.executable, "-c", script, str(db_path), sql], check=True)


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("where", [_change_here, _change_from_another_connection, _change_from_another_process])
def test_a_change_to_the_history_is_never_missed(
    conn: sqlite3.Connection, db_path: Path, notes, change: str, where: Callable[..., None]
) -> None:
    registry, _ = notes
    cached_twice(conn, registry=registry)
    where(conn, db_path, CHANGES[change])
    copy = db_path.with_name("copy.sqlite")
    shutil.copy(db_path, copy)
    expected = uncached(copy, registry=registry)  # what a run without cache does on the same database
    assert outcome(lambda: run_agent_migrations(conn, registry=registry)) == expected


def test_the_same_rows_written_again_are_the_same_answer(conn: sqlite3.Connection, notes) -> None:
    """What the cache compares is the history itself: rows rewritten as they were change nothing."""
    registry, _ = notes
    cached_twice(conn, registry=registry)
    conn.execute("UPDATE refinery_schema_history SET name = name")
    conn.commit()
    assert run_agent_migrations(conn, registry=registry).statements == CACHED


ARGUMENTS = [
    {"target": 3},
    {"target": 100},
    {"agents": []},
    {"agents": ["notes"]},
    {"lock_timeout": 1.0},
    {"dry_run": True},
]


@pytest.mark.parametrize("arguments", ARGUMENTS, ids=[str(a) for a in ARGUMENTS])
def test_other_arguments_are_never_answered_from_another_runs_answer(
    conn: sqlite3.Connection, db_path: Path, agent_package: Callable[..., str], arguments: dict
) -> None:
    notes_package = agent_package({"V100__create_notes": NOTES})
    tags_package = agent_package({"V50__create_tags": TAGS})
    settle_package(notes_package)
    settle_package(tags_package)
    registry = registry_of(notes=notes_package, tags=tags_package)
    run_agent_migrations(conn, registry=registry, agents=["notes"], target=3)
    cached_twice(conn, registry=registry, agents=["notes"], target=3)
    copy = db_path.with_name("copy.sqlite")
    shutil.copy(db_path, copy)
    expected = uncached(copy, registry=registry, **{"agents": ["notes"], "target": 3, **arguments})
    got = outcome(lambda: run_agent_migrations(conn, registry=registry, **{"agents": ["notes"], "target": 3, **arguments}))
    assert got == expected


def test_another_registry_is_another_question(conn: sqlite3.Connection, db_path: Path, notes, agent_package) -> None:
    registry, _ = notes
    cached_twice(conn, registry=registry)
    other = registry_of(notes=agent_package({"V100__create_notes": NOTES + " -- another"}))
    assert outcome(lambda: run_agent_migrations(conn, registry=other)) == uncached(db_path, registry=other)
    assert uncached(db_path, registry=other)[0] == "DivergentMigrationError"


def test_an_answer_never_stands_for_another_connection(conn: sqlite3.Connection, db_path: Path, notes, tmp_path: Path) -> None:
    """A connection created where a closed one was (same ``id``) is told apart by the token function."""
    registry, _ = notes
    cached_twice(conn, registry=registry)
    other_path = tmp_path / "other.sqlite"
    shutil.copy(db_path, other_path)
    other = sqlite3.connect(other_path)
    try:
        NO_OP_CACHE._answers[id(other)] = NO_OP_CACHE._answers[id(conn)]  # as if ``other`` had ``conn``'s id
        report = run_agent_migrations(other, registry=registry)
        assert report.applied == () and report.statements == 5, "not answered from conn's answer"
    finally:
        other.close()


def test_a_connection_in_a_transaction_is_refused_as_without_cache(conn: sqlite3.Connection, db_path: Path, notes) -> None:
    registry, _ = notes
    cached_twice(conn, registry=registry)
    conn.execute("BEGIN")
    assert outcome(lambda: run_agent_migrations(conn, registry=registry))[0] == "ConnectionStateError"
    conn.rollback()


def test_a_closed_connection_is_refused_as_without_cache(conn: sqlite3.Connection, notes) -> None:
    registry, _ = notes
    cached_twice(conn, registry=registry)
    conn.close()
    assert outcome(lambda: run_agent_migrations(conn, registry=registry))[0] == "ConnectionStateError"


def test_not_installed_rows_are_still_logged(conn: sqlite3.Connection, notes, caplog: pytest.LogCaptureFixture) -> None:
    registry, _ = notes
    run_agent_migrations(conn, registry=registry)
    core_only = AgentRegistry([])
    cached_twice(conn, registry=core_only)
    with caplog.at_level(logging.INFO, logger="nocodo_agents"):
        report = run_agent_migrations(conn, registry=core_only)
    assert report.statements == CACHED and [r.version for r in report.not_installed] == [100]
    assert "V100__create_notes is applied but no requested agent provides it" in caplog.text


def test_the_standard_library_directories_are_not_looked_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Python's own directories (of ``os``, ``lib-dynload``, ``python3X.zip``) receive no install: never stat-ed.

    Every other ``sys.path`` entry is, so an install there changes the stamp.
    """
    from nocodo_agents.agent_entries import UNSTAMPED, standard_library_entries, sys_path_stamp

    stdlib = os.path.dirname(os.__file__)
    assert {stdlib, os.path.join(stdlib, "lib-dynload")} <= standard_library_entries()
    site = tmp_path / "site"
    site.mkdir()
    settle(site)
    monkeypatch.setattr(sys, "path", [stdlib, str(site), os.path.join(stdlib, "lib-dynload")])
    looked_at: list = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: looked_at.append(path) or real_stat(path, *a, **k))
    before = sys_path_stamp()
    assert looked_at == [str(site)]
    assert before == ((stdlib, UNSTAMPED), (str(site), AN_HOUR_AGO_NS[0]), (os.path.join(stdlib, "lib-dynload"), UNSTAMPED))
    (site / "notes_agent-1.0.dist-info").mkdir()
    assert sys_path_stamp() != before
