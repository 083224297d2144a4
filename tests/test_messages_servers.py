"""Messages and exit codes against the real servers, through the console script and the API.

A failing 10 MB statement gives a message of a few kilobytes quoting its
start and end (and so does the MySQL journal); a connection killed
mid-migration (``pg_terminate_backend``, ``KILL CONNECTION``) exits 6 saying
what the database holds, never 5 "fix the migration"; lock timeouts no server
can express (``1e12``, ``inf``, ``nan``, negative) are usage errors before
anything reaches a server, on the command line and in every API call.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of
from fresh_database import fresh_database_url

from nocodo_agents import InvalidArgumentError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.excerpt import shorten
from nocodo_agents.lifecycle import baseline, record_as_applied, repair_history, resolve_unfinished, rollback_migrations
from nocodo_agents.runner import run_agent_migrations

_names = itertools.count()
HUGE = 10_000_000
#: An error quoting the statement must stay far below the statement's size.
MESSAGE_LIMIT = 20_000


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path, "messages", sqlite_file="agents.db")


def test_shorten_keeps_start_and_end_and_says_how_long() -> None:
    text = "A" * 10 + "x" * HUGE + "Z" * 10
    short = shorten(text, 1000)
    assert len(short) < 1100 and short.startswith("A" * 10) and short.endswith("Z" * 10)
    assert f"characters left out of {len(text)}" in short
    assert shorten("SELECT 1", 1000) == "SELECT 1"


def _huge_literal() -> str:
    return "'" + "x" * HUGE + "'"


def test_a_failing_10_mb_statement_gives_a_short_message(cli: Cli, url: str, request: pytest.FixtureRequest) -> None:
    statement = f"INSERT INTO no_such_table (v) VALUES ({_huge_literal()}) /* the end */"
    write_agent_distribution(cli.site, "big-agent", "big", "big_agent", {"V100__big": sql_module(f"CREATE TABLE small (id INT);\n{statement};")})
    assert cli("migrate", "--agent", "requirements_qna", "--db", url).code == 0
    failed = cli("migrate", "--db", url)
    assert failed.code == 5, failed.text[:2000]
    assert len(failed.err) < MESSAGE_LIMIT, len(failed.err)
    assert "INSERT INTO no_such_table (v) VALUES ('xxx" in failed.err and "xxx')" in failed.err
    assert re.search(r"characters left out of 1000\d{4}\b", failed.err) and "V100__big" in failed.err
    if url.startswith("mysql://"):
        server = request.getfixturevalue("mariadb_server")
        connection = server.connect(url.rsplit("/", 1)[1])
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT LENGTH(error) FROM nocodo_agents_migration_journal WHERE version = 100")
                assert cursor.fetchone()[0] < MESSAGE_LIMIT
        finally:
            connection.close()
        refused = cli("migrate", "--db", url)  # the next run quotes the journal's error
        assert refused.code == 5 and len(refused.err) < MESSAGE_LIMIT, refused.text[:2000]


def test_a_10_mb_statement_refused_up_front_is_quoted_short(cli: Cli, url: str) -> None:
    statement = f"/* {'x' * HUGE} */ COMMIT"
    write_agent_distribution(cli.site, "big-agent", "big", "big_agent", {"V100__big": sql_module(f"CREATE TABLE small (id INT);\n{statement};")})
    failed = cli("migrate", "--db", url)
    assert failed.code == 5, failed.text[:2000]
    assert len(failed.err) < MESSAGE_LIMIT and "controls transactions" in failed.err and "*/ COMMIT" in failed.err


# -- a connection killed mid-migration, through the console script --------------------------------


def _when(found: Callable[[], Any], act: Callable[[Any], None]) -> Callable[[], bool]:
    """In a thread: once ``found()`` returns something, ``act`` on it. Returns a join() saying whether it acted."""
    acted: list[bool] = []

    def watch() -> None:
        for _ in range(600):
            victim = found()
            if victim:
                act(victim)
                acted.append(True)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch)
    thread.start()
    return lambda: (thread.join(), bool(acted))[1]


def _maria_admin(server: Any, sql: str) -> Any:
    """Run ``sql`` on a connection of its own (as an operator would) and return its first row."""
    admin = server.connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()
    finally:
        admin.close()


@pytest.mark.parametrize("stop, said", [
    ("pg_terminate_backend", ("the connection to the server failed", "statement 2")),
    # an operator's act, not the migration's fault
    ("pg_cancel_backend", ("was cancelled from outside the run",)),
])
def test_postgresql_backend_stopped_mid_migration_exits_6(postgres_server, cli: Cli, stop: str, said: tuple[str, ...]) -> None:
    database = f"messages_{next(_names)}"
    postgres_server.create_database(database)
    write_agent_distribution(cli.site, "slow-agent", "slow", "slow_agent", {
        "V100__slow": sql_module("CREATE TABLE slow (id INT);\nSELECT pg_sleep(30);\nCREATE TABLE after_sleep (id INT);"),
    })

    def sleeping() -> Any:
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            row = admin.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'").fetchone()
        return row and row[0]

    def act(pid: int) -> None:
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"SELECT {stop}(%s)", (pid,))

    join = _when(sleeping, act)
    failed = cli("migrate", "--db", postgres_server.url(database))
    assert join(), f"{stop} never reached the migration"
    assert failed.code == 6, failed.text
    assert all(fragment in failed.err for fragment in said) and "V100__slow" in failed.err, failed.err
    assert "its transaction was not committed" in failed.err and "fix the migration" not in failed.err.lower()
    with psycopg.connect(postgres_server.dsn(database)) as check:
        assert [r[0] for r in check.execute("SELECT version FROM refinery_schema_history ORDER BY 1")] == [1, 2, 3, 4]
        assert check.execute("SELECT to_regclass('slow')").fetchone()[0] is None


@pytest.mark.parametrize("kill, busy, said", [
    ("KILL CONNECTION", "SELECT SLEEP(30)", "the connection to the server failed"),
    # KILL QUERY: SLEEP() would just return, a scan fails with "Query execution was interrupted"
    ("KILL QUERY", "SELECT COUNT(*) FROM seq_1_to_100000000000 a WHERE MD5(a.seq) = 'x'", "was cancelled from outside the run"),
])
def test_mariadb_migration_killed_mid_way_exits_6_and_keeps_the_journal(mariadb_server, cli: Cli, kill: str, busy: str, said: str) -> None:
    database = f"messages_{next(_names)}"
    mariadb_server.create_database(database)
    write_agent_distribution(cli.site, "slow-agent", "slow", "slow_agent", {
        "V100__slow": sql_module(f"CREATE TABLE slow (id INT);\n{busy};\nCREATE TABLE after_busy (id INT);"),
    })
    pattern = busy[:24].replace("%", "%%") + "%%"

    def running() -> Any:
        row = _maria_admin(mariadb_server, f"SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '{pattern}' AND ID <> CONNECTION_ID()")
        return row and row[0]

    join = _when(running, lambda victim: _maria_admin(mariadb_server, f"{kill} {int(victim)}"))
    failed = cli("migrate", "--db", mariadb_server.url(database))
    assert join(), f"{kill} never reached the migration"
    assert failed.code == 6, failed.text
    assert said in failed.err and "V100__slow" in failed.err
    assert "the statements before it stay applied" in failed.err and "resolve 100" in failed.err
    assert "fix the migration" not in failed.err.lower()
    refused = cli("migrate", "--db", mariadb_server.url(database))
    assert refused.code == 5 and "stopped part-way on an earlier run: statement 2 of 3" in refused.err, refused.text


def test_postgresql_deadlock_with_another_session_is_a_lock_conflict_not_the_migrations_fault(postgres_server, agent_package) -> None:
    """PostgreSQL breaks a deadlock by failing one statement: when it is a migration's, that is not its SQL's fault."""
    from nocodo_agents import LockConflictError
    from nocodo_agents.cli.exit_codes import exit_code_for

    database = f"messages_{next(_names)}"
    postgres_server.create_database(database)
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as setup:
        setup.execute("CREATE TABLE pair (id INT PRIMARY KEY, n INT); INSERT INTO pair VALUES (1, 0), (2, 0)")
    package = agent_package({"V100__both": "UPDATE pair SET n = n + 1 WHERE id = 1;\nUPDATE pair SET n = n + 1 WHERE id = 2;"})
    other = psycopg.connect(postgres_server.dsn(database))
    other.execute("SET deadlock_timeout = '30s'")  # the migration's session detects the deadlock: it is the victim
    other.execute("UPDATE pair SET n = n + 10 WHERE id = 2")  # holds row 2

    def migration_waits() -> Any:
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            row = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'UPDATE pair SET n = n + 1 WHERE id = 2%' "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
        return row and row[0]

    def close_the_cycle(pid: int) -> None:
        try:
            other.execute("UPDATE pair SET n = n + 10 WHERE id = 1")  # waits for the migration's row 1
        finally:
            other.rollback()

    join = _when(migration_waits, close_the_cycle)
    conn = psycopg.connect(postgres_server.dsn(database))
    try:
        with pytest.raises(LockConflictError) as caught:
            run_agent_migrations(conn, registry=registry_of(both=package))
        assert join(), "the other session never closed the cycle"
        message = str(caught.value)
        assert "V100__both" in message and "deadlock" in message and "not because of its SQL" in message
        assert "its transaction was not committed" in message.lower() or "rolled back" in message
        assert exit_code_for(caught.value) == 6
        with psycopg.Cursor(conn) as cursor:
            assert [r[0] for r in cursor.execute("SELECT version FROM refinery_schema_history ORDER BY 1")] == [1, 2, 3]
            assert cursor.execute("SELECT n FROM pair ORDER BY id").fetchall() == [(0,), (0,)]
        conn.rollback()
    finally:
        conn.close()
        other.close()


def test_mariadb_lock_wait_timeout_is_a_lock_conflict_and_keeps_the_journal(mariadb_server, agent_package) -> None:
    """InnoDB's lock wait timeout on a migration's statement: exit 6 naming the other session's locks, journalled."""
    from nocodo_agents import IncompleteMigrationError, LockConflictError
    from nocodo_agents.cli.exit_codes import exit_code_for

    database = f"messages_{next(_names)}"
    mariadb_server.create_database(database)
    setup = mariadb_server.connect(database)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE pair (id INT PRIMARY KEY, n INT) ENGINE=InnoDB")
        cursor.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    setup.commit()
    package = agent_package({"V100__both": "CREATE TABLE before_wait (id INT);\nUPDATE pair SET n = n + 1 WHERE id = 2;"})
    with setup.cursor() as cursor:
        cursor.execute("UPDATE pair SET n = 10 WHERE id = 2")  # holds row 2, uncommitted
    conn = mariadb_server.connect(database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        conn.commit()
        with pytest.raises(LockConflictError) as caught:
            run_agent_migrations(conn, registry=registry_of(both=package))
        message = str(caught.value)
        assert "V100__both" in message and "Lock wait timeout" in message and "not because of its SQL" in message
        assert "resolve_unfinished(conn, 100, applied=True)" in message and caught.value.unfinished == (100,)
        assert "`nocodo-agents resolve 100 --applied` or `--absent`" in hint_for(caught.value)
        assert exit_code_for(caught.value) == 6
        setup.rollback()
        with pytest.raises(IncompleteMigrationError, match="V100__both"):
            run_agent_migrations(conn, registry=registry_of(both=package))
    finally:
        conn.close()
        setup.close()


# -- lock timeouts no server can express --------------------------------------------------------------

BAD_LOCK_TIMEOUTS = ["1e12", "inf", "-inf", "nan", "-1", "-0.001", "1e400", "2147484", "soon", ""]


@pytest.mark.parametrize("command", [["migrate"], ["rollback", "--to", "0"], ["repair"], ["baseline", "--version", "1"], ["resolve", "1", "--absent"], ["migrate", "--dry-run"]])
def test_cli_lock_timeouts_out_of_range_exit_2_before_the_server(cli: Cli, url: str, command: list[str]) -> None:
    for value in BAD_LOCK_TIMEOUTS:
        result = cli(*command, "--lock-timeout", value, "--db", url)
        assert result.code == 2, (value, result.text)
        assert "--lock-timeout" in result.err and "Traceback" not in result.text
    if url.startswith("sqlite:"):
        assert not Path(url[len("sqlite:///"):]).exists(), "nothing was created"
    else:
        status = cli("status", "--check", "--db", url)
        assert status.code == 3, status.text  # nothing was applied


@pytest.mark.parametrize("value", [1e12, math.inf, -math.inf, math.nan, -1, -0.001, 2147484, True, "5", None])
def test_api_lock_timeouts_out_of_range_are_invalid_arguments(value: Any, request: pytest.FixtureRequest) -> None:
    pg = psycopg.connect(request.getfixturevalue("postgres_server").dsn("postgres"))
    maria = request.getfixturevalue("mariadb_server").connect()
    try:
        for connection in (pg, maria):
            for call in (
                lambda c: run_agent_migrations(c, registry=registry_of(), lock_timeout=value),
                lambda c: run_agent_migrations(c, registry=registry_of(), lock_timeout=value, dry_run=True),
                lambda c: rollback_migrations(c, 0, registry=registry_of(), lock_timeout=value),
                lambda c: repair_history(c, registry=registry_of(), lock_timeout=value),
                lambda c: baseline(c, 1, registry=registry_of(), lock_timeout=value),
                lambda c: record_as_applied(c, registry=registry_of(), lock_timeout=value),
                lambda c: resolve_unfinished(c, 1, applied=False, registry=registry_of(), lock_timeout=value),
            ):
                with pytest.raises(InvalidArgumentError, match="lock_timeout= must be a number of seconds"):
                    call(connection)
    finally:
        pg.close()
        maria.close()
