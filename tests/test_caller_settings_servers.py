"""Other session settings of the caller's (real servers): the runner's work does not depend on them, and they come back exactly.

PostgreSQL: time zone, date style, isolation and read-only defaults, the
client encoding, idle and statement timeouts... MariaDB: the client
character set (``SET NAMES latin1``), ``sql_select_limit`` (which would cut
the runner's history read short), ``unique_checks``, ``sql_safe_updates``,
``time_zone``, isolation, lock waits... Every session setting is compared
before and after runs that wait for the lock, apply, fail and roll back.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pymysql
import pytest
from conftest import registry_of
from lock_waits import lock_wait_logged

from nocodo_agents import DatabaseAccessError, MigrationFailedError
from nocodo_agents.lifecycle import rollback_migrations, verify_database
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.status import migration_status

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)\Z")
TEXT = "€ é ü 中"


def _module(sql: str, rollback: str) -> str:
    return f"def migration(dialect):\n    return {sql!r}\n\n\ndef rollback(dialect):\n    return {rollback!r}\n"


# -- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def pg_dsn(postgres_server) -> str:
    name = f"settings_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    return postgres_server.dsn(name)


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    connection = psycopg.connect(pg_dsn)
    yield connection
    connection.close()


PG_CALLER_SETTINGS = [
    "SET lock_timeout = '7s'",
    "SET statement_timeout = '9min'",
    "SET idle_in_transaction_session_timeout = '10min'",
    "SET TimeZone = 'Pacific/Chatham'",
    "SET DateStyle = 'SQL, DMY'",
    "SET IntervalStyle = 'sql_standard'",
    "SET default_transaction_isolation = 'serializable'",
    "SET default_transaction_deferrable = on",
    "SET extra_float_digits = 0",
    "SET bytea_output = 'escape'",
    "SET application_name = 'caller app'",
    "SET session_replication_role = replica",
    "SET standard_conforming_strings = off",
    "SET search_path = public, pg_catalog",
    "SET myapp.tenant = '42'",
]


def _pg_settings(connection: psycopg.Connection) -> dict[str, str]:
    with psycopg.Cursor(connection) as cursor:
        settings = dict(cursor.execute("SELECT name, setting FROM pg_settings").fetchall())
        settings["myapp.tenant"] = cursor.execute("SELECT current_setting('myapp.tenant', true)").fetchone()[0]
    connection.commit()
    return settings


def test_postgresql_every_session_setting_comes_back_exactly(pg: psycopg.Connection, pg_dsn: str, agent_package) -> None:
    with lock_wait_logged() as lock_wait:
        _every_session_setting_comes_back(pg, pg_dsn, agent_package, lock_wait)


def _every_session_setting_comes_back(pg: psycopg.Connection, pg_dsn: str, agent_package, lock_wait: threading.Event) -> None:
    for statement in PG_CALLER_SETTINGS:
        pg.execute(statement)
    pg.commit()
    before = _pg_settings(pg)
    notes_sql = f"CREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ('{TEXT}');"
    notes = agent_package({"V100__notes": _module(notes_sql, "DROP TABLE notes;")})
    broken = agent_package({"V100__notes": _module(notes_sql, "DROP TABLE notes;"), "V101__bad": "SELECT nonsense();"})
    holder = psycopg.connect(pg_dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(hashtext('nocodo_agents.migrations'))")

    def release() -> None:
        try:
            lock_wait.wait(12)  # the runner polls the lock: it says so in the log
        finally:
            holder.close()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        assert run_agent_migrations(pg, registry=registry_of(notes=notes), lock_timeout=30).versions == (1, 2, 3, 100)
    finally:
        releaser.join()
    assert _pg_settings(pg) == before
    assert verify_database(pg, registry=registry_of(notes=notes)).ok
    with pytest.raises(MigrationFailedError):
        run_agent_migrations(pg, registry=registry_of(notes=broken))
    assert _pg_settings(pg) == before
    assert [step.version for step in rollback_migrations(pg, 3, registry=registry_of(notes=notes)).rolled_back] == [100]
    assert _pg_settings(pg) == before
    with psycopg.Cursor(pg) as cursor:
        applied_on = [row[0] for row in cursor.execute("SELECT applied_on FROM refinery_schema_history").fetchall()]
    pg.commit()
    assert applied_on and all(RFC3339_UTC.match(value) for value in applied_on), applied_on


def test_postgresql_the_client_encoding_does_not_change_what_a_migration_stores(pg: psycopg.Connection, agent_package) -> None:
    pg.execute("SET client_encoding = 'LATIN1'")
    pg.commit()
    package = agent_package({"V100__text": f"CREATE TABLE texts (body TEXT);\nINSERT INTO texts VALUES ('{TEXT}');"})
    assert run_agent_migrations(pg, registry=registry_of(text=package)).versions == (1, 2, 3, 100)
    assert verify_database(pg, registry=registry_of(text=package)).ok
    with psycopg.Cursor(pg) as cursor:
        assert cursor.execute("SHOW client_encoding").fetchone() == ("LATIN1",)
        cursor.execute("SET client_encoding = 'UTF8'")
        assert cursor.execute("SELECT body FROM texts").fetchone() == (TEXT,)
    pg.commit()


def test_postgresql_default_transaction_read_only_is_honoured(pg: psycopg.Connection) -> None:
    pg.execute("SET default_transaction_read_only = on")
    pg.commit()
    assert [row.state for row in migration_status(pg, registry=registry_of())] == ["pending"] * 3
    with pytest.raises(DatabaseAccessError, match="read-only"):
        run_agent_migrations(pg, registry=registry_of())
    with psycopg.Cursor(pg) as cursor:
        assert cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone() == (0,)
        assert cursor.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    pg.commit()


# -- MariaDB -----------------------------------------------------------------------------------------


@pytest.fixture
def maria(mariadb_server) -> Iterator[pymysql.connections.Connection]:
    name = f"settings_{uuid.uuid4().hex[:10]}"
    mariadb_server.create_database(name)
    connection = mariadb_server.connect(name)
    yield connection
    connection.close()


MARIA_CALLER_SETTINGS = (
    "SET SESSION sql_select_limit = 1, SESSION unique_checks = 0, SESSION sql_safe_updates = 1, "
    "SESSION time_zone = '+05:45', SESSION tx_isolation = 'SERIALIZABLE', SESSION lock_wait_timeout = 77, "
    "SESSION innodb_lock_wait_timeout = 33, SESSION max_statement_time = 600, SESSION foreign_key_checks = 0, "
    "SESSION sql_mode = 'ANSI_QUOTES', SESSION group_concat_max_len = 5, SESSION div_precision_increment = 9, "
    "SESSION big_tables = 1, SESSION sql_auto_is_null = 1, SESSION max_join_size = 1000000, "
    "SESSION character_set_results = 'latin1', SESSION collation_connection = 'latin1_german1_ci', "
    "SESSION character_set_client = 'latin1'"
)
#: Session values that move by themselves (or with any statement), not settings.
_MOVING = {"timestamp", "last_insert_id", "insert_id", "rand_seed1", "rand_seed2", "warning_count", "error_count", "gtid_seq_no", "last_gtid"}


def _maria_variables(connection) -> dict[str, str]:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute("SHOW SESSION VARIABLES")
        variables = {name: value for name, value in cursor.fetchall() if name not in _MOVING}
        cursor.execute("SELECT @@autocommit")
    connection.commit()
    return variables


def test_mariadb_every_session_variable_comes_back_exactly(maria, agent_package) -> None:
    with maria.cursor() as cursor:
        cursor.execute(MARIA_CALLER_SETTINGS)
    maria.commit()
    before = _maria_variables(maria)
    notes = agent_package({"V100__notes": _module("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);\nUPDATE notes SET body = 'x';", "DROP TABLE notes;")})
    assert run_agent_migrations(maria, registry=registry_of(notes=notes)).versions == (1, 2, 3, 100)
    assert _maria_variables(maria) == before
    assert run_agent_migrations(maria, registry=registry_of(notes=notes)).applied == ()  # 4 history rows read despite sql_select_limit
    assert [row.state for row in migration_status(maria, registry=registry_of(notes=notes))] == ["applied"] * 4
    assert verify_database(maria, registry=registry_of(notes=notes)).ok
    assert [step.version for step in rollback_migrations(maria, 3, registry=registry_of(notes=notes)).rolled_back] == [100]
    assert _maria_variables(maria) == before
    with maria.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute("SET SESSION sql_select_limit = DEFAULT")
        cursor.execute("SELECT applied_on FROM refinery_schema_history")
        applied_on = [row[0] for row in cursor.fetchall()]
    maria.commit()
    assert len(applied_on) == 3 and all(RFC3339_UTC.match(value) for value in applied_on), applied_on


def test_mariadb_the_callers_character_set_does_not_change_what_a_migration_stores(maria, agent_package) -> None:
    with maria.cursor() as cursor:
        cursor.execute("SET NAMES latin1")
    maria.commit()
    package = agent_package({"V100__text": f"CREATE TABLE texts (body TEXT CHARACTER SET utf8mb4);\nINSERT INTO texts VALUES ('{TEXT}');"})
    assert run_agent_migrations(maria, registry=registry_of(text=package)).versions == (1, 2, 3, 100)
    with maria.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute("SELECT @@SESSION.character_set_client, @@SESSION.character_set_results")
        assert cursor.fetchone() == ("latin1", "latin1")
        cursor.execute("SET NAMES utf8mb4")
        cursor.execute("SELECT body FROM texts")
        assert cursor.fetchone() == (TEXT,)
    maria.commit()
