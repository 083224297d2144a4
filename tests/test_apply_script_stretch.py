"""SQLite's scripts sent back to back: a stretch of migrations prepared in chunks, each still its own transaction.

With no progress callback the run prepares the scripts of up to 64 pending
migrations in one go, then sends them one after the other, each guarded and
committed on its own (``tests/test_apply_one_script.py`` covers one script's
failures). These tests prove what the chunks must not change: a migration the
script cannot carry, anywhere in a chunk, goes the per-statement way in its
place in the order; what committed before a failure stays in the history and
in what the run reports; each migration is logged as it commits; a progress
callback hears of each migration as it commits (what it writes through the connection is seen).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

import pytest
from conftest import history
from test_apply_one_script import FAILING, Hooked, connect, lock_held_before_script, registry_of, tables  # noqa: F401 (connect: a fixture)

from nocodo_agents import LockTimeoutError, MigrationFailedError, MigrationStep, run_agent_migrations
from nocodo_agents.migration import Migration

HISTORY_INSERT = "INSERT INTO main.refinery_schema_history"


def many_with_unscriptable(first: int, count: int, every: int) -> list[Migration]:
    """``count`` migrations from version ``first``; every ``every``-th fills a table (an ``INSERT``: no script)."""
    migrations = []
    for version in range(first, first + count):
        if (version - first) % every == every - 1:
            migrations.append(Migration(version, f"fill_{version}", f"INSERT INTO g_{first} VALUES ({version})"))
        else:
            migrations.append(Migration(version, f"create_g_{version}", f"CREATE TABLE g_{version} (id INTEGER)"))
    return migrations


def test_unscriptable_migrations_anywhere_in_the_chunks_run_in_their_place(connect: Callable[[], Hooked]) -> None:
    conn = connect()
    migrations = many_with_unscriptable(100, 200, every=37)  # 5 INSERTs, at chunk offsets that differ
    report = run_agent_migrations(conn, registry=registry_of(*migrations))
    versions = [m.version for m in migrations]
    assert report.versions == (1, 2, 3, *versions)
    assert [row[0] for row in history(conn)] == [1, 2, 3, *versions]
    filled = [row[0] for row in conn.execute("SELECT id FROM g_100 ORDER BY rowid")]
    assert filled == [v for v in versions if (v - 100) % 37 == 36], "each INSERT ran once, in version order"
    assert not conn.failed
    assert all(script.count(HISTORY_INSERT) == 1 for script in conn.scripts), "one migration per script: each its own transaction"
    scripted = [v for v in versions if (v - 100) % 37 != 36]
    assert sum(f"CREATE TABLE g_{v} " in script for script in conn.scripts for v in scripted[-3:]) == 3
    assert all(after[:3] == ["SELECT changes()", "PRAGMA data_version", "COMMIT"] for after in conn.after_scripts()), "each row checked, guarded, then committed"


def test_a_failure_inside_a_chunk_keeps_what_committed_before_it(connect: Callable[[], Hooked]) -> None:
    """V103 fails in the chunk's fourth script: V100-V102 committed (one script each) and stay; nothing of V103 does."""
    conn = connect()
    with pytest.raises(MigrationFailedError) as caught:
        run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102), FAILING, *tables(104, 105)))
    assert caught.value.version == 103
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    assert not any("g_104" in script for script in conn.scripts), "nothing after the failing migration was sent"


def test_readers_holding_a_commit_past_the_lock_timeout_name_what_committed_before_it(
    connect: Callable[[], Hooked], tmp_path: Path
) -> None:
    """V101's COMMIT meets a reader for longer than the lock timeout: the error lists the migrations committed before it."""
    conn = connect()
    # scripts: V3, V100, V101 (V1 and V2 go with the first look and the full guard)
    threads = lock_held_before_script(conn, 3, tmp_path / "scripted.sqlite", "BEGIN", 3)
    try:
        with pytest.raises(LockTimeoutError) as caught:
            run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)), lock_timeout=0.3)
    finally:
        for thread in threads:
            thread.join()
    message = str(caught.value)
    assert all(f"V{v}__" in message for v in (1, 2, 3, 100)) and "V101__" not in message, message
    assert "it was rolled back" in message
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100]
    assert not conn.in_transaction
    assert run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102))).versions == (101, 102)


def test_each_migration_is_logged_as_it_commits(connect: Callable[[], Hooked], caplog: pytest.LogCaptureFixture) -> None:
    """With INFO logged, each script is prepared and sent alone, so its line comes before the next script is sent."""
    conn = connect()
    logged_before: dict[int, str] = {}
    for index in range(2, 6):
        conn.before_script[index] = lambda index=index: logged_before.__setitem__(index, caplog.text)  # type: ignore[misc]
    with caplog.at_level(logging.INFO, logger="nocodo_agents"):
        report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102, 103)))
    assert report.versions == (1, 2, 3, 100, 101, 102, 103)
    # scripts: V3, V100, V101, V102, V103: the one before the n-th script is logged when it is sent
    for index, version in zip(range(2, 6), (3, 100, 101, 102)):
        assert f"applied V{version}__" in logged_before[index], f"V{version} was logged before the next script"
        assert f"applied V{100 if version == 3 else version + 1}__" not in logged_before[index], "and the next one was not"
    logged = [re.match(r"applied V(\d+)__", record.getMessage()) for record in caplog.records]
    assert [int(match.group(1)) for match in logged if match] == [1, 2, 3, 100, 101, 102, 103], "each once, in order"


def test_a_progress_callback_hears_of_each_migration_as_it_commits(connect: Callable[[], Hooked]) -> None:
    """The callback may read through the connection: each migration is committed and in the history when it hears of it."""
    conn = connect()
    heard: list[tuple[int, list[int]]] = []

    def progress(step: MigrationStep) -> None:
        heard.append((step.version, [row[0] for row in history(conn)]))

    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)), progress=progress)
    assert [version for version, _ in heard] == [1, 2, 3, 100, 101, 102]
    assert all(seen[-1] == version for version, seen in heard), "each heard of once committed, before the next ran"
    assert report.versions == (1, 2, 3, 100, 101, 102)
    assert [script.count(HISTORY_INSERT) for script in conn.scripts] == [1] * 4, "V3 on: a script each, the callback between"


def test_a_progress_callback_writing_through_the_connection_makes_the_next_guard_read_the_history(connect: Callable[[], Hooked]) -> None:
    """SQLite's data_version does not show the connection's own writes: a row the callback wrote is seen by its change count."""
    conn = connect()

    def progress(step: MigrationStep) -> None:
        if step.version == 100:
            conn.execute("INSERT INTO g_100 VALUES (1)")
            conn.commit()

    report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)), progress=progress)
    assert report.versions == (1, 2, 3, 100, 101, 102)
    scripted = [version for version in (3, 100, 101, 102) if any(f"VALUES ({version}, " in script for script in conn.scripts)]
    assert scripted == [3, 100, 102], "V101 went the per-statement way, its guard reading the history after the callback's write"
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    assert conn.execute("SELECT id FROM g_100").fetchall() == [(1,)]
