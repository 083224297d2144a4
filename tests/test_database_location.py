"""Where the SQLite database is: URI parameters pass through, and nothing but a database is ever opened.

Run through the real console script (every command that opens a database)
and through ``Database(path)``: a directory, a text file or a file of random
bytes is refused with ``DatabaseAccessError`` (exit 6) naming it, and is left
exactly as it was; ``?mode=ro`` and other SQLite parameters reach SQLite
instead of becoming part of a new file's name; ``--db ""`` is a usage error.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Callable

import pytest
from cli_support import Cli

from nocodo_agents import DatabaseAccessError, DatabaseUrlError
from nocodo_agents.database import Database
from nocodo_agents.discovery import AgentRegistry

#: Every command that opens the database, with the arguments it needs.
COMMANDS: list[list[str]] = [
    ["status"],
    ["migrate"],
    ["migrate", "--dry-run"],
    ["migrate", "--fake"],
    ["verify"],
    ["rollback", "--to", "0"],
    ["rollback", "--to", "0", "--dry-run"],
    ["repair"],
    ["baseline", "--version", "1"],
    ["resolve", "1", "--applied"],
]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.in_work_directory(tmp_path)


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (relative name -> content hash; directories as 'dir')."""
    found = {}
    for path in sorted(directory.rglob("*")):
        found[str(path.relative_to(directory))] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def make_directory(work: Path) -> Path:
    path = work / "data"
    path.mkdir()
    (path / "keep.txt").write_text("kept")
    return path


def make_text_file(work: Path) -> Path:
    path = work / "notes.txt"
    path.write_text("these are my notes, not a database\n")
    return path


def make_random_file(work: Path) -> Path:
    path = work / "random.db"
    path.write_bytes(os.urandom(4096))
    return path


NOT_DATABASES: dict[str, Callable[[Path], Path]] = {
    "directory": make_directory,
    "text file": make_text_file,
    "random bytes": make_random_file,
}
PROBLEM = {"directory": "it is a directory", "text file": "it is not a SQLite database", "random bytes": "it is not a SQLite database"}


@pytest.mark.parametrize("kind", sorted(NOT_DATABASES))
def test_every_command_refuses_what_is_not_a_database(cli: Cli, kind: str) -> None:
    target = NOT_DATABASES[kind](cli.cwd)
    before = snapshot(cli.cwd)
    for form in (target.name, f"sqlite:///{target.name}", f"sqlite:///{target}", f"{target.name}?mode=rw"):
        for command in COMMANDS:
            result = cli(*command, "--db", form)
            assert result.code == 6, (command, form, result.text)
            assert f"cannot use database {form}: {PROBLEM[kind]}" in result.err, (command, result.err)
            assert "Traceback" not in result.text
            assert snapshot(cli.cwd) == before, (command, form, "nothing created or changed")
    from_environment = cli("migrate", env={"NOCODO_AGENTS_DB": target.name})
    assert from_environment.code == 6 and PROBLEM[kind] in from_environment.err
    assert snapshot(cli.cwd) == before


def test_a_path_through_a_file_is_refused(cli: Cli) -> None:
    make_text_file(cli.cwd)
    before = snapshot(cli.cwd)
    for command in (["status"], ["migrate"]):
        result = cli(*command, "--db", "notes.txt/agents.db")
        assert result.code == 6 and "notes.txt/agents.db" in result.err and "not a directory" in result.err, result.text
    assert snapshot(cli.cwd) == before


def test_uri_parameters_of_a_plain_path_reach_sqlite(cli: Cli) -> None:
    missing = cli("migrate", "--db", "agents.db?mode=ro")
    assert missing.code == 6 and "does not exist (mode=ro never creates one)" in missing.err, missing.text
    assert snapshot(cli.cwd) == {}, "neither agents.db nor a file named 'agents.db?mode=ro'"
    assert cli("migrate", "--target", "1", "--db", "agents.db").code == 0
    database = cli.cwd / "agents.db"
    before = snapshot(cli.cwd)
    read_only = cli("migrate", "--db", "agents.db?mode=ro")
    assert read_only.code == 6 and "read-only" in read_only.err, read_only.text
    assert snapshot(cli.cwd) == before
    status = cli("status", "--check", "--db", "agents.db?mode=ro&cache=shared")
    assert status.code == 3 and "pending" in status.out, status.text
    shared = cli("migrate", "--db", "agents.db?cache=shared")
    assert shared.code == 0, shared.text
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["agents.db"]
    assert sqlite3.connect(database).execute("SELECT COUNT(*) FROM refinery_schema_history").fetchone() == (4,)


def test_names_with_percent_hash_spaces_and_file_uris(cli: Cli) -> None:
    assert cli("migrate", "--agent", "core", "--db", "my data%41#1.db").code == 0
    assert cli("migrate", "--agent", "core", "--db", "sqlite:///sub dir/a%41#b.db").code == 0
    assert cli("migrate", "--agent", "core", "--db", "file:uri%20name.db?mode=rwc").code == 0
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["my data%41#1.db", "sub dir", "uri name.db"]
    assert (cli.cwd / "sub dir" / "a%41#b.db").is_file()


def test_unknown_parameters_are_usage_errors_and_create_nothing(cli: Cli) -> None:
    for form in ("agents.db?mdoe=ro", "sqlite:///agents.db?timeout=5", "agents.db?mode=readonly", "agents.db?"):
        result = cli("migrate", "--db", form)
        assert result.code == 2, (form, result.text)
        assert "bad database URL" in result.err
    assert snapshot(cli.cwd) == {}


def test_empty_db_option_is_a_usage_error_and_an_empty_variable_is_unset(cli: Cli) -> None:
    result = cli("migrate", "--db", "")
    assert result.code == 2 and "it is empty" in result.err, result.text
    assert snapshot(cli.cwd) == {}, "the default file was not used"
    unset = cli("migrate", "--agent", "core", env={"NOCODO_AGENTS_DB": ""})
    assert unset.code == 0, unset.text
    assert (cli.cwd / "nocodo-agents.db").is_file()


# -- Database(path) --------------------------------------------------------------------------------


def open_database(path: object) -> Database:
    return Database(path, agents=[], registry=AgentRegistry([]))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(NOT_DATABASES))
def test_database_class_refuses_what_is_not_a_database(tmp_path: Path, kind: str) -> None:
    target = NOT_DATABASES[kind](tmp_path)
    before = snapshot(tmp_path)
    for given in (target, str(target), f"sqlite:///{target}"):
        with pytest.raises(DatabaseAccessError) as raised:
            open_database(given)
        assert PROBLEM[kind] in str(raised.value) and str(target) in str(raised.value)
        assert snapshot(tmp_path) == before


def test_database_class_takes_sqlite_locations(tmp_path: Path) -> None:
    with pytest.raises(DatabaseAccessError, match="mode=ro never creates one"):
        open_database(f"{tmp_path}/agents.db?mode=ro")
    assert snapshot(tmp_path) == {}
    with open_database(f"{tmp_path}/agents.db?cache=shared") as db:
        assert db.migration_report.versions == (1, 2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agents.db"]
    with open_database(f"{tmp_path}/agents.db?mode=ro") as db:  # nothing pending: read-only is enough
        assert db.migration_report.applied == ()
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.create_session("a", "p", "m", "u")
    with open_database(tmp_path / "literal?mode=ro.db") as db:  # a Path is taken literally
        assert db.migration_report.versions == (1, 2, 3)
    assert (tmp_path / "literal?mode=ro.db").is_file()
    with open_database(":memory:") as db:
        assert db.migration_report.versions == (1, 2, 3)


def test_database_class_refuses_other_locations(tmp_path: Path) -> None:
    make_text_file(tmp_path)
    with pytest.raises(DatabaseUrlError, match="SQLite only"):
        open_database("postgresql://app@localhost/agents")
    with pytest.raises(DatabaseUrlError, match="unknown SQLite URI parameter"):
        open_database(f"{tmp_path}/agents.db?mdoe=ro")
    with pytest.raises(DatabaseAccessError, match="part of that path is a file|part of its path is a file"):
        open_database(tmp_path / "notes.txt" / "sub" / "agents.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# -- server URLs: a parameter is used or refused, never dropped ------------------------------------


def test_mysql_url_parameters_reach_pymysql_or_are_refused(cli: Cli, mariadb_server) -> None:
    name = "location_params"
    mariadb_server.create_database(name)
    url = mariadb_server.url(name)
    used = cli("status", "--check", "--agent", "core", "--db", f"{url}?connect_timeout=5&read_timeout=30")
    assert used.code == 3 and "pending" in used.out, used.text
    ignored_before = cli("migrate", "--db", f"{url}?sslmode=require")
    assert ignored_before.code == 2 and "unknown parameter 'sslmode'" in ignored_before.err, ignored_before.text
    socketless = cli("status", "--db", f"{url}?unix_socket=/nonexistent/mysqld.sock")
    assert socketless.code == 6 and "cannot connect" in socketless.err, socketless.text
