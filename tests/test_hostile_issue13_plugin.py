"""A demanding author against the pytest plugin and its ready-made checks (issue 13), on real SQLite files and servers.

Each author suite is written by ``pytester`` and registers its agent
in-process, as in ``test_pytest_plugin.py`` (whose helpers it reuses). What
is asked here: a configuration mistake or an unreachable server is one clear
message per test, never a traceback through the library; a password never
reaches pytest's output; a test that leaves a connection open does not hang
the suite; a check given a wrong argument says so instead of reporting
nonsense about the migrations.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

import psycopg  # noqa: F401  (see below)
import pytest
from test_pytest_plugin import (
    CHECKS,
    GOOD,
    GOOD_ROLLBACK,
    GOOD_SQL,
    _conftest,
    _migration,
    _run,
    _server_url,
    _test_databases,
)

if TYPE_CHECKING:  # pragma: no cover
    from servers import MariaDBServer

pytest_plugins = ["pytester"]

# psycopg is imported here, once: an in-process pytester run removes the modules it imported when it ends,
# and psycopg imported again would define new exception classes while its C extension raises the first ones.

#: A password an operator may well choose: every character a URL gives a meaning to, and a non-ASCII one.
PASSWORD = "p@ss:w/rd?#%&é z"

def _no_traceback(output: str) -> None:
    """Nothing of the library's own frames, nor a driver's, in an author's pytest output."""
    assert "/nocodo_agents/" not in output and "Traceback" not in output, output
    assert "psycopg" not in output and "pymysql" not in output, output


@pytest.fixture
def author_with_password(mariadb_server: MariaDBServer) -> Iterator[str]:
    """The URL (database ``mysql``) of a MariaDB user whose password is :data:`PASSWORD`, allowed to create databases."""
    user = f"author_{uuid.uuid4().hex[:8]}"
    connection = mariadb_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, PASSWORD))
            cursor.execute(f"GRANT ALL ON *.* TO `{user}`@'%'")
        yield f"mysql://{user}:{quote(PASSWORD, safe='')}@{mariadb_server.host}:{mariadb_server.port}/mysql"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS `{user}`@'%'")
        connection.close()


# -- a wrong URL, an unreachable server: one clear message per test -----------------------------------

FIXTURE_TESTS = textwrap.dedent(
    """\
    def test_url(nocodo_db_url):
        pass

    def test_connection(nocodo_connection):
        pass

    def test_migrated(nocodo_migrated):
        pass
    """
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo://x", "unknown scheme 'foo'"),
        (f"postgresql://author:{quote(PASSWORD, safe='')}@127.0.0.1:notaport/postgres", "the parameter port"),
        (f"mysql://author:{quote(PASSWORD, safe='')}@127.0.0.1:1/mysql", "cannot connect"),
        (f"postgresql://author:{quote(PASSWORD, safe='')}@127.0.0.1:1/postgres?connect_timeout=2", "cannot connect"),
    ],
)
def test_a_url_that_cannot_be_used_is_a_message_not_a_traceback(pytester: pytest.Pytester, url: str, expected: str) -> None:
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = _run(pytester, "--nocodo-db-url", url)
    result.assert_outcomes(errors=3)
    output = result.stdout.str()
    assert output.count(expected) >= 3, output
    _no_traceback(output)
    assert quote(PASSWORD, safe="") not in output and "w/rd" not in output, output


def test_a_server_database_that_does_not_exist_is_a_message(pytester: pytest.Pytester, postgres_server) -> None:  # type: ignore[no-untyped-def]
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = _run(pytester, "--nocodo-db-url", postgres_server.url("no_such_database"))
    result.assert_outcomes(errors=3)
    output = result.stdout.str()
    assert output.count('database "no_such_database" does not exist') >= 3, output
    _no_traceback(output)


def test_a_migration_failing_in_nocodo_migrated_is_named_without_a_traceback(pytester: pytest.Pytester) -> None:
    broken = dict(GOOD_SQL, sqlite="CREATE TABLE notes (id INTEGER PRIMARY KEY,);")
    pytester.makeconftest(_conftest(f"[{_migration(10, 'create_notes', broken, GOOD_ROLLBACK)}]"))
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = _run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    output = result.stdout.str()
    assert "V10" in output and "create_notes" in output, output
    _no_traceback(output)


# -- the password never reaches pytest's output -------------------------------------------------------


def test_a_failing_author_test_does_not_print_the_server_password(pytester: pytest.Pytester, author_with_password: str) -> None:
    """pytest shows a failing test's arguments (the fixture values) and the operands of its assertion."""
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(
        test_fails=textwrap.dedent(
            """\
            def test_fails(nocodo_db_url):
                assert nocodo_db_url.startswith("sqlite")

            def test_fails_too(nocodo_db_url, nocodo_connection):
                assert not nocodo_db_url
            """
        )
    )
    result = _run(pytester, "--nocodo-db-url", author_with_password, "-l")
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert "nocodo_db_url = 'mysql://author_" in output and ":***@" in output, output
    assert quote(PASSWORD, safe="") not in output and "w/rd" not in output, output


@pytest.mark.xfail(
    strict=True,
    reason="pytest diffs two strings compared with == by their text, not their repr: a URL given to the test is a str "
    "(drivers and SQLAlchemy need one), so its password shows in that diff; compare parts of it, or redact() it first",
)
def test_an_equality_assertion_on_the_url_does_not_print_the_password(pytester: pytest.Pytester, author_with_password: str) -> None:
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(test_fails="def test_fails(nocodo_db_url):\n    assert nocodo_db_url == 'sqlite://'\n")
    result = _run(pytester, "--nocodo-db-url", author_with_password)
    result.assert_outcomes(failed=1)
    assert quote(PASSWORD, safe="") not in result.stdout.str()


def test_a_password_with_every_special_character_works_on_mariadb(pytester: pytest.Pytester, author_with_password: str) -> None:
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(test_checks=CHECKS)
    before = _test_databases(author_with_password)
    _run(pytester, "--nocodo-db-url", author_with_password).assert_outcomes(passed=6)
    assert _test_databases(author_with_password) == before


# -- a test that leaves a connection open does not hang the suite --------------------------------------


def test_a_test_leaving_a_transaction_open_on_mariadb_does_not_hang_the_drop(
    pytester: pytest.Pytester, mariadb_server: MariaDBServer
) -> None:
    """A failing test's frames (and the connection it opened, reading a table) stay alive in pytest's report.

    MariaDB's DROP DATABASE waits for that connection's metadata lock for
    ``lock_wait_timeout`` (a year by default): the test's database is dropped
    all the same, and the next test runs.
    """
    url = mariadb_server.url("mysql")
    before = _test_databases(url)
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(
        test_leaky=textwrap.dedent(
            """\
            from nocodo_agents.urls import parse_database_url

            def test_leaves_a_transaction_open(nocodo_migrated, nocodo_db_url):
                mine = parse_database_url(nocodo_db_url).connect(create=False)
                mine.cursor().execute("SELECT * FROM notes")
                assert False, "fails, its connection reading notes kept alive by the report"

            def test_next(nocodo_migrated):
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--nocodo-agents", "notes", "--nocodo-db-url", url, timeout=240)
    result.assert_outcomes(passed=1, failed=1)
    assert _test_databases(url) == before, "the failing test's database is dropped"


# -- a check given a wrong argument says so ------------------------------------------------------------


def test_dialects_given_as_one_string_is_refused() -> None:
    from nocodo_agents.testing import migration_checks

    with pytest.raises(TypeError, match=r"dialects=\['postgresql'\]"):
        migration_checks("notes", dialects="postgresql")


@pytest.mark.parametrize("dialect", ["postgres", "mariadb", "SQLite"])
def test_an_unknown_dialect_name_is_refused_naming_the_dialects(dialect: str) -> None:
    from nocodo_agents import AgentRegistry
    from nocodo_agents.testing import check_dialect_sql, migration_checks

    with pytest.raises(ValueError, match=rf"sqlite, postgresql, mysql.*, not {dialect!r}"):
        migration_checks("notes", dialects=[dialect])
    with pytest.raises(ValueError, match=rf"sqlite, postgresql, mysql.*, not {dialect!r}"):
        check_dialect_sql(["notes"], AgentRegistry.from_plugins({}), [dialect])


def test_an_agent_name_that_is_not_installed_fails_every_check_with_a_message(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(test_checks="from nocodo_agents.testing import migration_checks\n\nTestTypo = migration_checks('nots')\n")
    result = _run(pytester)
    result.assert_outcomes(failed=6)
    output = result.stdout.str()
    assert output.count("agent 'nots' is not installed") >= 6, output
    for check in ("test_sql_for_each_dialect", "test_verify_after_upgrade", "test_versions_do_not_collide"):
        assert f"FAILED test_checks.py::TestTypo::{check} - Failed:" in output, output
    _no_traceback(output)


def test_a_migration_failing_in_the_verify_check_is_a_check_failure(pytester: pytest.Pytester) -> None:
    broken = dict(GOOD_SQL, sqlite="CREATE TABLE notes (id INTEGER PRIMARY KEY,);")
    pytester.makeconftest(_conftest(f"[{_migration(10, 'create_notes', broken, GOOD_ROLLBACK)}]"))
    pytester.makepyfile(test_checks=CHECKS)
    result = _run(pytester, "-k", "test_verify_after_upgrade")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "a fresh sqlite database cannot be upgraded and verified" in output, output
    assert "V10" in output and "create_notes" in output, output
    _no_traceback(output)


def test_another_installed_agent_that_does_not_load_is_named_by_the_collision_check(pytester: pytest.Pytester) -> None:
    """Its versions cannot be compared: the check says which agent and why, instead of a traceback."""
    conftest = _conftest(GOOD, other_agent="1 / 0")
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_checks=CHECKS)
    result = _run(pytester, "-k", "test_versions_do_not_collide")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "other installed agents do not load" in output, output
    assert "agent 'other' does not load" in output and "ZeroDivisionError" in output, output
    _no_traceback(output)


# -- a dialect's name misspelt in dialect_sql() --------------------------------------------------------


def test_dialect_sql_refuses_a_keyword_that_is_no_dialect() -> None:
    """``postgres=`` would never be asked for: the migration would fail on PostgreSQL only when it first ran there."""
    from nocodo_agents import InvalidArgumentError
    from nocodo_agents.plugins import dialect_sql

    with pytest.raises(InvalidArgumentError, match=r"dialect_sql\(\).*sqlite, postgresql, mysql \('postgresql'\?\), not 'postgres'"):
        dialect_sql(sqlite="CREATE TABLE t (x INT);", postgres="CREATE TABLE t (x INT);")
    with pytest.raises(InvalidArgumentError, match=r"\('mysql'\?\), not 'mariadb'"):
        dialect_sql(mariadb="CREATE TABLE t (x INT);")
    with pytest.raises(InvalidArgumentError, match=r"\('postgresql'\?\), not 'PostgreSQL'"):
        dialect_sql(PostgreSQL="CREATE TABLE t (x INT);")
    assert dialect_sql(sqlite="A", postgresql="B", mysql="C")("mysql") == "C"
    assert dialect_sql(sqlite="A", mssql="B")("sqlite") == "A"  # a dialect a later version may run: kept


def test_a_misspelt_dialect_fails_the_checks_naming_the_agent(pytester: pytest.Pytester) -> None:
    """Before, ``dialect_sql(..., postgres=...)`` passed test_sql_for_each_dialect: postgresql was simply not claimed."""
    misspelt = GOOD.replace("postgresql=", "postgres=", 1)
    pytester.makeconftest(_conftest(misspelt))
    pytester.makepyfile(test_checks=CHECKS)
    result = _run(pytester)
    result.assert_outcomes(failed=6)
    output = result.stdout.str()
    assert output.count("not 'postgres'") >= 6 and "agent 'notes'" in output, output
    _no_traceback(output)


def test_a_misspelt_dialect_in_a_migration_module_names_its_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    from nocodo_agents import MigrationError
    from nocodo_agents.loading import load_migrations

    package = tmp_path / "misspelt_agent"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "V7__create_t.py").write_text(
        "from nocodo_agents.plugins import dialect_sql\n\n"
        "migration = dialect_sql(sqlite='CREATE TABLE t (x INT);', mysqll='CREATE TABLE t (x INT);')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(MigrationError) as raised:
            for migration in load_migrations("misspelt_agent"):  # a module is imported when its SQL is first asked for
                migration.sql("sqlite")
    finally:
        sys.modules.pop("misspelt_agent", None)
    assert "V7__create_t.py" in str(raised.value) and "not 'mysqll'" in str(raised.value), str(raised.value)


# -- describe_schema leaves the caller's transaction alone --------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_describe_schema_keeps_a_transaction_the_caller_has_open(
    request: pytest.FixtureRequest, tmp_path, dialect: str  # type: ignore[no-untyped-def]
) -> None:
    """It rolled back whatever transaction the connection had open: a test's uncommitted rows were gone."""
    from nocodo_agents import AgentRegistry, run_agent_migrations
    from nocodo_agents.testing import describe_schema, fresh_database
    from nocodo_agents.urls import parse_database_url

    with fresh_database(_server_url(request, dialect), tmp_path) as url:
        connection = parse_database_url(url).connect(create=False)
        try:
            cursor = connection.cursor()
            cursor.execute("CREATE TABLE notes (id INT PRIMARY KEY)")
            connection.commit()
            cursor.execute("INSERT INTO notes (id) VALUES (1)")  # not committed
            assert "table notes" in describe_schema(connection)
            cursor.execute("SELECT count(*) FROM notes")
            assert cursor.fetchone()[0] == 1, "the caller's uncommitted row is still there"
            connection.rollback()
            describe_schema(connection)  # idle before: idle after, as migrations need it
            run_agent_migrations(connection, [], registry=AgentRegistry.from_plugins({}))
        finally:
            connection.close()


def test_a_collision_with_core_is_reported_as_a_collision(pytester: pytest.Pytester) -> None:
    """The agents under test are loaded, not merged, by the collision check: merging is what the collision breaks."""
    colliding = f"[{_migration(2, 'create_notes', GOOD_SQL, GOOD_ROLLBACK)}]"
    pytester.makeconftest(_conftest(colliding))
    pytester.makepyfile(test_checks=CHECKS)
    result = _run(pytester, "-k", "test_versions_do_not_collide or test_sql_for_each_dialect")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "V2 is claimed by agent 'core'" in output and "agent 'notes' (notes/V2__create_notes.py)" in output, output
    assert "Renumber your migration" in output, output


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_a_test_closing_its_connection_itself_is_no_teardown_error(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, dialect: str
) -> None:
    """PyMySQL refuses to close a closed connection ("Already closed"): that was an error at teardown."""
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(
        test_close=textwrap.dedent(
            """\
            def test_closes(nocodo_connection):
                nocodo_connection.close()

            def test_closes_migrated(nocodo_migrated):
                nocodo_migrated.close()
            """
        )
    )
    url = () if dialect == "sqlite" else ("--nocodo-db-url", _server_url(request, dialect))
    _run(pytester, *url).assert_outcomes(passed=2)
