"""Hostile tests of the remembered no-op answer (issue 12): changes the cache must see, or must not be fooled by.

Every test runs the real console script (or ``python -m nocodo_agents``)
against real SQLite files, with a cache directory of its own
(:class:`test_cli_noop_cache.CachedCli`). Each one first gets an answer
remembered, then changes something the full path's answer depends on, and
checks that the next run gives what the full path gives
(``NOCODO_AGENTS_NO_CACHE=1``), and that it never prints a traceback.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from cli_support import CONSOLE_SCRIPT, Result, sql_module, write_agent_distribution
from test_cli_noop_cache import DB, CachedCli, full, remembered, settle

pytestmark = pytest.mark.installed_agents

NO_CACHE = {"NOCODO_AGENTS_NO_CACHE": "1"}



@pytest.fixture
def cli(tmp_path: Path) -> CachedCli:
    return CachedCli(tmp_path)


def no_cache(cli: CachedCli, *args: str, env: dict[str, str] | None = None) -> Result:
    """What the full path answers (nothing read from, nor written to, the cache)."""
    return cli(*args, env={**(env or {}), **NO_CACHE})[0]


def same(a: Result, b: Result) -> bool:
    return (a.code, a.out, a.err) == (b.code, b.out, b.err)


def assert_answered_by_the_full_path_as_a_checksum_error(cli: CachedCli) -> None:
    """The next ``migrate`` takes the full path and answers exactly as with no cache: a changed checksum."""
    outcome = cli(*DB)
    expected = no_cache(cli, *DB)
    assert expected.code != 0 and "checksum" in expected.text.lower(), expected.text
    assert full(outcome) and same(outcome[0], expected), outcome[0].text


def add_agent(cli: CachedCli, package: str, modules: dict[str, str], plugin_source: str | None = None) -> None:
    write_agent_distribution(cli.site, f"nocodo-agents-{package}", package, package, modules, plugin_source)


# -- what a migration or a hook reads that no stamp showed -------------------------------------------------------


ENV_MIGRATION = "import os\n\n\ndef migration(dialect):\n    return 'CREATE TABLE ' + os.environ['HOSTILE_TABLE'] + ' (id INTEGER)'\n"


def test_an_environment_variable_a_migration_reads_is_seen(cli: CachedCli) -> None:
    add_agent(cli, "envy", {"V201__from_env": ENV_MIGRATION})
    cli.env["HOSTILE_TABLE"] = "alpha"
    remembered(cli, *DB)
    cli.env["HOSTILE_TABLE"] = "omega"  # the migration's SQL, so its checksum, is another now
    assert_answered_by_the_full_path_as_a_checksum_error(cli)


HOOK_FROM_ENV = (
    "import os\nfrom nocodo_agents.plugins import hookimpl, load_migrations\n\n\n"
    "@hookimpl\ndef nocodo_agents_migrations():\n"
    "    return load_migrations('hooky.migrations' if os.environ.get('HOSTILE_MORE') != '1' else 'hooky.more')\n"
)


def test_an_environment_variable_a_hook_reads_is_seen(cli: CachedCli) -> None:
    add_agent(cli, "hooky", {"V301__first": sql_module("CREATE TABLE hooky_one (id INTEGER)")}, HOOK_FROM_ENV)
    more = cli.site / "hooky" / "more"
    more.mkdir()
    (more / "__init__.py").write_text("")
    (more / "V301__first.py").write_text(sql_module("CREATE TABLE hooky_one (id INTEGER)"))
    (more / "V302__second.py").write_text(sql_module("CREATE TABLE hooky_two (id INTEGER)"))
    remembered(cli, *DB)
    cli.env["HOSTILE_MORE"] = "1"  # the hook now gives one more migration: the full path applies it
    outcome = cli(*DB)
    assert full(outcome) and outcome[0].code == 0 and "V302__second" in outcome[0].out, outcome[0].text


DEEP_MIGRATION = (
    "from pathlib import Path\n\n\ndef migration(dialect):\n"
    "    return (Path(__file__).parent / 'sql' / 'one.sql').read_text()\n"
)


def test_a_data_file_in_a_plain_subdirectory_edited_in_place_is_seen(cli: CachedCli) -> None:
    add_agent(cli, "deep", {"V401__from_file": DEEP_MIGRATION})
    data = cli.site / "deep" / "migrations" / "sql"
    data.mkdir()  # not a package: no __init__.py, never imported
    (data / "one.sql").write_text("CREATE TABLE deep_a (id INTEGER)")
    remembered(cli, *DB)
    status = (data / "one.sql").stat()
    (data / "one.sql").write_text("CREATE TABLE deep_b (id INTEGER)")  # same size, time put back
    os.utime(data / "one.sql", ns=(status.st_atime_ns, status.st_mtime_ns))
    assert_answered_by_the_full_path_as_a_checksum_error(cli)


def test_a_file_outside_every_package_a_migration_reads_is_seen(cli: CachedCli, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "schema.sql"
    outside.parent.mkdir()
    outside.write_text("CREATE TABLE far_a (id INTEGER)")
    source = f"from pathlib import Path\n\n\ndef migration(dialect):\n    return Path({str(outside)!r}).read_text()\n"
    add_agent(cli, "far", {"V501__from_far": source})
    remembered(cli, *DB)
    outside.write_text("CREATE TABLE far_b (id INTEGER)")
    assert_answered_by_the_full_path_as_a_checksum_error(cli)


# -- the interpreter's options -------------------------------------------------------------------------------------

WARNING_HOOK = (
    "import warnings\nfrom nocodo_agents.plugins import hookimpl, load_migrations\n\n\n"
    "@hookimpl\ndef nocodo_agents_migrations():\n"
    "    warnings.warn('the warned agent is old', UserWarning)\n"
    "    return load_migrations('warned.migrations')\n"
)


def python_m(cli: CachedCli, *options: str) -> Result:
    """``python <options> -m nocodo_agents migrate --db ...`` in ``cli``'s working directory and environment."""
    environment = {k: v for k, v in os.environ.items() if k not in ("NOCODO_AGENTS_DB", "PYTHONPATH")}
    environment.update(cli.env, PYTHONPATH=str(cli.site), MODULES_FILE=os.devnull, STATEMENTS_FILE=os.devnull)
    done = subprocess.run(
        [sys.executable, *options, "-m", "nocodo_agents", *DB], cwd=cli.work, env=environment, capture_output=True, text=True, timeout=120
    )
    return Result(done.returncode, done.stdout, done.stderr)


def test_a_warning_option_of_the_interpreter_is_in_the_key(cli: CachedCli) -> None:
    add_agent(cli, "warned", {"V601__old": sql_module("CREATE TABLE warned (id INTEGER)")}, WARNING_HOOK)
    assert python_m(cli, "-W", "ignore").code == 0
    settle()
    assert python_m(cli, "-W", "ignore").code == 0 and cli.entries()  # remembered (no warning was printed)
    plain = python_m(cli)  # the full path warns on standard error
    assert plain.code == 0 and "the warned agent is old" in plain.err, plain.text


# -- the database --------------------------------------------------------------------------------------------------


def test_a_database_made_read_only_is_answered_as_the_full_path_answers(cli: CachedCli) -> None:
    remembered(cli, *DB)
    database = cli.work / "up.db"
    database.chmod(0o444)
    try:
        outcome = cli(*DB)
        expected = no_cache(cli, *DB)
    finally:
        database.chmod(0o644)
    assert same(outcome[0], expected), (outcome[0].text, expected.text)


def test_a_history_row_edited_in_a_copy_put_in_place_is_seen(cli: CachedCli) -> None:
    remembered(cli, *DB)
    database = cli.work / "up.db"
    copy = cli.work / "copy.db"
    copy.write_bytes(database.read_bytes())
    with closing(sqlite3.connect(copy)) as connection, connection:
        connection.execute("UPDATE refinery_schema_history SET checksum = 'x' || substr(checksum, 2) WHERE version = 10")
    os.replace(copy, database)
    outcome = cli(*DB)
    expected = no_cache(cli, *DB)
    assert expected.code != 0, expected.text
    assert full(outcome) and same(outcome[0], expected), outcome[0].text


def test_a_wal_database_changed_by_a_connection_still_open_is_seen(cli: CachedCli) -> None:
    remembered(cli, *DB)
    database = cli.work / "up.db"
    with closing(sqlite3.connect(database)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
    settle()
    remembered(cli, *DB)
    with closing(sqlite3.connect(database)) as writer:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        with writer:
            writer.execute("DELETE FROM refinery_schema_history WHERE version = 14")
        outcome = cli(*DB)  # the deletion is committed, still in the -wal file: the full path applies V14 again
        assert full(outcome) and "V14__create_pages" in outcome[0].text, outcome[0].text


# -- whatever the cache file holds ---------------------------------------------------------------------------------


def test_an_entry_whose_output_cannot_be_written_is_no_traceback(cli: CachedCli) -> None:
    remembered(cli, *DB)
    (path,) = cli.entries()
    entry = marshal.loads(path.read_bytes())
    entry["stdout"] = "up to date \ud800\n"  # a lone surrogate: no encoding writes it
    path.write_bytes(marshal.dumps(entry))
    outcome = cli(*DB)
    assert outcome[0].code == 0 and "Traceback" not in outcome[0].text, outcome[0].text
    assert full(outcome)


@pytest.mark.parametrize(
    "change",
    ["stamps-not-pairs", "started-huge", "rows-not-list", "identity-wrong-type", "deep-nesting", "key-only"],
)
def test_an_entry_with_wrong_shapes_is_never_a_traceback(cli: CachedCli, change: str) -> None:
    remembered(cli, *DB)
    (path,) = cli.entries()
    entry = marshal.loads(path.read_bytes())
    if change == "stamps-not-pairs":
        entry["stamps"] = (1, 2, 3)
    elif change == "started-huge":
        entry["started"] = 10**30
    elif change == "rows-not-list":
        entry["rows"] = {"a": 1}
    elif change == "identity-wrong-type":
        entry["identity"] = None
    elif change == "deep-nesting":
        nested: object = ()
        for _ in range(1500):
            nested = (nested,)
        entry["rows"] = nested
    else:
        entry = {"key": entry["key"]}
    try:
        data = marshal.dumps(entry)
    except ValueError:
        pytest.skip("marshal refuses to write it")
    path.write_bytes(data)
    outcome = cli(*DB)
    assert outcome[0].code == 0 and "Traceback" not in outcome[0].text, outcome[0].text


def test_the_database_written_by_another_program_without_touching_the_history_is_still_answered(cli: CachedCli) -> None:
    """The full run opens the database file itself too: the file's times are no stamp (its history is read again)."""
    remembered(cli, *DB)
    with closing(sqlite3.connect(cli.work / "up.db")) as connection, connection:
        connection.execute("INSERT INTO notes (id) VALUES (1)")  # the application's own data
    hit = cli(*DB)
    assert not full(hit) and hit[0].code == 0, hit[0].text


def test_a_file_a_migration_reads_through_a_subprocess_is_seen(cli: CachedCli, tmp_path: Path) -> None:
    """What another process reads is no file this one opened: a run that starts one is never remembered."""
    outside = tmp_path / "elsewhere" / "piped.sql"
    outside.parent.mkdir()
    outside.write_text("CREATE TABLE piped_a (id INTEGER)")
    reader = f"print(open({str(outside)!r}).read())"
    source = (
        "import subprocess, sys\n\n\ndef migration(dialect):\n"
        f"    return subprocess.run([sys.executable, '-c', {reader!r}], capture_output=True, text=True).stdout\n"
    )
    add_agent(cli, "piped", {"V701__through_a_pipe": source})
    cli(*DB)
    settle()
    cli(*DB)
    outside.write_text("CREATE TABLE piped_b (id INTEGER)")
    assert_answered_by_the_full_path_as_a_checksum_error(cli)


def test_another_sqlite_database_a_migration_reads_is_seen(cli: CachedCli, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "texts.db"
    other.parent.mkdir()
    with closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("CREATE TABLE texts (sql TEXT)")
        connection.execute("INSERT INTO texts VALUES ('CREATE TABLE kept_a (id INTEGER)')")
    source = (
        "import sqlite3\n\n\ndef migration(dialect):\n"
        f"    connection = sqlite3.connect({str(other)!r})\n"
        "    try:\n        return connection.execute('SELECT sql FROM texts').fetchone()[0]\n"
        "    finally:\n        connection.close()\n"
    )
    add_agent(cli, "kept", {"V801__from_a_database": source})
    remembered(cli, *DB)
    with closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("UPDATE texts SET sql = 'CREATE TABLE kept_b (id INTEGER)'")
    assert_answered_by_the_full_path_as_a_checksum_error(cli)


EXISTS_HOOK = (
    "import os, pathlib\nfrom nocodo_agents.plugins import hookimpl, load_migrations\n\n\n"
    "@hookimpl\ndef nocodo_agents_migrations():\n"
    "    more = {probe}\n"
    "    return load_migrations('probed.more' if more else 'probed.migrations')\n"
)
#: Ways a hook can look at a file without opening it (no audit event): each is watched while the full run lasts.
PROBES = {
    "os.path.exists": "os.path.exists({flag!r})",
    "Path.is_file": "pathlib.Path({flag!r}).is_file()",
    "os.access": "os.access({flag!r}, os.R_OK)",
    "os.lstat": "os.path.lexists({flag!r})",
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_file_a_hook_only_checks_the_existence_of_is_seen(cli: CachedCli, tmp_path: Path, probe: str) -> None:
    flag = tmp_path / "elsewhere" / "enable-more"
    flag.parent.mkdir()
    hook = EXISTS_HOOK.format(probe=PROBES[probe].format(flag=str(flag)))
    add_agent(cli, "probed", {"V901__first": sql_module("CREATE TABLE probed_one (id INTEGER)")}, hook)
    more = cli.site / "probed" / "more"
    more.mkdir()
    (more / "__init__.py").write_text("")
    (more / "V901__first.py").write_text(sql_module("CREATE TABLE probed_one (id INTEGER)"))
    (more / "V902__second.py").write_text(sql_module("CREATE TABLE probed_two (id INTEGER)"))
    remembered(cli, *DB)
    flag.write_text("")
    outcome = cli(*DB)
    assert full(outcome) and outcome[0].code == 0 and "V902__second" in outcome[0].out, outcome[0].text


def test_a_fifo_in_place_of_an_entry_never_blocks_the_command(cli: CachedCli) -> None:
    """Opening a named pipe for reading waits for a writer: the entry is opened without waiting, and refused."""
    remembered(cli, *DB)
    (path,) = cli.entries()
    path.unlink()
    os.mkfifo(path)
    environment = {k: v for k, v in os.environ.items() if k not in ("NOCODO_AGENTS_DB", "PYTHONPATH")}
    environment.update(cli.env, PYTHONPATH=str(cli.site), MODULES_FILE=os.devnull, STATEMENTS_FILE=os.devnull)
    try:
        done = subprocess.run([CONSOLE_SCRIPT, *DB], cwd=cli.work, env=environment, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the command waited on the named pipe")
    assert done.returncode == 0 and "up to date" in done.stdout and "Traceback" not in done.stderr, done.stderr


def test_an_entry_that_is_a_symlink_to_another_file_is_never_read(cli: CachedCli, tmp_path: Path) -> None:
    """Entries are written by a rename, never a link: a link put in place of one is refused (and not followed)."""
    remembered(cli, *DB)
    (path,) = cli.entries()
    elsewhere = tmp_path / "planted.marshal"
    entry = marshal.loads(path.read_bytes())
    entry["stdout"] = "planted answer\n"
    elsewhere.write_bytes(marshal.dumps(entry))
    path.unlink()
    path.symlink_to(elsewhere)
    outcome = cli(*DB)
    assert full(outcome) and "planted" not in outcome[0].out, outcome[0].text


def test_processes_writing_the_same_entry_at_once_leave_one_whole_entry(cli: CachedCli) -> None:
    first = cli(*DB)[0]
    assert first.code == 0, first.text
    settle()
    environment = {k: v for k, v in os.environ.items() if k not in ("NOCODO_AGENTS_DB", "PYTHONPATH")}
    environment.update(cli.env, PYTHONPATH=str(cli.site))  # the environment CachedCli gives (it is all in the key)
    runs = [
        subprocess.Popen(
            [CONSOLE_SCRIPT, *DB],
            cwd=cli.work,
            env={**environment, "MODULES_FILE": str(cli.work.parent / "modules.txt"), "STATEMENTS_FILE": str(cli.work.parent / "statements.txt")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    answers = [(run.wait(timeout=120), run.stdout.read(), run.stderr.read()) for run in runs if run.stdout and run.stderr]
    assert answers == [(0, answers[0][1], "")] * 4 and "up to date" in answers[0][1], answers
    assert len(cli.entries()) == 1 and not list(cli.cache.glob("*.tmp"))
    hit = cli(*DB)
    assert not full(hit) and (hit[0].code, hit[0].out) == (0, answers[0][1]), hit[0].text


HISTORY_CHANGES = {
    "a column added": "ALTER TABLE refinery_schema_history ADD COLUMN note TEXT",
    "a row of another agent added": (
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum, agent) "
        "SELECT 990, 'other', applied_on, checksum, 'other' FROM refinery_schema_history WHERE version = 10"
    ),
    "a row deleted": "DELETE FROM refinery_schema_history WHERE version = 12",
    "a checksum changed": "UPDATE refinery_schema_history SET checksum = 'x' || substr(checksum, 2) WHERE version = 11",
    "an index added": "CREATE INDEX hostile_index ON refinery_schema_history (name)",
    "a name changed": "UPDATE refinery_schema_history SET name = 'renamed' WHERE version = 10",
}


@pytest.mark.parametrize("change", sorted(HISTORY_CHANGES))
def test_a_history_changed_in_place_is_answered_as_the_full_path_answers(cli: CachedCli, change: str) -> None:
    remembered(cli, *DB)
    with closing(sqlite3.connect(cli.work / "up.db")) as connection, connection:
        connection.execute(HISTORY_CHANGES[change])
    outcome = cli(*DB)
    expected = no_cache(cli, *DB)
    assert same(outcome[0], expected), (outcome[0].text, expected.text)
    if change != "an index added":  # its rows and its shape are the same: the remembered answer may stand
        assert full(outcome)


@pytest.mark.parametrize("lock", ["IMMEDIATE", "EXCLUSIVE"])
def test_a_writer_holding_the_database_mid_change_is_answered_as_the_full_path_answers(cli: CachedCli, lock: str) -> None:
    """A writer's uncommitted history row: never claimed (committed state only); an exclusive lock: the full path waits."""
    args = (*DB, "--lock-timeout", "1")
    remembered(cli, *args)
    with closing(sqlite3.connect(cli.work / "up.db", isolation_level=None)) as writer:
        writer.execute(f"BEGIN {lock}")
        writer.execute(HISTORY_CHANGES["a row of another agent added"])
        outcome = cli(*args)
        expected = no_cache(cli, *args)
        writer.execute("ROLLBACK")
    assert same(outcome[0], expected), (outcome[0].text, expected.text)
    assert "Traceback" not in outcome[0].text
    if lock == "EXCLUSIVE":
        assert full(outcome) and outcome[0].code != 0, outcome[0].text
