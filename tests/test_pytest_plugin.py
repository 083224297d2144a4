"""The pytest plugin for agent authors (``nocodo_agents.pytest_plugin``, entry point ``pytest11``), run on small author suites.

Each author suite is written by ``pytester`` into a directory of its own and
run in-process; its ``conftest.py`` registers the agent under test in-process
by overriding the ``nocodo_registry`` fixture, as an author may. The plugin
itself is loaded as in any session: through its entry point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from servers import MariaDBServer, PostgresServer

pytest_plugins = ["pytester"]

GOOD_SQL = {
    "sqlite": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    "postgresql": "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);",
    "mysql": "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);",
}
GOOD_ROLLBACK = {dialect: "DROP TABLE notes;" for dialect in GOOD_SQL}
TAGS_SQL = {dialect: "CREATE TABLE note_tags (note_id BIGINT NOT NULL, tag VARCHAR(40) NOT NULL);" for dialect in GOOD_SQL}
TAGS_ROLLBACK = {dialect: "DROP TABLE note_tags;" for dialect in GOOD_SQL}


def _conftest(migrations: str, requires: str | None = None, other_agent: str | None = None) -> str:
    """An author's conftest.py: agent ``notes`` (the ``migrations`` expression), registered in-process, and perhaps agent ``other``."""
    lines = [
        "import pytest",
        "from nocodo_agents import AgentRegistry, Migration",
        "from nocodo_agents.plugins import dialect_sql, hookimpl",
        "",
        "class Notes:",
        "    @hookimpl",
        "    def nocodo_agents_migrations(self):",
        f"        return {migrations}",
    ]
    if requires is not None:
        lines += ["", "    @hookimpl", "    def nocodo_agents_requires(self):", f"        return {requires}"]
    lines += ["", "class Other:", "    @hookimpl", "    def nocodo_agents_migrations(self):", f"        return {other_agent or '[]'}"]
    agents = '{"notes": Notes()' + (', "other": Other()' if other_agent is not None else "") + "}"
    lines += ["", "@pytest.fixture", "def nocodo_registry():", f"    return AgentRegistry.from_plugins({agents}, distribution='notes-agent')", ""]
    return "\n".join(lines)


def _migration(version: int, name: str, sql: dict[str, str], rollback: dict[str, str] | None = None) -> str:
    arguments = ", ".join(f"{d}={s!r}" for d, s in sql.items())
    text = f"Migration({version}, {name!r}, dialect_sql({arguments}), source='notes/V{version}__{name}.py'"
    if rollback is not None:
        text += ", rollback=dialect_sql(" + ", ".join(f"{d}={s!r}" for d, s in rollback.items()) + ")"
    return text + ")"


GOOD = f"[{_migration(10, 'create_notes', GOOD_SQL, GOOD_ROLLBACK)}, {_migration(11, 'create_note_tags', TAGS_SQL, TAGS_ROLLBACK)}]"

CHECKS = "from nocodo_agents.testing import migration_checks\n\nTestNotesMigrations = migration_checks('notes')\n"

OWN_TESTS = textwrap.dedent(
    """\
    from nocodo_agents.testing import describe_schema


    def test_migrated(nocodo_migrated):
        assert "table notes" in describe_schema(nocodo_migrated)
        assert "table agent_sessions" in describe_schema(nocodo_migrated)


    def test_empty(nocodo_connection):
        assert describe_schema(nocodo_connection) == {}
    """
)


def _run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--nocodo-agents", "notes", *arguments)


# -- loading: cheap, and harmless to unrelated suites ------------------------------------------------


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(output.strip().splitlines()[-1]))


def test_loading_the_plugin_imports_nothing_of_the_library() -> None:
    before = _modules_after("import pytest")
    after = _modules_after("import pytest\nimport nocodo_agents.pytest_plugin")
    assert after - before == {"nocodo_agents", "nocodo_agents._version", "nocodo_agents.pytest_plugin"}


def test_an_unrelated_session_loads_the_plugin_and_no_library_module(pytester: pytest.Pytester) -> None:
    """Through its entry point, in a subprocess (a fresh interpreter): only the plugin module and the package's ``__init__``."""
    pytester.makepyfile(
        test_unrelated=textwrap.dedent(
            """\
            import json, sys

            def test_modules(request):
                assert request.config.pluginmanager.has_plugin("nocodo_agents")
                loaded = sorted(m for m in sys.modules if m == "nocodo_agents" or m.startswith("nocodo_agents."))
                drivers = sorted(m for m in ("psycopg", "pymysql") if m in sys.modules)
                print("LOADED", json.dumps([loaded, drivers]))
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "LOADED" in line)
    loaded, drivers = json.loads(line.split("LOADED", 1)[1])
    assert loaded == ["nocodo_agents", "nocodo_agents._version", "nocodo_agents.pytest_plugin"]
    assert drivers == []


def test_an_unrelated_suite_has_the_same_outcome_with_and_without_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_unrelated=textwrap.dedent(
            """\
            import pytest

            @pytest.fixture
            def connection():
                return "mine"

            def test_passes(connection, tmp_path):
                assert connection == "mine"

            def test_fails():
                assert 1 == 2

            @pytest.mark.skip(reason="skipped")
            def test_skipped():
                pass
            """
        )
    )
    with_plugin = pytester.runpytest("-p", "no:cacheprovider")
    without = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:nocodo_agents")
    with_plugin.assert_outcomes(passed=1, failed=1, skipped=1)
    without.assert_outcomes(passed=1, failed=1, skipped=1)


# -- a passing author suite ---------------------------------------------------------------------------


def test_a_passing_suite_on_sqlite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_conftest(GOOD))
    pytester.makepyfile(test_checks=CHECKS, test_own=OWN_TESTS)
    result = _run(pytester)
    result.assert_outcomes(passed=8)


def test_options_come_from_the_ini_file_and_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(_conftest(GOOD))
    pytester.makeini("[pytest]\nnocodo_agents = notes\n")
    pytester.makepyfile(
        test_options=textwrap.dedent(
            """\
            def test_options(nocodo_agents_under_test, nocodo_db_url, tmp_path):
                assert nocodo_agents_under_test == ("notes",)
                assert nocodo_db_url == "sqlite:///" + str(tmp_path / "nocodo-test.db")
            """
        )
    )
    monkeypatch.setenv("NOCODO_AGENTS_TEST_DB_URL", "sqlite:///ignored.db")  # SQLite: a file per test all the same
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def _server_url(request: pytest.FixtureRequest, dialect: str) -> str:
    if dialect == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.url("postgres")
    mariadb: MariaDBServer = request.getfixturevalue("mariadb_server")
    return mariadb.url("mysql")


def _test_databases(url: str) -> set[str]:
    from nocodo_agents.urls import parse_database_url

    connection = parse_database_url(url).connect(create=False)
    try:
        cursor = connection.cursor()
        if parse_database_url(url).dialect == "postgresql":
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'nocodo_test_%%'")
        else:
            cursor.execute("SHOW DATABASES LIKE 'nocodo\\\\_test\\\\_%%'")
        return {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_a_passing_suite_on_a_server_each_test_in_a_database_of_its_own(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, dialect: str
) -> None:
    url = _server_url(request, dialect)
    before = _test_databases(url)
    pytester.makeconftest(_conftest(GOOD))
    same_table = textwrap.dedent(
        """\
        def test_{n}(nocodo_connection):
            cursor = nocodo_connection.cursor()
            cursor.execute("CREATE TABLE scratch (x INT)")
            nocodo_connection.commit()
        """
    )
    pytester.makepyfile(
        test_checks=CHECKS,
        test_own=OWN_TESTS,
        test_isolation=same_table.format(n="one") + "\n\n" + same_table.format(n="two") + "\n\n"
        + "def test_failing(nocodo_migrated):\n    assert False, 'its database is dropped all the same'\n",
    )
    result = _run(pytester, "--nocodo-db-url", url)
    result.assert_outcomes(passed=10, failed=1)
    assert _test_databases(url) == before, "every test's database is dropped, the failing test's too"


# -- each ready-made check fails, saying what is wrong and what to do ---------------------------------


def _failing_check(pytester: pytest.Pytester, conftest: str, check: str, *arguments: str) -> str:
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_checks=CHECKS)
    result = _run(pytester, "-k", check, *arguments)
    result.assert_outcomes(failed=1)
    return result.stdout.str()


def test_a_migration_missing_a_dialect_it_claims(pytester: pytest.Pytester) -> None:
    partial = {d: s for d, s in TAGS_SQL.items() if d != "mysql"}
    broken = f"[{_migration(10, 'create_notes', GOOD_SQL, GOOD_ROLLBACK)}, {_migration(11, 'create_note_tags', partial, TAGS_ROLLBACK)}]"
    output = _failing_check(pytester, _conftest(broken), "test_sql_for_each_dialect")
    assert "migrations lack SQL for a dialect their agent claims" in output
    assert "V11 create_note_tags of agent 'notes' (notes/V11__create_note_tags.py): migration() has no SQL for mysql" in output
    assert "dialect_sql(sqlite=..., postgresql=..., mysql=...)" in output


def test_a_rollback_that_does_not_restore_the_schema(pytester: pytest.Pytester) -> None:
    both = {d: GOOD_SQL[d] + "\nCREATE TABLE note_links (a INT);" for d in GOOD_SQL}
    broken = f"[{_migration(10, 'create_notes', both, GOOD_ROLLBACK)}]"
    output = _failing_check(pytester, _conftest(broken), "test_up_down_up")
    assert "rolling back V10 create_notes of agent 'notes' (notes/V10__create_notes.py) does not restore the sqlite schema" in output
    assert "+ table note_links" in output
    assert "Make its rollback() undo exactly what its migration() does" in output


def test_a_migration_without_rollback(pytester: pytest.Pytester) -> None:
    broken = f"[{_migration(10, 'create_notes', GOOD_SQL)}]"
    output = _failing_check(pytester, _conftest(broken), "test_up_down_up")
    assert "a migration cannot be rolled back" in output and "up_down_up=False" in output


def test_a_version_collision_with_another_installed_agent(pytester: pytest.Pytester) -> None:
    other = f"[{_migration(11, 'other_table', TAGS_SQL, TAGS_ROLLBACK).replace('notes/', 'other/')}]"
    output = _failing_check(pytester, _conftest(GOOD, other_agent=other), "test_versions_do_not_collide")
    assert "V11 is claimed by" in output and "agent 'other' (other/V11__other_table.py)" in output
    assert "agent 'notes' (notes/V11__create_note_tags.py)" in output
    assert "Renumber your migration" in output


def test_a_missing_requirement(pytester: pytest.Pytester) -> None:
    output = _failing_check(pytester, _conftest(GOOD, requires="['absent_agent']"), "test_requirements_are_installed")
    assert "absent_agent" in output and "Install the required agent's distribution" in output


def test_drift_after_upgrade(pytester: pytest.Pytester, postgres_server: PostgresServer) -> None:
    """A migration whose effect depends on the schema it runs in: the scratch replay differs from the live database."""
    drifting = dict(GOOD_SQL)
    drifting["postgresql"] = (
        GOOD_SQL["postgresql"]
        + "\nDO $$ BEGIN IF current_schema() = 'public' THEN CREATE INDEX notes_body ON notes (body); END IF; END $$;"
    )
    broken = f"[{_migration(10, 'create_notes', drifting, GOOD_ROLLBACK)}]"
    output = _failing_check(
        pytester, _conftest(broken), "test_verify_after_upgrade", "--nocodo-db-url", postgres_server.url("postgres")
    )
    assert "verify finds the freshly upgraded postgresql database inconsistent" in output
    assert "notes_body" in output


def test_a_migration_that_does_not_upgrade(pytester: pytest.Pytester) -> None:
    broken_sql = dict(TAGS_SQL, sqlite="CREATE TABLE note_tags (note_id BIGINT NOT NULL, tag VARCHAR(40) NOT NULL,);")
    broken = f"[{_migration(10, 'create_notes', GOOD_SQL, GOOD_ROLLBACK)}, {_migration(11, 'create_note_tags', broken_sql, TAGS_ROLLBACK)}]"
    output = _failing_check(pytester, _conftest(broken), "test_each_migration_upgrades")
    assert "a migration does not upgrade a fresh sqlite database" in output
    assert "V11 create_note_tags of agent 'notes' (notes/V11__create_note_tags.py), applied after V10" in output
    assert "Fix its sqlite SQL" in output


def test_a_server_user_who_may_not_create_databases_is_told_so(postgres_server: PostgresServer, tmp_path) -> None:
    import psycopg

    from nocodo_agents import DatabaseAccessError
    from nocodo_agents.testing import fresh_database

    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS nocodo_no_createdb")
        admin.execute("CREATE ROLE nocodo_no_createdb LOGIN NOCREATEDB")
    url = postgres_server.url("postgres").replace(f"//{postgres_server.user}@", "//nocodo_no_createdb@")
    with pytest.raises(DatabaseAccessError) as raised:
        with fresh_database(url, tmp_path):
            pass
    assert "CREATE DATABASE" in str(raised.value) and "CREATEDB" in str(raised.value)
    assert "or test against SQLite" in str(raised.value), str(raised.value)
