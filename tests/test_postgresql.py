"""run_agent_migrations and the lifecycle against a real, private PostgreSQL server (and PgBouncer)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import psycopg
import pytest
from conftest import registry_of
from fleet import assert_each_applied_once, run_fleet
from servers import PgBouncer, PostgresServer

from nocodo_agents import (
    ConnectionStateError,
    DivergentMigrationError,
    ForeignKeyViolationError,
    InvalidMigrationError,
    LockTimeoutError,
    MigrationFailedError,
)
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations, verify_database

_names = itertools.count()


@pytest.fixture
def server(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


@pytest.fixture
def bouncer(pgbouncer: PgBouncer) -> PgBouncer:
    return pgbouncer


@pytest.fixture
def database(server: PostgresServer) -> str:
    name = f"test_{next(_names)}"
    server.create_database(name)
    return name


@pytest.fixture
def conn(server: PostgresServer, database: str) -> Iterator[psycopg.Connection]:
    connection = psycopg.connect(server.dsn(database))
    yield connection
    connection.close()


def qna_registry() -> AgentRegistry:
    import nocodo_agents_requirements_qna.plugin as plugin

    return AgentRegistry.from_plugins({"requirements_qna": plugin}, distribution="nocodo-agents-requirements-qna")


def tables(connection: psycopg.Connection) -> set:
    rows = connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()
    connection.rollback()
    return {r[0] for r in rows}


def versions(connection: psycopg.Connection) -> list:
    rows = connection.execute("SELECT version FROM refinery_schema_history ORDER BY version").fetchall()
    connection.rollback()
    return [r[0] for r in rows]


def test_a_no_op_sends_two_statements_and_leaves_no_transaction(conn) -> None:
    """The history's columns, then its rows: no lock, no transaction left open, one round trip each."""
    assert run_agent_migrations(conn, registry=qna_registry()).versions == (1, 2, 3, 4)
    for _ in range(2):  # never cached: each no-op reads the history again
        again = run_agent_migrations(conn, registry=qna_registry())
        assert again.applied == () and again.statements == 2
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_fresh_migrate_creates_a_working_schema(conn) -> None:
    report = run_agent_migrations(conn, registry=qna_registry())
    assert report.dialect == "postgresql" and report.versions == (1, 2, 3, 4)
    assert {"agent_sessions", "agent_messages", "agent_tool_calls", "project_requirements_qna", "refinery_schema_history"} <= tables(conn)
    with conn.transaction():
        session = conn.execute(
            "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) "
            "VALUES ('a', 'p', 'm', 'u', 1) RETURNING id, status"
        ).fetchone()
        assert session[1] == "running"
        message = conn.execute(
            "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (%s, 'user', 'hi', 1) RETURNING id",
            (session[0],),
        ).fetchone()
        conn.execute(
            "INSERT INTO agent_tool_calls (session_id, message_id, tool_call_id, tool_name, request, created_at) "
            "VALUES (%s, %s, 'c', 't', '{}', 1)",
            (session[0], message[0]),
        )
        conn.execute("INSERT INTO project_requirements_qna (session_id, question_id, question, created_at) VALUES (%s, 'q', 'Q?', 1)", (session[0],))
        conn.execute("DELETE FROM agent_messages")
        assert conn.execute("SELECT message_id FROM agent_tool_calls").fetchone() == (None,)
        conn.execute("DELETE FROM agent_sessions")
        assert conn.execute("SELECT COUNT(*) FROM project_requirements_qna").fetchone() == (0,)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'robot', 'x', 1)")
    conn.rollback()
    assert run_agent_migrations(conn, registry=qna_registry()).applied == ()
    assert versions(conn) == [1, 2, 3, 4]


def test_history_is_readable_by_refinery(conn) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    types = dict(conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'refinery_schema_history'"
    ).fetchall())
    assert types["version"] == "integer" and types["checksum"] == "character varying"
    row = conn.execute("SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version ASC").fetchone()
    conn.rollback()
    assert row[0] == 1 and row[1] == "create_agent_sessions" and row[2].endswith("Z") and int(row[3]) < 2**64


def test_refinery_created_history_table_is_used_as_is(conn, agent_package) -> None:
    with conn.transaction():
        conn.execute(
            "CREATE TABLE IF NOT EXISTS refinery_schema_history(version INT4 PRIMARY KEY, name VARCHAR(255), "
            "applied_on VARCHAR(255), checksum VARCHAR(255))"
        )
        conn.execute("CREATE TABLE rust_side (id int)")
        conn.execute("INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (900, 'rust_side', '2024-01-01T00:00:00Z', '1')")
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.versions == (1, 2, 3) and [r.version for r in report.not_installed] == [900]
    assert conn.execute("SELECT agent FROM refinery_schema_history WHERE version = 900").fetchone() == (None,)
    conn.rollback()


def test_agent_installed_later_is_out_of_order(conn, agent_package) -> None:
    early = agent_package({"V10__early": "CREATE TABLE early (id BIGINT);"})
    late = agent_package({"V5__late": "CREATE TABLE late (id BIGINT);"})
    run_agent_migrations(conn, registry=registry_of(early=early))
    report = run_agent_migrations(conn, registry=registry_of(early=early, late=late))
    assert report.versions == (5,) and report.applied[0].out_of_order


def test_divergent_file(conn, agent_package) -> None:
    run_agent_migrations(conn, registry=registry_of(a=agent_package({"V5__a": "CREATE TABLE a (id BIGINT);"})))
    with pytest.raises(DivergentMigrationError, match="V5 of agent 'a'"):
        run_agent_migrations(conn, registry=registry_of(a=agent_package({"V5__a": "CREATE TABLE a (id BIGINT, x INT);"})))


def test_failing_migration_leaves_no_trace(conn, agent_package) -> None:
    failing = "CREATE TABLE half (id BIGINT);\nCREATE INDEX half_id ON half (id);\nINSERT INTO missing_table VALUES (1);\n"
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry_of(f=agent_package({"V5__fails": failing})))
    error = raised.value
    assert error.statement_index == 2 and "missing_table" in error.statement and error.rolled_back
    assert isinstance(error.__cause__, psycopg.errors.UndefinedTable)
    assert "half" not in tables(conn) and versions(conn) == [1, 2, 3]


def test_deferred_foreign_key_violation_names_the_migration(conn, agent_package) -> None:
    """A DEFERRABLE INITIALLY DEFERRED key is checked at the end of the migration, not at COMMIT without a name."""
    sql = (
        "CREATE TABLE parent (id INT PRIMARY KEY);\n"
        "CREATE TABLE child (id INT, parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO child VALUES (1, 42);\n"
    )
    with pytest.raises(ForeignKeyViolationError) as raised:
        run_agent_migrations(conn, registry=registry_of(d=agent_package({"V5__orphans": sql})))
    error = raised.value
    assert error.version == 5 and error.rolled_back and "V5__orphans" in str(error) and "child_parent_id_fkey" in str(error)
    assert "child" not in tables(conn) and versions(conn) == [1, 2, 3]


def test_deferred_unique_violation_names_the_migration(conn, agent_package) -> None:
    sql = (
        "CREATE TABLE tags (name TEXT, CONSTRAINT tags_name_key UNIQUE (name) DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO tags VALUES ('a'), ('a');\n"
    )
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry_of(d=agent_package({"V5__twice": sql})))
    error = raised.value
    assert error.version == 5 and error.rolled_back and "SET CONSTRAINTS ALL IMMEDIATE" in error.statement
    assert isinstance(error.__cause__, psycopg.errors.UniqueViolation)
    assert "tags" not in tables(conn) and versions(conn) == [1, 2, 3]


def test_deferred_checks_pass_when_the_migration_settles_them(conn, agent_package) -> None:
    sql = (
        "CREATE TABLE parent (id INT PRIMARY KEY);\n"
        "CREATE TABLE child (id INT, parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO child VALUES (1, 42);\n"
        "INSERT INTO parent VALUES (42);\n"
    )
    report = run_agent_migrations(conn, registry=registry_of(d=agent_package({"V5__settled": sql})))
    assert report.versions == (1, 2, 3, 5) and versions(conn) == [1, 2, 3, 5]


def test_sqlite_only_migration_names_the_file(conn, agent_package) -> None:
    package = agent_package({"V5__lite": "from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql(sqlite='CREATE TABLE x (id INTEGER);')\n"})
    with pytest.raises(InvalidMigrationError) as raised:
        run_agent_migrations(conn, registry=registry_of(lite=package))
    assert "V5__lite.py" in str(raised.value) and "no SQL for postgresql" in str(raised.value) and "supports: sqlite" in str(raised.value)


def test_open_transaction_is_refused(conn) -> None:
    conn.execute("SELECT 1")  # psycopg opens a transaction
    with pytest.raises(ConnectionStateError, match="commit or roll back"):
        run_agent_migrations(conn, registry=AgentRegistry([]))
    conn.rollback()
    assert conn.autocommit is False


def test_dry_run_creates_nothing(conn) -> None:
    report = run_agent_migrations(conn, registry=qna_registry(), dry_run=True)
    assert report.versions == (1, 2, 3, 4) and "GENERATED BY DEFAULT AS IDENTITY" in report.applied[0].sql
    assert tables(conn) == set()


def test_lock_wait_times_out_clearly(server, database, conn, caplog: pytest.LogCaptureFixture) -> None:
    holder = psycopg.connect(server.dsn(database))
    holder.execute("SELECT pg_advisory_xact_lock(hashtext('nocodo_agents.migrations'))")
    try:
        with pytest.raises(LockTimeoutError, match="postgresql migration lock within 0.3 s"), caplog.at_level(logging.INFO, logger="nocodo_agents"):
            run_agent_migrations(conn, registry=AgentRegistry([]), lock_timeout=0.3)
        assert f"waiting up to 0.3 s for another runner's migration lock on postgresql://postgres@127.0.0.1:{server.port}/{database}" in caplog.text
    finally:
        holder.rollback()
        holder.close()
    assert run_agent_migrations(conn, registry=AgentRegistry([])).versions == (1, 2, 3)


def test_create_index_concurrently_runs_outside_a_transaction(conn, agent_package) -> None:
    package = agent_package({
        "V5__table": "CREATE TABLE big (id BIGINT);",
        "V6__index": "def migration():\n    return 'CREATE INDEX CONCURRENTLY big_id ON big (id);'\n\ntransactional = False\n",
    })
    assert run_agent_migrations(conn, registry=registry_of(big=package)).versions == (1, 2, 3, 5, 6)
    assert conn.execute("SELECT indexname FROM pg_indexes WHERE indexname = 'big_id'").fetchone() == ("big_id",)
    conn.rollback()


def test_verify_and_rollback(conn) -> None:
    run_agent_migrations(conn, registry=qna_registry())
    clean = verify_database(conn, registry=qna_registry())
    assert clean.ok, [str(d) for d in clean.drift.differences]
    with conn.transaction():
        conn.execute("ALTER TABLE agent_sessions ADD COLUMN surprise INT")
        conn.execute("DROP INDEX idx_agent_messages_session_created")
        conn.execute("CREATE TABLE app_own (id INT)")
    drifted = verify_database(conn, registry=qna_registry())
    assert {(d.kind, d.key) for d in drifted.drift.differences} == {
        ("unexpected", "column agent_sessions.surprise"),
        ("missing", "index agent_messages.idx_agent_messages_session_created"),
    }
    assert "table app_own" in drifted.drift.unmanaged
    report = rollback_migrations(conn, 2, registry=qna_registry())
    assert [s.version for s in report.rolled_back] == [4, 3]
    assert versions(conn) == [1, 2] and "project_requirements_qna" not in tables(conn)


def test_sqlalchemy_engine_and_connection(server, database) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://{server.user}@{server.host}:{server.port}/{database}")
    try:
        assert run_agent_migrations(engine, registry=AgentRegistry([])).versions == (1, 2, 3)
        with engine.connect() as connection:
            assert run_agent_migrations(connection, registry=qna_registry()).versions == (4,)
    finally:
        engine.dispose()


@pytest.mark.parametrize("through_pgbouncer", [False, True], ids=["direct", "pgbouncer-transaction-pooling"])
def test_sixteen_runners_at_once(request, server, database, agent_package, through_pgbouncer: bool) -> None:
    package = agent_package({f"V{v}__fleet_{v}": f"CREATE TABLE fleet_{v} (id BIGINT);" for v in range(5, 15)})
    port = request.getfixturevalue("bouncer").port if through_pgbouncer else server.port
    dsn = server.dsn(database, port=port)
    outcomes = run_fleet(lambda: psycopg.connect(dsn), package)  # default prepare_threshold: the dialect must not prepare
    assert_each_applied_once(outcomes, [1, 2, 3, *range(5, 15)])
    with psycopg.connect(server.dsn(database)) as check:
        assert [r[0] for r in check.execute("SELECT version FROM refinery_schema_history ORDER BY version")] == [1, 2, 3, *range(5, 15)]


def test_repair_a_database_made_by_the_rust_crate(conn) -> None:
    from nocodo_agents.checksum import checksum
    from nocodo_agents.lifecycle import repair_history
    from nocodo_agents.loading import load_migrations

    with conn.transaction():
        conn.execute(
            "CREATE TABLE refinery_schema_history(version INT4 PRIMARY KEY, name VARCHAR(255), "
            "applied_on VARCHAR(255), checksum VARCHAR(255))"
        )
        for migration in load_migrations("nocodo_agents.database.migrations"):
            rust_sql = "-- the Rust crate's text\n" + migration.sql("postgresql")
            for statement in migration.sql("postgresql").split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, "2025-01-01T00:00:00Z", str(checksum(migration.name, migration.version, rust_sql))),
            )
    with pytest.raises(DivergentMigrationError, match="refinery"):
        run_agent_migrations(conn, registry=AgentRegistry([]))
    repaired = repair_history(conn, registry=AgentRegistry([]))
    assert [row.version for row in repaired.repaired] == [1, 2, 3]
    assert conn.info.transaction_status.name == "IDLE"
    rows = conn.execute("SELECT version, agent, applied_on FROM refinery_schema_history ORDER BY version").fetchall()
    conn.rollback()
    assert rows == [(1, "core", "2025-01-01T00:00:00Z"), (2, "core", "2025-01-01T00:00:00Z"), (3, "core", "2025-01-01T00:00:00Z")]
    assert run_agent_migrations(conn, registry=qna_registry()).versions == (4,)


def test_verify_replays_concurrent_index_migrations(conn, agent_package) -> None:
    package = agent_package({
        "V5__table": "CREATE TABLE big (id BIGINT);",
        "V6__index": "def migration():\n    return 'CREATE INDEX CONCURRENTLY IF NOT EXISTS big_id ON big (id);'\n\ntransactional = False\n",
    })
    run_agent_migrations(conn, registry=registry_of(big=package))
    assert verify_database(conn, registry=registry_of(big=package)).ok


def test_lock_timeout_zero_does_not_wait_and_negative_is_refused(server, database, conn) -> None:
    holder = psycopg.connect(server.dsn(database))
    holder.execute("SELECT pg_advisory_xact_lock(hashtext('nocodo_agents.migrations'))")
    try:
        with pytest.raises(LockTimeoutError, match="lock_timeout is 0"):
            run_agent_migrations(conn, registry=AgentRegistry([]), lock_timeout=0)
    finally:
        holder.rollback()
        holder.close()
    with pytest.raises(ValueError, match="lock_timeout= must be a number of seconds >= 0"):
        run_agent_migrations(conn, registry=AgentRegistry([]), lock_timeout=-1)


def test_missing_privilege_is_a_clear_access_error(server, database) -> None:
    from nocodo_agents import DatabaseAccessError

    with psycopg.connect(server.dsn(database), autocommit=True) as admin:
        admin.execute("CREATE ROLE limited LOGIN")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    limited = psycopg.connect(f"host={server.host} port={server.port} user=limited dbname={database}")
    try:
        with pytest.raises(DatabaseAccessError, match="user 'limited' lacks a privilege"):
            run_agent_migrations(limited, registry=AgentRegistry([]))
        assert limited.info.transaction_status.name == "IDLE"
    finally:
        limited.close()
        with psycopg.connect(server.dsn(database), autocommit=True) as admin:
            admin.execute("DROP ROLE limited")


def test_adopts_tables_views_and_mixed_case_names_made_before_history(conn, agent_package) -> None:
    sqlite_sql = "CREATE TABLE Notes (Id INTEGER, Body TEXT);\nCREATE VIEW note_bodies AS SELECT Body FROM Notes;"
    postgres_sql = "CREATE TABLE Notes (Id BIGINT, Body TEXT);\nCREATE VIEW note_bodies AS SELECT Body FROM Notes;"
    source = f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql(sqlite={sqlite_sql!r}, postgresql={postgres_sql!r})\n"
    package = agent_package({"V5__notes": source})
    with conn.transaction():
        for statement in postgres_sql.split(";"):
            conn.execute(statement)
    core = run_agent_migrations(conn, registry=AgentRegistry([]), dry_run=True)
    assert core.adopted == ()  # only the agent's objects exist: the core is applied, not adopted
    report = run_agent_migrations(conn, registry=registry_of(notes=package))
    assert [s.version for s in report.adopted] == [5] and report.versions == (1, 2, 3)
