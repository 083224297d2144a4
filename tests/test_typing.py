"""What a type checker says of the public API: mypy --strict run on small snippets of user code.

Every function that takes ``conn`` declares it as :data:`nocodo_agents.Connection`, so
``run_agent_migrations(42)`` is refused before it runs, while a connection of each supported
driver (sqlite3, psycopg 3, PyMySQL) and SQLAlchemy's ``Engine`` and ``Connection`` are accepted.
The snippets are only type-checked, never run. The same snippets are checked a second time as a
project with no psycopg, PyMySQL or SQLAlchemy would see them (every name of theirs ``Any``):
the misuse must still be refused there, which a union of the drivers' classes would not do.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if sys.version_info < (3, 10):
    pytest.skip("mypy 2 runs on Python 3.10 or newer: the lint extra installs it there", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent

#: What mypy says the parameter expects, for every function taking ``conn``.
CONNECTION = '"DBAPIConnection | SQLAlchemyEngine | SQLAlchemyConnection"'

#: Correct uses: no error expected.
ACCEPTED = {
    "sqlite3": """
        import sqlite3

        from nocodo_agents import Connection, MigrationReport, run_agent_migrations
        from nocodo_agents.lifecycle import VerifyReport, rollback_migrations, verify_database
        from nocodo_agents.status import StatusRow, migration_status

        conn = sqlite3.connect("agents.db")
        report: MigrationReport = run_agent_migrations(conn, agents=["requirements_qna"])
        rows: list[StatusRow] = migration_status(conn)
        verified: VerifyReport = verify_database(conn)
        rollback_migrations(conn, 0)

        def migrate(connection: Connection) -> MigrationReport:
            return run_agent_migrations(connection)

        migrate(conn)
    """,
    "psycopg": """
        import psycopg

        from nocodo_agents import run_agent_migrations
        from nocodo_agents.lifecycle import baseline, repair_history, widen_history

        with psycopg.connect("postgresql://localhost/agents") as conn:
            run_agent_migrations(conn)
            baseline(conn, 3)
            repair_history(conn)
            widen_history(conn)
    """,
    "pymysql": """
        import pymysql

        from nocodo_agents import run_agent_migrations
        from nocodo_agents.lifecycle import record_as_applied, resolve_unfinished

        conn = pymysql.connect(host="localhost", user="agents", database="agents")
        run_agent_migrations(conn)
        record_as_applied(conn)
        resolve_unfinished(conn, 3, applied=False)
    """,
    "sqlalchemy": """
        from sqlalchemy import create_engine

        from nocodo_agents import run_agent_migrations

        engine = create_engine("postgresql+psycopg://localhost/agents")
        run_agent_migrations(engine)
        with engine.connect() as connection:
            run_agent_migrations(connection)
    """,
    "database_and_testing": """
        import sqlite3
        from pathlib import Path

        from nocodo_agents import Database, DBAPIConnection
        from nocodo_agents.testing import check_up_down_up, describe_schema

        with Database(Path("agents.db")) as db:
            db.connection.execute("SELECT 1")
        Database("sqlite:///agents.db", ["requirements_qna"]).close()

        def test_my_agent(nocodo_connection: DBAPIConnection) -> None:
            check_up_down_up(nocodo_connection, ["my_agent"])
            describe_schema(nocodo_connection)

        test_my_agent(sqlite3.connect(":memory:"))
    """,
}

#: Misuses: (snippet, the error mypy must report for its last line).
REFUSED = {
    "run_agent_migrations": (
        "from nocodo_agents import run_agent_migrations\nrun_agent_migrations(42)",
        f'Argument 1 to "run_agent_migrations" has incompatible type "int"; expected {CONNECTION}  [arg-type]',
    ),
    "migration_status": (
        "from nocodo_agents.status import migration_status\nmigration_status('agents.db')",
        f'Argument 1 to "migration_status" has incompatible type "str"; expected {CONNECTION}  [arg-type]',
    ),
    "verify_database": (
        "from nocodo_agents.lifecycle import verify_database\nverify_database(None)",
        f'Argument 1 to "verify_database" has incompatible type "None"; expected {CONNECTION}  [arg-type]',
    ),
    "rollback_migrations": (
        "import sqlite3\nfrom nocodo_agents.lifecycle import rollback_migrations\n"
        "rollback_migrations(sqlite3.connect(':memory:').cursor(), 0)",
        f'Argument 1 to "rollback_migrations" has incompatible type "Cursor"; expected {CONNECTION}  [arg-type]',
    ),
    "Database": (
        "from nocodo_agents import Database\nDatabase(42)",
        'Argument 1 to "Database" has incompatible type "int"; expected "str | PathLike[str]"  [arg-type]',
    ),
    "check_up_down_up": (
        "from nocodo_agents.testing import check_up_down_up\ncheck_up_down_up(42, ['my_agent'])",
        'Argument 1 to "check_up_down_up" has incompatible type "int"; expected "DBAPIConnection"  [arg-type]',
    ),
}

#: Every driver's names seen as Any, as in a project where none of them is installed.
WITHOUT_DRIVERS = """
[mypy-psycopg,psycopg.*,pymysql,pymysql.*,sqlalchemy,sqlalchemy.*]
follow_imports = skip
"""

_ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<message>.*)$")


def _mypy(directory: Path, extra_config: str = "") -> dict[str, list[tuple[int, str]]]:
    """mypy --strict on every snippet in ``directory``: each snippet's errors as (line, message)."""
    config = directory / "mypy.ini"
    config.write_text(
        textwrap.dedent(f"""
            [mypy]
            python_version = 3.10
            strict = true
            mypy_path = {ROOT / "core"}
            cache_dir = {directory / ".mypy_cache"}

            # The library is read, not checked here (tests/lint.sh checks it).
            [mypy-nocodo_agents,nocodo_agents.*]
            follow_imports = silent
        """)
        + extra_config,
        encoding="utf-8",
    )
    snippets = sorted(path.name for path in directory.glob("*.py"))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-error-summary", *snippets],
        cwd=directory, capture_output=True, text=True,
    )
    errors: dict[str, list[tuple[int, str]]] = {name: [] for name in snippets}
    for line in result.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            errors[match["file"]].append((int(match["line"]), match["message"]))
    assert result.returncode in (0, 1) and not result.stderr, result.stdout + result.stderr
    return errors


def _snippets(directory: Path) -> Path:
    directory.mkdir()
    for name, code in ACCEPTED.items():
        (directory / f"accepted_{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    for name, (code, _) in REFUSED.items():
        (directory / f"refused_{name}.py").write_text(code + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    return _mypy(_snippets(tmp_path_factory.mktemp("typing") / "snippets"))


@pytest.fixture(scope="module")
def checked_without_drivers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    return _mypy(_snippets(tmp_path_factory.mktemp("typing") / "snippets"), WITHOUT_DRIVERS)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_a_supported_connection_type_checks(checked: dict[str, list[tuple[int, str]]], name: str) -> None:
    assert checked[f"accepted_{name}.py"] == []


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_wrong_connection_fails_type_checking(checked: dict[str, list[tuple[int, str]]], name: str) -> None:
    code, message = REFUSED[name]
    assert checked[f"refused_{name}.py"] == [(code.count("\n") + 1, message)]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_wrong_connection_fails_even_without_the_drivers(
    checked_without_drivers: dict[str, list[tuple[int, str]]], name: str
) -> None:
    code, message = REFUSED[name]
    assert checked_without_drivers[f"refused_{name}.py"] == [(code.count("\n") + 1, message)]


def test_the_sqlite_snippets_still_type_check_without_the_drivers(checked_without_drivers: dict[str, list[tuple[int, str]]]) -> None:
    assert checked_without_drivers["accepted_sqlite3.py"] == []
    assert checked_without_drivers["accepted_database_and_testing.py"] == []


def test_connection_imports_no_driver_and_names_the_supported_types() -> None:
    code = (
        "import sys, nocodo_agents; nocodo_agents.Connection; nocodo_agents.plugins.DBAPIConnection; "
        "print(sorted(m for m in ('psycopg', 'pymysql', 'sqlalchemy', 'sqlite3') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-I", "-c", "import nocodo_agents.plugins; " + code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    import typing

    import nocodo_agents
    from nocodo_agents.connection import DBAPIConnection, SQLAlchemyConnection, SQLAlchemyEngine

    assert typing.get_args(nocodo_agents.Connection) == (DBAPIConnection, SQLAlchemyEngine, SQLAlchemyConnection)
