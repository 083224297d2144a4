"""64-bit versions under attack: another runner widening meanwhile, SQLite's INT4 table holding 64-bit versions,
versions at the edges of both ranges, and what a Rust application built with refinery's int8-versions reads back.

Run on a SQLite file and the private PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import registry_of
from int8_support import REFINERY_APPLIED_ON, TIMESTAMP, Db, call, db_for, expected_checksum, refinery_verify, sqlite_db
from lock_waits import lock_wait_logged

from nocodo_agents import HistoryTableError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations, verify_database
from nocodo_agents.loading import load_migrations
from nocodo_agents.migration import Migration
from nocodo_agents.status import migration_status

CORE = "nocodo_agents.database.migrations"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return db_for(request, tmp_path)


def installed(registry: AgentRegistry) -> list[Migration]:
    return [m for s in registry.requested_sets(None) for m in s.migrations]


def checksums_are_int8(db: Db, registry: AgentRegistry) -> None:
    by_version = {m.version: m for m in installed(registry)}
    for version, name, stored, _ in db.history():
        assert stored == expected_checksum(by_version[version], db.dialect, True), (version, name, "not the i64 encoding")


def widen_by_hand(db: Db, cursor: Any, migrations: list[Migration]) -> None:
    """What another runner's widening leaves: the column 64-bit, every row's checksum in the i64 encoding."""
    if db.dialect == "sqlite":
        cursor.execute(
            "CREATE TABLE wide (version INT8 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255), agent VARCHAR(255))"
        )
        cursor.execute("INSERT INTO wide SELECT version, name, applied_on, checksum, agent FROM refinery_schema_history")
        cursor.execute("DROP TABLE refinery_schema_history")
        cursor.execute("ALTER TABLE wide RENAME TO refinery_schema_history")
    elif db.dialect == "postgresql":
        cursor.execute("ALTER TABLE refinery_schema_history ALTER COLUMN version TYPE int8")
    else:
        cursor.execute("ALTER TABLE refinery_schema_history MODIFY version BIGINT NOT NULL")
    for m in migrations:
        cursor.execute(
            f"UPDATE refinery_schema_history SET checksum = '{expected_checksum(m, db.dialect, True)}' WHERE version = {m.version}"
        )


class LockHolder:
    """Another runner holding the migration lock on a connection of its own (the dialect's own lock)."""

    def __init__(self, db: Db) -> None:
        self.db = db
        if db.dialect == "sqlite":
            import sqlite3

            self.connection = sqlite3.connect(db.url[len("sqlite:///"):], isolation_level=None)
            self.cursor = self.connection.cursor()
            self.cursor.execute("BEGIN IMMEDIATE")
        else:
            self.connection = db.connect()
            self.cursor = self.connection.cursor()
            if db.dialect == "postgresql":
                from nocodo_agents.dialects.postgresql.lock import LOCK_KEY

                self.cursor.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
            else:
                from nocodo_agents.dialects.mysql import migration_lock_name

                self.cursor.execute("SELECT DATABASE()")
                self.lock = migration_lock_name(self.cursor.fetchone()[0])
                self.cursor.execute("SELECT GET_LOCK(%s, 0)", (self.lock,))
                assert self.cursor.fetchone()[0] == 1

    def release(self) -> None:
        if self.db.dialect == "sqlite":
            self.cursor.execute("COMMIT")
        else:
            self.connection.commit()
            if self.db.dialect == "mysql":
                self.cursor.execute("SELECT RELEASE_LOCK(%s)", (self.lock,))
        self.connection.close()


def test_a_history_another_runner_widened_while_this_one_waited_gets_i64_checksums(db: Db, agent_package) -> None:
    """This run read a 32-bit history and plans a 32-bit version; under the lock it finds the history widened by
    another runner (same rows, same versions): what it records must be in the i64 encoding, or a Rust application
    built with int8-versions refuses the row as divergent."""
    small = agent_package({"V4__create_small": "CREATE TABLE small (id INT)"})
    five = agent_package({"V5__create_five": "CREATE TABLE five (id INT)"})
    call(db, run_agent_migrations, registry=registry_of(small=small))
    registry = registry_of(small=small, five=five)
    holder = LockHolder(db)
    outcome: dict[str, Any] = {}

    def runner() -> None:
        try:
            outcome["report"] = call(db, run_agent_migrations, registry=registry, lock_timeout=60)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    with lock_wait_logged() as waiting:
        thread = threading.Thread(target=runner)
        thread.start()
        try:
            assert waiting.wait(60), "the runner waits for the lock, having read a 32-bit history"
            widen_by_hand(db, holder.cursor, [*load_migrations(CORE), *load_migrations(small)])
        finally:
            holder.release()
        thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].versions == (5,)
    assert db.is_64_bit()
    checksums_are_int8(db, registry)
    assert refinery_verify(db, installed(registry)) == []


def test_a_sqlite_int4_history_holding_a_64_bit_version_stays_64_bit_after_a_rollback(tmp_path: Path, agent_package) -> None:
    """refinery with int8-versions appended a timestamp version to the INT4 table an application without it created;
    this library reads that history as 64-bit and records i64 checksums in it. Rolling the timestamp version back
    must not turn it 32-bit again (every i64 checksum would then diverge): a 64-bit history stays 64-bit."""
    db = sqlite_db(tmp_path)
    notes = agent_package({
        f"V{TIMESTAMP}__create_notes": "def migration(dialect):\n    return 'CREATE TABLE notes (id INT)'\n\n\n"
        "def rollback(dialect):\n    return 'DROP TABLE notes'\n",
    })
    small = agent_package({"V4__create_small": "CREATE TABLE small (id INT)"})
    core = load_migrations(CORE)
    db.refinery_history(int8=False, migrations=[])
    db.run(*(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"({m.version}, '{m.name}', '{REFINERY_APPLIED_ON}', '{expected_checksum(m, 'sqlite', True)}')"
        for m in [*core, *load_migrations(notes)]
    ), *(s for m in [*core, *load_migrations(notes)] for s in m.sql("sqlite").split(";") if s.strip()))
    registry = registry_of(notes=notes, small=small)
    assert call(db, run_agent_migrations, registry=registry).versions == (4,)
    checksums_are_int8(db, registry)
    rolled = call(db, rollback_migrations, 4, registry=registry)
    assert [s.version for s in rolled.rolled_back] == [TIMESTAMP]
    assert [r.state for r in call(db, migration_status, registry=registry)] == ["applied"] * 4 + ["pending"]
    assert call(db, verify_database, registry=registry).ok
    assert call(db, run_agent_migrations, registry=registry).versions == (TIMESTAMP,)
    assert refinery_verify(db, installed(registry)) == []


EDGES = (2**31 - 1, 2**31, 2**63 - 1)


def test_versions_at_the_edges_of_both_ranges(db: Db, agent_package) -> None:
    """2**31 - 1 fits refinery's i32 (the history stays 32-bit), 2**31 is the first that does not, 2**63 - 1 the
    last i64; a Rust application built with int8-versions accepts every row, before and after a rollback to 0 (an
    empty history that stays 64-bit)."""
    edges = agent_package({
        f"V{v}__edge_{i}": f"def migration(dialect):\n    return 'CREATE TABLE edge_{i} (id INT)'\n\n\n"
        f"def rollback(dialect):\n    return 'DROP TABLE edge_{i}'\n"
        for i, v in enumerate(EDGES)
    })
    registry = registry_of(edges=edges)
    report = call(db, run_agent_migrations, registry=registry, target=2**31 - 1)
    assert report.versions == (1, 2, 3, 2**31 - 1)
    assert not db.is_64_bit(), "2**31 - 1 fits refinery's INT4"
    assert call(db, verify_database, registry=registry).ok
    assert call(db, run_agent_migrations, registry=registry).versions == (2**31, 2**63 - 1)
    assert db.is_64_bit()
    checksums_are_int8(db, registry)
    assert refinery_verify(db, installed(registry)) == []
    rows = call(db, migration_status, registry=registry)
    assert [r.version for r in rows] == [1, 2, 3, *EDGES] and {r.state for r in rows} == {"applied"}
    rolled = call(db, rollback_migrations, 0, registry=registry)
    assert [s.version for s in rolled.rolled_back] == [2**63 - 1, 2**31, 2**31 - 1, 3, 2, 1]
    assert db.is_64_bit() and db.history() == [], "an empty history stays 64-bit"
    assert call(db, run_agent_migrations, registry=registry).versions == (1, 2, 3, *EDGES)
    checksums_are_int8(db, registry)
    assert refinery_verify(db, installed(registry)) == []
    assert call(db, run_agent_migrations, registry=registry).applied == ()


def test_widening_a_history_a_view_reads(db: Db, agent_package) -> None:
    """An operator's view over the history (a dashboard of applied versions) and a trigger of another table reading
    it: widening keeps both working, or says what stops it and changes nothing."""
    small = agent_package({"V4__create_small": "CREATE TABLE small (id INT)"})
    notes = agent_package({f"V{TIMESTAMP}__create_notes": "CREATE TABLE notes (id INT)"})
    call(db, run_agent_migrations, registry=registry_of(small=small))
    db.run("CREATE VIEW applied_versions AS SELECT version, name FROM refinery_schema_history")
    registry = registry_of(small=small, notes=notes)
    if db.dialect == "postgresql":  # it cannot change the type of a column a view uses: said before anything changes
        before = db.history()
        with pytest.raises(HistoryTableError) as raised:
            call(db, run_agent_migrations, registry=registry)
        message = str(raised.value)
        assert "applied_versions" in message and "nothing was changed" in message and "drop the view" in message, message
        assert db.history() == before and not db.is_64_bit()
        db.run("DROP VIEW applied_versions")
        assert call(db, run_agent_migrations, registry=registry).versions == (TIMESTAMP,)
        db.run("CREATE VIEW applied_versions AS SELECT version, name FROM refinery_schema_history")
    else:
        db.run("CREATE TABLE audit (id INT)")
        db.run(
            "CREATE TRIGGER audit_reads AFTER INSERT ON audit BEGIN SELECT COUNT(*) FROM refinery_schema_history; END"
            if db.dialect == "sqlite" else
            "CREATE TRIGGER audit_reads AFTER INSERT ON audit FOR EACH ROW SET @n = (SELECT COUNT(*) FROM refinery_schema_history)"
        )
        assert call(db, run_agent_migrations, registry=registry).versions == (TIMESTAMP,)
        db.run("INSERT INTO audit VALUES (1)")
    assert db.is_64_bit()
    checksums_are_int8(db, registry)
    assert refinery_verify(db, installed(registry)) == []
    assert [v for v, _ in db.rows("SELECT version, name FROM applied_versions ORDER BY version")] == [1, 2, 3, 4, TIMESTAMP]
