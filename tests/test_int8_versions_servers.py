"""Widening on the servers: atomic on PostgreSQL, in two recoverable steps on MariaDB; MariaDB's journal takes 64-bit versions.

A CHECK constraint the operator put on the history table refuses the
re-recorded checksums, which stops a widening between its ALTER and its
UPDATEs: PostgreSQL rolls both back, MariaDB (whose ALTER commits by itself)
keeps the 64-bit column, and its 32-bit rows are accepted and re-recorded by
the next run that changes anything, as after a crash at that point (rows of
an installed agent that run did not request included).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import registry_of
from int8_support import TIMESTAMP, Db, db_for, expected_checksum, mariadb_db, migrate

from nocodo_agents import HistoryTableError, MigrationFailedError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.history import JOURNAL_TABLE
from nocodo_agents.loading import load_migrations
from nocodo_agents.status import NEEDS_RERECORDING, migration_status


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return db_for(request, tmp_path)


@pytest.mark.parametrize("agents", [None, ["notes"]], ids=["every agent", "notes alone: small installed, not requested"])
def test_a_widening_stopped_between_its_alter_and_its_checksums(db: Db, agent_package, agents) -> None:  # type: ignore[no-untyped-def]
    small = agent_package({"V4__create_small": "CREATE TABLE small (id INT)"})
    notes = agent_package({f"V{TIMESTAMP}__create_notes": "CREATE TABLE notes (id INT)"})
    migrate(db, registry_of(small=small))
    before = db.history()
    allowed = ", ".join(f"'{c}'" for _, _, c, _ in before)
    db.run(f"ALTER TABLE refinery_schema_history ADD CONSTRAINT only_old CHECK (checksum IN ({allowed}))")
    registry = registry_of(small=small, notes=notes)
    with pytest.raises(HistoryTableError):
        migrate(db, registry, agents)
    assert db.history() == before
    here = "current_schema()" if db.dialect == "postgresql" else "DATABASE()"
    assert db.rows(f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {here} AND table_name = 'notes'")[0][0] == 0
    if db.dialect == "postgresql":
        assert not db.is_64_bit(), "ALTER ... TYPE int8 and the checksums commit together, or neither"
    else:
        assert db.is_64_bit(), "MariaDB's MODIFY commits by itself"
        connection = db.connect()
        try:
            states = [row.state for row in migration_status(connection, registry=registry_of(small=small))]
        finally:
            connection.close()
        assert states == [NEEDS_RERECORDING] * 4
    db.run("ALTER TABLE refinery_schema_history DROP CONSTRAINT only_old")
    assert migrate(db, registry, agents).versions == (TIMESTAMP,)
    assert db.is_64_bit()
    installed = {m.version: m for m in [*load_migrations("nocodo_agents.database.migrations"), *load_migrations(small), *load_migrations(notes)]}
    assert [c for _, _, c, _ in db.history()] == [expected_checksum(installed[v], db.dialect, True) for v, _, _, _ in db.history()]


def test_mariadb_journal_of_an_earlier_release_takes_a_64_bit_version(mariadb_server, mariadb_database, agent_package) -> None:
    db = mariadb_db(mariadb_server, mariadb_database)
    db.run(  # the journal as releases before 64-bit versions created it
        f"CREATE TABLE {JOURNAL_TABLE} (version INT PRIMARY KEY, name VARCHAR(255), agent VARCHAR(255), statements INT, "
        "next_statement INT, failed_statement INT NULL, error TEXT NULL, started_on VARCHAR(64), direction VARCHAR(16) NULL"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    notes = agent_package({f"V{TIMESTAMP}__create_notes": "CREATE TABLE notes (id INT); CREATE TABLE missing_fk (id INT, FOREIGN KEY (id) REFERENCES nowhere (id))"})
    connection = db.connect()
    try:
        with pytest.raises(MigrationFailedError) as raised:
            run_agent_migrations(connection, registry=registry_of(notes=notes))
    finally:
        connection.close()
    assert (raised.value.version, raised.value.statement_index) == (TIMESTAMP, 1)
    assert db.rows(f"SELECT version, next_statement FROM {JOURNAL_TABLE}") == [(TIMESTAMP, 1)], "journalled in full"
    assert db.rows(
        f"SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{JOURNAL_TABLE}' "
        "AND COLUMN_NAME = 'version'"
    ) == [("bigint",)]
