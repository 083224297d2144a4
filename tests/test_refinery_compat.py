"""Sharing one SQLite file with Rust refinery 0.9, replaying refinery's own SQL.

refinery's statements are copied from refinery_core/src/traits/mod.rs: the
table it creates, the SELECT it reads history with, and the INSERT (four
named columns) it appends with.
"""

import re
import sqlite3

import pytest
from conftest import registry_of

from nocodo_agents import DivergentMigrationError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import checksum, run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.loading import load_migrations

REFINERY_CREATE = """CREATE TABLE IF NOT EXISTS refinery_schema_history(
             version INT4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));"""
REFINERY_SELECT = "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version ASC;"
# RFC 3339 date-time as the `time` crate's well-known Rfc3339 parser accepts it.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def refinery_insert(version: int, name: str, sql: str) -> str:
    """refinery's insert_migration_query, formatted as refinery formats it."""
    return (
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"({version}, '{name}', '2024-03-01T10:00:00.123456789Z', '{checksum(name, version, sql)}')"
    )


def refinery_reads_without_divergence(connection: sqlite3.Connection, migrations) -> None:
    """What refinery does on start: read rows, parse applied_on and checksum, verify."""
    by_version = {m.version: m for m in migrations}
    for version, name, applied_on, stored in connection.execute(REFINERY_SELECT).fetchall():
        assert isinstance(version, int)
        assert RFC3339.match(applied_on), applied_on
        value = int(stored)
        assert 0 <= value < 2**64
        migration = by_version[version]
        assert (name, value) == (migration.name, checksum(migration.name, version, migration.sql("sqlite")))


def test_a_database_migrated_here_is_accepted_by_refinery(conn) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    core = load_migrations("nocodo_agents.database.migrations")
    refinery_reads_without_divergence(conn, core)
    # refinery appends a migration of its own, naming only its four columns.
    conn.execute(refinery_insert(50, "rust_side", "CREATE TABLE rust_side (id int);"))
    conn.commit()
    assert conn.execute("SELECT agent FROM refinery_schema_history WHERE version = 50").fetchone() == (None,)
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.applied == () and [r.version for r in report.not_installed] == [50]


def test_a_history_table_created_by_refinery_is_used_as_it_is(conn, agent_package) -> None:
    core = load_migrations("nocodo_agents.database.migrations")
    conn.executescript(REFINERY_CREATE)
    for migration in core:  # a Rust application embedding the same SQL applied V1-V3
        conn.executescript(migration.sql("sqlite"))
        conn.execute(refinery_insert(migration.version, migration.name, migration.sql("sqlite")))
    conn.commit()
    qna = agent_package({"V4__create_qna": "CREATE TABLE qna (id INTEGER);"})
    report = run_agent_migrations(conn, registry=registry_of(qna=qna))
    assert report.versions == (4,) and report.adopted == ()
    rows = conn.execute("SELECT version, applied_on, agent FROM refinery_schema_history ORDER BY version").fetchall()
    assert [(v, a) for v, _, a in rows] == [(1, None), (2, None), (3, None), (4, "qna")]
    assert rows[0][1] == "2024-03-01T10:00:00.123456789Z", "refinery's rows are kept as they were"
    refinery_reads_without_divergence(conn, [*core, *load_migrations(qna)])


def test_history_from_the_original_rust_crate_is_divergent_and_points_to_repair(conn) -> None:
    original_sql = "CREATE TABLE IF NOT EXISTS agent_sessions (id INTEGER PRIMARY KEY);"
    conn.executescript(REFINERY_CREATE)
    conn.executescript(original_sql)
    conn.execute(refinery_insert(1, "create_agent_sessions", original_sql))
    conn.commit()
    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(conn, registry=AgentRegistry([]))
    message = str(raised.value)
    assert "V1" in message and "refinery" in message and "repair_history(conn)" in message
    assert "`nocodo-agents repair` to re-record the checksums" in hint_for(raised.value)
    assert raised.value.recorded_agent is None
    assert conn.execute("SELECT COUNT(*) FROM refinery_schema_history").fetchone() == (1,)
