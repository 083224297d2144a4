"""The MySQL dialect on a real MariaDB server: migrating, the statement journal, the lock, drift.

One private server runs for the test session (``MariaDBServer``); every test gets
a fresh database and a PyMySQL connection to it, opened with PyMySQL's
defaults (``autocommit=False``), as applications open them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pymysql
import pytest
from conftest import registry_of
from fleet import assert_each_applied_once, run_fleet
from servers import MariaDBServer

import nocodo_agents_requirements_qna.plugin as qna_plugin
from nocodo_agents import (
    ConnectionStateError,
    DatabaseAccessError,
    DivergentMigrationError,
    IncompleteMigrationError,
    LockTimeoutError,
    MigrationFailedError,
    ResolveRefusedError,
)
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import checksum, run_agent_migrations
from nocodo_agents.dialects.mysql import JOURNAL_TABLE, migration_lock_name
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import repair_history, resolve_unfinished, rollback_migrations, verify_database
from nocodo_agents.loading import load_migrations
from nocodo_agents.schema.split import split_statements

CORE_TABLES = {"agent_sessions", "agent_messages", "agent_tool_calls"}
QNA_TABLE = "project_requirements_qna"
CHECK_VIOLATION = {3819, 4025}  # MySQL 8, MariaDB
FOREIGN_KEY_VIOLATION = 1452

Connection = Any  # pymysql.connections.Connection


@pytest.fixture
def mariadb(mariadb_server: MariaDBServer) -> MariaDBServer:
    return mariadb_server


@pytest.fixture
def database(mariadb: MariaDBServer) -> Iterator[str]:
    """A fresh, empty database, dropped afterwards."""
    name = f"nocodo_test_{uuid.uuid4().hex[:12]}"
    mariadb.create_database(name)
    yield name
    as_root(mariadb, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def conn(mariadb: MariaDBServer, database: str) -> Iterator[Connection]:
    connection = mariadb.connect(database)
    yield connection
    connection.close()


@pytest.fixture
def qna_registry() -> AgentRegistry:
    """Core plus the real requirements_qna plugin (V4), without entry points."""
    return AgentRegistry.from_plugins({"requirements_qna": qna_plugin}, "nocodo-agents-requirements-qna")


def as_root(server: MariaDBServer, *statements: str) -> None:
    """Run administrative statements on a connection of their own."""
    admin = server.connect()
    try:
        for statement in statements:
            query(admin, statement)
    finally:
        admin.close()


def query(connection: Connection, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement and commit, leaving the connection idle as the runner requires."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = list(cursor.fetchall())
    connection.commit()
    return rows


def tables(connection: Connection) -> set[str]:
    return {r[0] for r in query(connection, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")}


def history(connection: Connection) -> list[tuple[Any, ...]]:
    return query(connection, "SELECT version, name, agent FROM refinery_schema_history ORDER BY version")


def journal(connection: Connection) -> list[tuple[Any, ...]]:
    if JOURNAL_TABLE not in tables(connection):
        return []
    return query(
        connection,
        f"SELECT version, name, agent, statements, next_statement, failed_statement, error FROM {JOURNAL_TABLE}",
    )


def lock_is_free(connection: Connection, database: str) -> bool:
    return bool(query(connection, "SELECT IS_FREE_LOCK(%s)", (migration_lock_name(database),))[0][0])


def in_transaction(connection: Connection) -> bool:
    return bool(connection.server_status & pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS)


# -- migrating -----------------------------------------------------------------------------------


def test_fresh_database_gets_core_and_requirements_qna(conn: Connection, qna_registry: AgentRegistry) -> None:
    report = run_agent_migrations(conn, registry=qna_registry)
    assert report.dialect == "mysql"
    assert report.versions == (1, 2, 3, 4)
    assert CORE_TABLES | {QNA_TABLE, "refinery_schema_history"} <= tables(conn)
    assert history(conn) == [
        (1, "create_agent_sessions", "core"),
        (2, "create_agent_messages", "core"),
        (3, "create_agent_tool_calls", "core"),
        (4, "create_project_requirements_qna", "requirements_qna"),
    ]
    assert journal(conn) == [], "every journal entry went with its history row"
    assert conn.get_autocommit() is False and not in_transaction(conn), "the connection is as it was"

    again = run_agent_migrations(conn, registry=qna_registry)
    assert again.applied == () and len(history(conn)) == 4
    # autocommit on, DATABASE(), history columns, history rows, autocommit off: no lock when nothing is pending
    assert again.statements == 5


def test_schema_accepts_rows_cascades_and_enforces_checks(conn: Connection, qna_registry: AgentRegistry) -> None:
    run_agent_migrations(conn, registry=qna_registry)
    query(conn, "INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1)")
    query(conn, "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'user', 'hi', 1)")
    query(
        conn,
        "INSERT INTO agent_tool_calls (session_id, message_id, tool_call_id, tool_name, request, created_at) "
        "VALUES (1, 1, 'c1', 'ask', '{}', 1)",
    )
    query(
        conn,
        f"INSERT INTO {QNA_TABLE} (session_id, tool_call_id, question_id, question, created_at) VALUES (1, 1, 'q1', 'why?', 1)",
    )
    assert query(conn, "SELECT status FROM agent_sessions") == [("running",)]
    assert query(conn, "SELECT status FROM agent_tool_calls") == [("pending",)]
    with pytest.raises(pymysql.MySQLError) as check:
        query(conn, "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (1, 'robot', 'x', 1)")
    assert check.value.args[0] in CHECK_VIOLATION
    with pytest.raises(pymysql.MySQLError) as foreign:
        query(conn, "INSERT INTO agent_messages (session_id, role, content, created_at) VALUES (99, 'user', 'x', 1)")
    assert foreign.value.args[0] == FOREIGN_KEY_VIOLATION
    conn.rollback()
    query(conn, "DELETE FROM agent_messages")
    assert query(conn, "SELECT message_id FROM agent_tool_calls") == [(None,)], "ON DELETE SET NULL"
    query(conn, "DELETE FROM agent_sessions")
    for table in ("agent_tool_calls", QNA_TABLE):
        assert query(conn, f"SELECT COUNT(*) FROM {table}") == [(0,)], f"{table}: ON DELETE CASCADE"


def test_agent_installed_later_is_applied_out_of_order(conn: Connection, agent_package) -> None:
    early = agent_package({"V10__early": "CREATE TABLE early (id INT PRIMARY KEY);"})
    late = agent_package({"V4__late": "CREATE TABLE late (id INT PRIMARY KEY);"})
    assert run_agent_migrations(conn, registry=registry_of(early=early)).versions == (1, 2, 3, 10)
    report = run_agent_migrations(conn, registry=registry_of(early=early, late=late))
    assert report.versions == (4,)
    assert report.out_of_order == report.applied and report.applied[0].agent == "late"
    assert "late" in tables(conn)


def test_edited_migration_is_divergent(conn: Connection, agent_package) -> None:
    run_agent_migrations(conn, registry=registry_of(qna=agent_package({"V4__create_qna": "CREATE TABLE qna (id INT);"})))
    edited = agent_package({"V4__create_qna": "CREATE TABLE qna (id BIGINT);"})
    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(conn, registry=registry_of(qna=edited))
    assert raised.value.version == 4 and raised.value.agent == "qna"
    assert "V4__create_qna.py" in str(raised.value)


def test_migration_declared_non_transactional_leaves_no_journal_entry(conn: Connection, agent_package) -> None:
    package = agent_package({"V4__plain": "def migration():\n    return 'CREATE TABLE plain (id INT);'\n\ntransactional = False\n"})
    assert run_agent_migrations(conn, registry=registry_of(p=package)).versions == (1, 2, 3, 4)
    assert journal(conn) == []
    assert run_agent_migrations(conn, registry=registry_of(p=package)).applied == ()


def test_tables_without_history_are_adopted(conn: Connection) -> None:
    for migration in load_migrations("nocodo_agents.database.migrations"):
        for statement in split_statements(migration.sql("mysql"), "mysql"):
            query(conn, statement)
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.applied == ()
    assert [step.version for step in report.adopted] == [1, 2, 3]


def test_rollback_drops_the_table_and_its_history_row(conn: Connection) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    report = rollback_migrations(conn, 2, registry=AgentRegistry([]))
    assert [step.version for step in report.rolled_back] == [3]
    assert "agent_tool_calls" not in tables(conn)
    assert [row[0] for row in history(conn)] == [1, 2]


def test_dry_run_creates_nothing(conn: Connection) -> None:
    report = run_agent_migrations(conn, registry=AgentRegistry([]), dry_run=True)
    assert report.dry_run and report.versions == (1, 2, 3)
    assert "CREATE TABLE agent_sessions" in (report.applied[0].sql or "")
    assert "ENGINE=InnoDB" in (report.applied[0].sql or ""), "the MySQL SQL"
    assert any("refinery_schema_history" in statement for statement in report.setup_sql)
    assert tables(conn) == set(), "not even the history or the journal table"


def test_long_database_name_and_a_dict_cursor_connection(mariadb: MariaDBServer) -> None:
    name = "nocodo_long_" + uuid.uuid4().hex + "x" * 20  # 64 characters: MySQL's limit
    assert len(name) == 64
    lock = migration_lock_name(name)
    assert len(lock) <= 64 and lock != migration_lock_name(name[:-1] + "y")
    mariadb.create_database(name)
    connection = pymysql.connect(
        host=mariadb.host, port=mariadb.port, user=mariadb.user, password="", database=name,
        cursorclass=pymysql.cursors.DictCursor,
    )
    try:
        assert run_agent_migrations(connection, registry=AgentRegistry([])).versions == (1, 2, 3)
        assert run_agent_migrations(connection, registry=AgentRegistry([])).applied == ()
    finally:
        connection.close()
        as_root(mariadb, f"DROP DATABASE `{name}`")


# -- refinery's history table ----------------------------------------------------------------------

from test_refinery_compat import REFINERY_CREATE, REFINERY_SELECT, RFC3339  # noqa: E402  refinery's own SQL


def test_history_is_readable_with_refinerys_four_columns(conn: Connection) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    core = {m.version: m for m in load_migrations("nocodo_agents.database.migrations")}
    rows = query(conn, REFINERY_SELECT)
    assert [r[0] for r in rows] == [1, 2, 3]
    for version, name, applied_on, stored in rows:
        assert RFC3339.match(applied_on), applied_on
        assert (name, stored) == (core[version].name, str(checksum(name, version, core[version].sql("mysql"))))


def test_history_table_created_by_refinery_is_used_as_it_is(conn: Connection, agent_package) -> None:
    query(conn, REFINERY_CREATE)
    for migration in load_migrations("nocodo_agents.database.migrations"):  # a Rust application applied V1-V3
        for statement in split_statements(migration.sql("mysql"), "mysql"):
            query(conn, statement)
        query(
            conn,
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, "2024-03-01T10:00:00.123456789Z", str(migration.checksum("mysql"))),
        )
    qna = agent_package({"V4__create_qna": "CREATE TABLE qna (id INT PRIMARY KEY);"})
    report = run_agent_migrations(conn, registry=registry_of(qna=qna))
    assert report.versions == (4,) and report.adopted == ()
    rows = query(conn, "SELECT version, applied_on, agent FROM refinery_schema_history ORDER BY version")
    assert [(v, a) for v, _, a in rows] == [(1, None), (2, None), (3, None), (4, "qna")]
    assert rows[0][1] == "2024-03-01T10:00:00.123456789Z", "refinery's rows are kept as they were"


# -- a migration that fails part-way ---------------------------------------------------------------

FAILING_THIRD_STATEMENT = """
CREATE TABLE first_table (id INT PRIMARY KEY);
CREATE TABLE second_table (id INT PRIMARY KEY);
INSERT INTO no_such_table VALUES (2);
CREATE TABLE never_created (id INT PRIMARY KEY);
"""
FIXED = """
CREATE TABLE first_table (id INT PRIMARY KEY);
CREATE TABLE second_table (id INT PRIMARY KEY);
CREATE TABLE never_created (id INT PRIMARY KEY);
"""


def _fail_v4(conn: Connection, registry: AgentRegistry) -> MigrationFailedError:
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry)
    return raised.value


def test_failure_after_ddl_is_journalled_and_stops_the_next_run(conn: Connection, database: str, agent_package) -> None:
    registry = registry_of(broken=agent_package({"V4__broken": FAILING_THIRD_STATEMENT}))
    error = _fail_v4(conn, registry)
    assert (error.version, error.agent, error.statement_index, error.rolled_back) == (4, "broken", 2, False)
    assert "INSERT INTO no_such_table" in error.statement
    assert "statement 3" in str(error) and "stay applied" in str(error)
    assert isinstance(error.__cause__, pymysql.MySQLError)
    assert {"first_table", "second_table"} <= tables(conn) and "never_created" not in tables(conn)
    assert [row[0] for row in history(conn)] == [1, 2, 3]
    [(version, name, agent, statements, next_statement, failed, message)] = journal(conn)
    assert (version, name, agent, statements, next_statement, failed) == (4, "broken", "broken", 4, 2, 2)
    assert "no_such_table" in message
    assert lock_is_free(conn, database) and conn.get_autocommit() is False

    with pytest.raises(IncompleteMigrationError) as stopped:
        run_agent_migrations(conn, registry=registry)
    assert (stopped.value.version, stopped.value.failed_index) == (4, 2)
    text = str(stopped.value)
    assert "V4__broken" in text and "statement 3 of 4" in text and "statements 1-2 stay applied" in text
    assert "resolve_unfinished(conn, 4, applied=True)" in text and "resolve_unfinished(conn, 4, applied=False)" in text
    hint = hint_for(stopped.value)
    assert hint is not None and "nocodo-agents resolve 4 --applied" in hint and "nocodo-agents resolve 4 --absent" in hint
    with pytest.raises(IncompleteMigrationError):
        run_agent_migrations(conn, registry=registry, dry_run=True)


def test_resolve_absent_after_undoing_by_hand_lets_the_next_run_apply_it(conn: Connection, agent_package) -> None:
    registry = registry_of(broken=agent_package({"V4__broken": FAILING_THIRD_STATEMENT}))
    _fail_v4(conn, registry)
    query(conn, "DROP TABLE first_table, second_table")
    with pytest.raises(ResolveRefusedError, match="cannot resolve V5: it is not an unfinished migration or rollback "
                       r"\(the journal holds V4, an interrupted migration\)"):
        resolve_unfinished(conn, 5, applied=False, registry=registry)
    assert resolve_unfinished(conn, 4, applied=False, registry=registry) is None
    assert journal(conn) == [] and [row[0] for row in history(conn)] == [1, 2, 3]
    fixed = registry_of(broken=agent_package({"V4__broken": FIXED}))
    assert run_agent_migrations(conn, registry=fixed).versions == (4,)
    assert {"first_table", "second_table", "never_created"} <= tables(conn)


def test_resolve_applied_after_finishing_by_hand_records_it(conn: Connection, agent_package) -> None:
    registry = registry_of(broken=agent_package({"V4__broken": FAILING_THIRD_STATEMENT}))
    _fail_v4(conn, registry)
    query(conn, "CREATE TABLE never_created (id INT PRIMARY KEY)")
    row = resolve_unfinished(conn, 4, applied=True, registry=registry)
    assert row is not None and (row.version, row.name, row.agent) == (4, "broken", "broken")
    assert journal(conn) == [] and history(conn)[-1] == (4, "broken", "broken")
    assert run_agent_migrations(conn, registry=registry).applied == ()


def test_fake_refuses_while_a_migration_is_unfinished(conn: Connection, agent_package) -> None:
    from nocodo_agents.lifecycle import record_as_applied

    registry = registry_of(broken=agent_package({"V4__broken": FAILING_THIRD_STATEMENT}))
    _fail_v4(conn, registry)
    with pytest.raises(IncompleteMigrationError):
        record_as_applied(conn, registry=registry)
    assert [row[0] for row in history(conn)] == [1, 2, 3] and len(journal(conn)) == 1


SLOW_SECOND_STATEMENT = """
CREATE TABLE slow_first (id INT PRIMARY KEY);
DO SLEEP(1.5);
CREATE TABLE slow_last (id INT PRIMARY KEY);
"""


def _slow_runner(host: str, port: int, database: str, package: str) -> None:
    connection = pymysql.connect(host=host, port=port, user="root", password="", database=database)
    run_agent_migrations(connection, registry=registry_of(slow=package))


def test_runner_killed_mid_migration_leaves_a_journal_row_that_stops_the_next_run(
    conn: Connection, mariadb: MariaDBServer, database: str, agent_package
) -> None:
    package = agent_package({"V4__slow": SLOW_SECOND_STATEMENT})
    child = multiprocessing.get_context("fork").Process(
        target=_slow_runner, args=(mariadb.host, mariadb.port, database, package)
    )
    child.start()
    deadline = time.monotonic() + 30
    while not any(row[0] == 4 and row[4] == 1 for row in journal(conn)):  # statement 2 is running
        assert time.monotonic() < deadline and child.is_alive(), "the runner never reached statement 2 of V4"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    # The server frees the dead runner's lock once its session ends (here: when SLEEP returns).
    with pytest.raises(IncompleteMigrationError) as stopped:
        run_agent_migrations(conn, registry=registry_of(slow=package), lock_timeout=20)
    assert (stopped.value.version, stopped.value.failed_index, stopped.value.statements) == (4, 1, 3)
    assert "may or may not have taken effect" in str(stopped.value)
    assert "slow_first" in tables(conn) and "slow_last" not in tables(conn)
    assert [row[0] for row in history(conn)] == [1, 2, 3]


# -- the connection and the lock -------------------------------------------------------------------


def test_lock_held_by_another_session_times_out(
    conn: Connection, mariadb: MariaDBServer, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = mariadb.connect(database)
    try:
        assert query(other, "SELECT GET_LOCK(%s, 0)", (migration_lock_name(database),)) == [(1,)]
        with caplog.at_level(logging.INFO, logger="nocodo_agents"), pytest.raises(LockTimeoutError) as raised:
            run_agent_migrations(conn, registry=AgentRegistry([]), lock_timeout=0.3)
        assert "mysql migration lock within 0.3 s" in str(raised.value)
        assert "waiting up to 0.3 s for another runner's migration lock" in caplog.text
        assert tables(conn) == set(), "the lock is taken before the history table is created"
        assert conn.get_autocommit() is False and not in_transaction(conn)
        query(other, "SELECT RELEASE_LOCK(%s)", (migration_lock_name(database),))
        assert run_agent_migrations(conn, registry=AgentRegistry([])).versions == (1, 2, 3)
    finally:
        other.close()


def test_open_transaction_is_refused_and_left_alone(conn: Connection) -> None:
    query(conn, "CREATE TABLE mine (id INT) ENGINE=InnoDB")
    with conn.cursor() as cursor:
        cursor.execute("INSERT INTO mine VALUES (1)")
    assert in_transaction(conn)
    with pytest.raises(ConnectionStateError, match="commit or roll back"):
        run_agent_migrations(conn, registry=AgentRegistry([]))
    assert in_transaction(conn), "the caller's transaction is untouched"
    conn.rollback()
    assert query(conn, "SELECT COUNT(*) FROM mine") == [(0,)]


def test_connection_in_autocommit_mode_stays_so(conn: Connection) -> None:
    conn.autocommit(True)
    run_agent_migrations(conn, registry=AgentRegistry([]))
    assert conn.get_autocommit() is True


def test_user_without_write_privileges_gets_database_access_error(mariadb: MariaDBServer, database: str) -> None:
    with _user(mariadb, "nocodo_reader", f"GRANT SELECT ON `{database}`.* TO nocodo_reader") as connect:
        connection = connect(database)
        try:
            with pytest.raises(DatabaseAccessError) as raised:
                run_agent_migrations(connection, registry=AgentRegistry([]))
            assert "CREATE command denied" in str(raised.value) and "Grant it" in str(raised.value)
        finally:
            connection.close()


# -- verify: schema drift --------------------------------------------------------------------------


def scratch_databases(connection: Connection) -> list[tuple[Any, ...]]:
    return query(connection, "SHOW DATABASES LIKE 'nocodo\\_scratch\\_%'")


def test_verify_finds_no_drift_then_the_changes_made_by_hand(conn: Connection, qna_registry: AgentRegistry) -> None:
    run_agent_migrations(conn, registry=qna_registry)
    report = verify_database(conn, registry=qna_registry)
    assert report.ok and report.drift.differences == () and report.drift.unmanaged == (), str(report.drift)
    assert scratch_databases(conn) == []

    query(conn, "ALTER TABLE agent_sessions ADD COLUMN x INT")
    query(conn, "ALTER TABLE agent_tool_calls ALTER COLUMN status SET DEFAULT 'failed'")
    query(conn, "CREATE TABLE app_notes (id INT PRIMARY KEY)")
    report = verify_database(conn, registry=qna_registry)
    assert not report.ok
    kinds = {d.key: d.kind for d in report.drift.differences}
    assert kinds == {"column agent_sessions.x": "unexpected", "column agent_tool_calls.status": "differs"}
    assert report.drift.unmanaged == ("table app_notes",)
    assert scratch_databases(conn) == []


def test_repair_re_records_a_checksum_when_the_schema_matches(conn: Connection) -> None:
    run_agent_migrations(conn, registry=AgentRegistry([]))
    query(conn, "UPDATE refinery_schema_history SET checksum = '1', agent = NULL WHERE version = 2")
    with pytest.raises(DivergentMigrationError):
        run_agent_migrations(conn, registry=AgentRegistry([]))
    report = repair_history(conn, registry=AgentRegistry([]))
    assert [row.version for row in report.repaired] == [2]
    assert history(conn)[1] == (2, "create_agent_messages", "core")
    assert run_agent_migrations(conn, registry=AgentRegistry([])).applied == ()
    assert scratch_databases(conn) == []


def test_verify_tells_apart_indexes_of_one_name_on_two_tables(conn: Connection, agent_package) -> None:
    twins = agent_package({
        "V4__twins": "CREATE TABLE left_t (a INT); CREATE INDEX idx_same ON left_t (a);\n"
        "CREATE TABLE right_t (b INT); CREATE UNIQUE INDEX idx_same ON right_t (b);"
    })
    registry = registry_of(twins=twins)
    run_agent_migrations(conn, registry=registry)
    assert verify_database(conn, registry=registry).ok
    query(conn, "DROP INDEX idx_same ON right_t")
    [difference] = verify_database(conn, registry=registry).drift.differences
    assert (difference.kind, difference.key, difference.expected) == ("missing", "index right_t.idx_same", "UNIQUE ON right_t (b)")


def test_verify_without_permission_to_create_the_scratch_database(mariadb: MariaDBServer, database: str) -> None:
    with _user(mariadb, "nocodo_owner", f"GRANT ALL ON `{database}`.* TO nocodo_owner") as connect:
        connection = connect(database)
        try:
            run_agent_migrations(connection, registry=AgentRegistry([]))
            with pytest.raises(DatabaseAccessError) as raised:
                verify_database(connection, registry=AgentRegistry([]))
            assert "scratch database" in str(raised.value) and "CREATE and DROP" in str(raised.value)
        finally:
            connection.close()


class _user:
    """A server user with one grant, dropped afterwards; ``connect(database)`` logs in as it."""

    def __init__(self, server: MariaDBServer, name: str, grant: str) -> None:
        self.server, self.name, self.grant = server, name, grant

    def __enter__(self) -> Any:
        as_root(self.server, f"CREATE USER {self.name}@'%' IDENTIFIED BY 'pw'", self.grant)
        return lambda database: pymysql.connect(
            host=self.server.host, port=self.server.port, user=self.name, password="pw", database=database
        )

    def __exit__(self, *exc: object) -> None:
        as_root(self.server, f"DROP USER {self.name}@'%'")


# -- a fleet of runners ----------------------------------------------------------------------------

def test_sixteen_runners_at_once(mariadb: MariaDBServer, database: str, conn: Connection, agent_package) -> None:
    package = agent_package({f"V{v}__fleet_{v}": f"CREATE TABLE fleet_{v} (id INT PRIMARY KEY);" for v in range(4, 14)})
    outcomes = run_fleet(lambda: mariadb.connect(database), package)
    assert_each_applied_once(outcomes, range(1, 14))
    assert [row[0] for row in history(conn)] == list(range(1, 14))
    assert journal(conn) == []


def test_sqlalchemy_engine_and_connection(mariadb: MariaDBServer, database: str, qna_registry: AgentRegistry) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"mysql+pymysql://root:@{mariadb.host}:{mariadb.port}/{database}")
    try:
        assert run_agent_migrations(engine, registry=AgentRegistry([])).versions == (1, 2, 3)
        with engine.connect() as connection:
            assert run_agent_migrations(connection, registry=qna_registry).versions == (4,)
    finally:
        engine.dispose()


def test_trigger_with_a_compound_body(conn: Connection, agent_package) -> None:
    sql = (
        "CREATE TABLE counted (id INT PRIMARY KEY);\n"
        "CREATE TABLE tally (n INT);\n"
        "INSERT INTO tally VALUES (0);\n"
        "CREATE TRIGGER counted_ins AFTER INSERT ON counted FOR EACH ROW\n"
        "BEGIN\n    UPDATE tally SET n = n + 1;\n    UPDATE tally SET n = n + 10;\nEND;\n"
    )
    run_agent_migrations(conn, registry=registry_of(t=agent_package({"V4__trigger": sql})))
    query(conn, "INSERT INTO counted VALUES (1)")
    assert query(conn, "SELECT n FROM tally") == [(11,)]


def test_reading_commands_do_not_wait_for_a_running_migration(mariadb: MariaDBServer, database: str, conn: Connection, qna_registry: AgentRegistry) -> None:
    from nocodo_agents.status import migration_status

    run_agent_migrations(conn, registry=AgentRegistry([]))
    holder = mariadb.connect(database)
    query(holder, "SELECT GET_LOCK(%s, 0)", (migration_lock_name(database),))
    try:
        rows = migration_status(conn, registry=qna_registry, lock_timeout=0)
        assert [row.state for row in rows] == ["applied", "applied", "applied", "pending"]
        assert run_agent_migrations(conn, registry=AgentRegistry([]), lock_timeout=0).applied == ()  # the no-op path
        with pytest.raises(LockTimeoutError):
            run_agent_migrations(conn, registry=qna_registry, lock_timeout=0)  # V4 is pending: it needs the lock
    finally:
        holder.close()
