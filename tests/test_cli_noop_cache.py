"""The command line's remembered no-op answers (``nocodo_agents.cli.noop_answer``): fast, and never wrong.

Every test runs the real console script (tests/cli_support.py) with a cache
directory of its own, an agent distribution unpacked in a directory on
PYTHONPATH, and a recording ``sitecustomize`` (tests/test_process_start.py)
telling which modules the process imported and which statements it sent.
An answer from the cache is recognised by what it did not import (the
parser); the full path imports it. Files written by a test are left two
seconds to settle before an answer can be remembered (a change within one
tick of a coarse file-system clock would not move its times), so each test
waits that long once: counts are asserted, never times.

Each change that could change the answer (an edited, added or removed
migration file, an edited module a migration imports, an agent installed or
removed, the history changed by another process, the database file replaced,
another working directory, another ``NOCODO_AGENTS_*`` variable) is shown to
make the next run take its full path and give the full path's answer.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import time
from contextlib import closing
from pathlib import Path

import pytest
from cli_support import Cli, Result, sql_module, write_agent_distribution
from test_process_start import _RECORDING_SITECUSTOMIZE

from nocodo_agents.cli import noop_answer, noop_record

pytestmark = pytest.mark.installed_agents

#: Never imported when the answer comes from the cache.
NOT_ON_THE_CACHED_PATH = {
    "pluggy", "argparse", "typing", "logging", "dataclasses", "inspect", "ast", "urllib.parse", "pathlib",
    "nocodo_agents.cli.parser", "nocodo_agents.discovery", "nocodo_agents.engine.run", "nocodo_agents.loading",
    "notes_agent", "notes_agent.migrations.V10__create_notes",
    "nocodo_agents.database.migrations.V1__create_agent_sessions",
}

NOTES_V10 = "CREATE TABLE notes (id INTEGER PRIMARY KEY)"
NOTES_V11 = "CREATE TABLE labels (id INTEGER PRIMARY KEY);\n"
HELPER = 'TAGS = "CREATE TABLE tags (name TEXT)"\n'
NOTES_V12 = "from notes_agent.texts import TAGS\n\n\ndef migration(dialect):\n    return TAGS\n"
DATA = "CREATE TABLE pages (id INTEGER);\n"
NOTES_V14 = (
    "from pathlib import Path\n\n\ndef migration(dialect):\n"
    "    return (Path(__file__).parent.parent / 'data.sql').read_text()\n"
)


class CachedCli:
    """The console script with the notes agent installed, answers remembered in ``cache``."""

    def __init__(self, root: Path) -> None:
        self.site = root / "site"
        self.work = root / "work"
        self.cache = root / "cache"
        self.site.mkdir()
        self.work.mkdir()
        (self.site / "sitecustomize.py").write_text(_RECORDING_SITECUSTOMIZE)
        install_notes(self.site)
        self.cli = Cli(self.work, self.site)
        self.env = {
            "NOCODO_AGENTS_NO_CACHE": "",
            "NOCODO_AGENTS_CACHE_DIR": str(self.cache),
            "PYTHONDONTWRITEBYTECODE": "1",  # a .pyc of an edited module with its time put back would stand in for it
        }

    def __call__(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[Result, set[str], list[str]]:
        """Run ``args``: the result, the modules imported, the statements sent."""
        modules, statements = self.work.parent / "modules.txt", self.work.parent / "statements.txt"
        for record in (modules, statements):
            record.unlink(missing_ok=True)
        environment = {**self.env, "MODULES_FILE": str(modules), "STATEMENTS_FILE": str(statements), **(env or {})}
        cli = self.cli if cwd is None else Cli(cwd, self.site)
        result = cli(*args, env=environment)
        sent = [s for s in statements.read_text().split("\n") if s and not s.startswith("-- ")] if statements.exists() else []
        return result, set(modules.read_text().split("\n")), sent

    def entries(self) -> list[Path]:
        return sorted(self.cache.glob(f"{noop_answer.PREFIX}*.marshal")) if self.cache.exists() else []


def install_notes(site: Path) -> None:
    """The notes agent: a module migration, a refinery .sql file, a migration importing a helper module, one reading a data file."""
    modules = {"V10__create_notes": sql_module(NOTES_V10), "V12__create_tags": NOTES_V12, "V14__create_pages": NOTES_V14}
    write_agent_distribution(site, "nocodo-agents-notes", "notes", "notes_agent", modules)
    (site / "notes_agent" / "migrations" / "V11__create_labels.sql").write_text(NOTES_V11)
    (site / "notes_agent" / "texts.py").write_text(HELPER)
    (site / "notes_agent" / "data.sql").write_text(DATA)  # read by V14's module, not a migration file


def settle() -> None:
    """Wait until what the test wrote is old enough to be remembered (see the module's docstring)."""
    time.sleep(noop_answer.SETTLED_NS / 1e9 + 0.2)


def full(outcome: tuple[Result, set[str], list[str]]) -> bool:
    return "nocodo_agents.cli.parser" in outcome[1]


def remembered(cli: CachedCli, *args: str) -> Result:
    """Bring the database up to date, let the files settle, and have ``args`` answered from the cache."""
    first = cli(*args)[0]
    assert first.code == 0, first.text
    settle()
    written = cli(*args)  # the full path, which writes the entry (unless the first run could already)
    assert written[0].code == 0 and cli.entries(), written[0].text
    hit = cli(*args)
    assert not full(hit), "answered from the cache"
    assert (hit[0].code, hit[0].out, hit[0].err) == (0, written[0].out, "")
    return hit[0]


def edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (same length) in ``path``, its modification time put back."""
    assert len(old) == len(new)
    status = path.stat()
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert path.stat().st_size == status.st_size and path.stat().st_mtime_ns == status.st_mtime_ns


@pytest.fixture
def cli(tmp_path: Path) -> CachedCli:
    return CachedCli(tmp_path)


DB = ("migrate", "--db", "sqlite:///up.db")


def test_an_answer_from_the_cache_imports_little_and_sends_the_history_read_alone(cli: CachedCli) -> None:
    remembered(cli, *DB)
    result, modules, statements = cli(*DB)
    assert not full((result, modules, statements))
    assert not modules & NOT_ON_THE_CACHED_PATH, sorted(modules & NOT_ON_THE_CACHED_PATH)
    assert not [m for m in modules if ".migrations." in m], "no migration module imported"
    assert len(statements) == 1 and statements[0].startswith("SELECT version, name, applied_on, checksum, agent"), statements
    quiet = remembered(cli, *DB, "-q")
    assert quiet.out == ""


def test_python_m_is_answered_from_the_cache_too(cli: CachedCli) -> None:
    assert cli(*DB)[0].code == 0
    settle()
    env = {**cli.env, "MODULES_FILE": str(cli.work.parent / "m.txt")}
    for _ in range(2):
        result = cli.cli(*DB, env=env, module=True)
        assert result.code == 0, result.text
    assert "nocodo_agents.cli.parser" not in (cli.work.parent / "m.txt").read_text().split("\n")


@pytest.mark.parametrize(
    "path, old, new",
    [
        ("migrations/V11__create_labels.sql", "labels", "labelz"),
        ("migrations/V10__create_notes.py", "notes (", "notez ("),
        ("texts.py", "tags", "tagz"),  # a module a migration module imports
        ("data.sql", "pages", "pagez"),  # a data file of the agent's package a migration module reads
    ],
)
def test_an_applied_migration_edited_in_place_is_never_answered_from_the_cache(cli: CachedCli, path: str, old: str, new: str) -> None:
    remembered(cli, *DB)
    edit_in_place(cli.site / "notes_agent" / path, old, new)
    outcome = cli(*DB)
    assert full(outcome) and outcome[0].code == 4 and "checksum" in outcome[0].err.lower(), outcome[0].text


def test_a_new_migration_file_is_applied(cli: CachedCli) -> None:
    remembered(cli, *DB)
    (cli.site / "notes_agent" / "migrations" / "V13__create_pins.sql").write_text("CREATE TABLE pins (id INTEGER);\n")
    outcome = cli(*DB)
    assert full(outcome) and outcome[0].code == 0 and "1 applied" in outcome[0].out, outcome[0].text


def test_a_removed_migration_file_is_never_answered_from_the_cache(cli: CachedCli) -> None:
    remembered(cli, *DB)
    reference = cli(*DB, env={"NOCODO_AGENTS_NO_CACHE": "1"})
    (cli.site / "notes_agent" / "migrations" / "V11__create_labels.sql").unlink()
    outcome = cli(*DB)
    assert full(outcome) and (outcome[0].code, outcome[0].out) != (reference[0].code, reference[0].out), outcome[0].text


def test_a_newly_installed_agent_is_applied(cli: CachedCli) -> None:
    remembered(cli, *DB)
    write_agent_distribution(cli.site, "nocodo-agents-todo", "todo", "todo_agent", {"V20__create_todo": sql_module("CREATE TABLE todo (id INTEGER)")})
    outcome = cli(*DB)
    assert full(outcome) and outcome[0].code == 0 and "1 applied" in outcome[0].out, outcome[0].text


def test_a_removed_agent_is_never_answered_from_the_cache(cli: CachedCli) -> None:
    remembered(cli, *DB)
    shutil.rmtree(cli.site / "nocodo_agents_notes-1.0.dist-info")
    outcome = cli(*DB)
    assert full(outcome) and "notes" in outcome[0].text, outcome[0].text


def test_an_edited_entry_point_file_is_never_answered_from_the_cache(cli: CachedCli) -> None:
    remembered(cli, *DB)
    edit_in_place(cli.site / "nocodo_agents_notes-1.0.dist-info" / "entry_points.txt", "notes =", "notez =")
    outcome = cli(*DB)
    assert full(outcome) and "notez" in outcome[0].text, outcome[0].text


def _history(cli: CachedCli, *statements: str) -> None:
    with closing(sqlite3.connect(cli.work / "up.db")) as connection, connection:
        for statement in statements:
            connection.execute(statement)


@pytest.mark.parametrize(
    "statements, code, says",
    [
        # another process rolled V12 back (its table and its row)
        (("DROP TABLE tags", "DELETE FROM refinery_schema_history WHERE version = 12"), 0, "1 applied"),
        # another process edited a row
        (("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 10",), 4, "checksum"),
        # another process recorded a version no installed agent provides
        (("INSERT INTO refinery_schema_history VALUES (99, 'other', '2024-01-01', '5', 'notes')",), None, "99"),
        # another process changed the history's shape, rows untouched
        (("ALTER TABLE refinery_schema_history ADD COLUMN note TEXT",), None, ""),
    ],
)
def test_a_history_changed_by_another_process_is_never_answered_from_the_cache(
    cli: CachedCli, statements: tuple[str, ...], code: int | None, says: str
) -> None:
    remembered(cli, *DB)
    _history(cli, *statements)
    outcome = cli(*DB)
    assert full(outcome), outcome[0].text
    if code is not None:
        assert outcome[0].code == code, outcome[0].text
    assert says in outcome[0].text.lower()


def test_a_database_file_replaced_by_another_is_never_answered_from_the_cache(cli: CachedCli) -> None:
    remembered(cli, *DB)
    shutil.copy(cli.work / "up.db", cli.work / "copy.db")
    os.replace(cli.work / "copy.db", cli.work / "up.db")
    assert full(cli(*DB))
    (cli.work / "up.db").unlink()
    outcome = cli(*DB)
    assert full(outcome) and "applied" in outcome[0].out, outcome[0].text


def test_a_symlink_turned_to_another_database_is_followed(cli: CachedCli) -> None:
    assert cli("migrate", "--db", "sqlite:///a.db")[0].code == 0
    (cli.work / "link.db").symlink_to(cli.work / "a.db")
    remembered(cli, "migrate", "--db", "sqlite:///link.db")
    with closing(sqlite3.connect(cli.work / "b.db")) as other:
        other.execute("CREATE TABLE unrelated (id INTEGER)")
    (cli.work / "link.db").unlink()
    (cli.work / "link.db").symlink_to(cli.work / "b.db")
    outcome = cli("migrate", "--db", "sqlite:///link.db")
    assert full(outcome) and "applied" in outcome[0].out, outcome[0].text


def test_a_database_named_with_uri_parameters_or_in_memory_is_not_remembered(cli: CachedCli) -> None:
    assert cli(*DB)[0].code == 0
    settle()
    for database in ("sqlite:///up.db?mode=rw", "file:up.db?cache=private", ":memory:"):
        for _ in range(2):
            assert full(cli("migrate", "--db", database))
    assert cli.entries() == []


def test_another_home_is_another_answer_for_a_path_under_home(cli: CachedCli, tmp_path: Path) -> None:
    homes = [tmp_path / "home1", tmp_path / "home2"]
    for home in homes:
        home.mkdir()
    remembered_in = {"HOME": str(homes[0])}
    assert cli("migrate", "--db", "~/app.db", env=remembered_in)[0].code == 0
    settle()
    for _ in range(2):
        cli("migrate", "--db", "~/app.db", env=remembered_in)
    assert not full(cli("migrate", "--db", "~/app.db", env=remembered_in))
    outcome = cli("migrate", "--db", "~/app.db", env={"HOME": str(homes[1])})
    assert full(outcome) and "applied" in outcome[0].out and (homes[1] / "app.db").exists(), outcome[0].text


def test_a_relative_database_in_another_directory_is_another_answer(cli: CachedCli) -> None:
    remembered(cli, *DB)
    elsewhere = cli.work.parent / "elsewhere"
    elsewhere.mkdir()
    outcome = cli(*DB, cwd=elsewhere)
    assert full(outcome) and "applied" in outcome[0].out and (elsewhere / "up.db").exists(), outcome[0].text


def test_another_nocodo_agents_variable_is_another_answer(cli: CachedCli) -> None:
    remembered(cli, *DB)
    outcome = cli(*DB, env={"NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert full(outcome) and outcome[0].code == 0 and "notes" in outcome[0].out, outcome[0].text  # rows of an agent not loaded
    default = ("migrate",)
    assert cli(*default, env={"NOCODO_AGENTS_DB": "sqlite:///up.db"})[0].code == 0
    settle()
    assert cli(*default, env={"NOCODO_AGENTS_DB": "sqlite:///up.db"})[0].code == 0
    assert not full(cli(*default, env={"NOCODO_AGENTS_DB": "sqlite:///up.db"}))
    other = cli(*default, env={"NOCODO_AGENTS_DB": "sqlite:///other.db"})
    assert full(other) and "applied" in other[0].out and (cli.work / "other.db").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other format"])
def test_a_damaged_entry_is_never_used_and_is_written_again(cli: CachedCli, damage: str) -> None:
    remembered(cli, *DB)
    [entry] = cli.entries()
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00not marshal\xff" * 10)
    elif damage == "empty":
        entry.write_bytes(b"")
    else:
        import marshal

        value = marshal.loads(data)
        value["key"] = (noop_answer.FORMAT + 1, *value["key"][1:])
        entry.write_bytes(marshal.dumps(value))
    outcome = cli(*DB)
    assert full(outcome) and outcome[0].code == 0 and outcome[0].err == "", outcome[0].text
    assert not full(cli(*DB)), "written again"


def test_an_entry_in_a_directory_others_can_write_is_never_used(cli: CachedCli) -> None:
    remembered(cli, *DB)
    cli.cache.chmod(0o777)
    assert full(cli(*DB))
    cli.cache.chmod(0o700)
    assert not full(cli(*DB))


def test_an_unusable_cache_location_is_no_error(cli: CachedCli) -> None:
    blocker = cli.work.parent / "not-a-directory"
    blocker.write_text("")
    assert cli(*DB)[0].code == 0
    settle()
    for _ in range(2):
        outcome = cli(*DB, env={"NOCODO_AGENTS_CACHE_DIR": str(blocker / "cache")})
        assert full(outcome) and outcome[0].code == 0 and outcome[0].err == "", outcome[0].text


def test_no_cache_and_verbose_runs_never_use_nor_write_one(cli: CachedCli) -> None:
    assert cli(*DB)[0].code == 0
    settle()
    for _ in range(2):
        assert full(cli(*DB, env={"NOCODO_AGENTS_NO_CACHE": "1"}))
        assert full(cli(*DB, "-v"))
        assert full(cli(*DB, "--dry-run"))
    assert cli.entries() == []
    remembered(cli, *DB)
    assert full(cli(*DB, "-v"))
    assert full(cli(*DB, env={"NOCODO_AGENTS_NO_CACHE": "1"}))


def test_a_file_changed_within_two_seconds_of_the_run_is_not_remembered(cli: CachedCli) -> None:
    assert cli(*DB)[0].code == 0
    settle()
    (cli.site / "notes_agent" / "texts.py").touch()
    assert cli(*DB)[0].code == 0
    assert cli.entries() == []


def test_the_cache_keeps_a_bounded_number_of_entries(tmp_path: Path) -> None:
    for number in range(noop_record.MAX_ENTRIES + 10):
        path = tmp_path / f"{noop_answer.PREFIX}{number:08x}.marshal"
        path.write_bytes(b"")
        os.utime(path, ns=(number * 10**9, number * 10**9))
    (tmp_path / "unrelated").write_text("")
    noop_record._prune(str(tmp_path))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == noop_record.MAX_ENTRIES + 1 and "unrelated" in left
    assert f"{noop_answer.PREFIX}{0:08x}.marshal" not in left, "the oldest went first"


def test_the_directory_and_entries_are_private(cli: CachedCli) -> None:
    remembered(cli, *DB)
    assert stat.S_IMODE(cli.cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(entry.stat().st_mode) == 0o600 for entry in cli.entries())


def test_the_cache_location_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOCODO_AGENTS_NO_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert noop_answer.cache_directory() == str(tmp_path / "home" / ".cache" / "nocodo-agents")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert noop_answer.cache_directory() == str(tmp_path / "xdg" / "nocodo-agents")
    monkeypatch.setenv("NOCODO_AGENTS_CACHE_DIR", str(tmp_path / "mine"))
    assert noop_answer.cache_directory() == str(tmp_path / "mine")
    for off in ("1", "yes", "true"):
        monkeypatch.setenv("NOCODO_AGENTS_NO_CACHE", off)
        assert noop_answer.cache_directory() is None
    for on in ("", "0", "off"):
        monkeypatch.setenv("NOCODO_AGENTS_NO_CACHE", on)
        assert noop_answer.cache_directory() == str(tmp_path / "mine")



def test_a_settings_file_created_or_edited_above_the_directory_is_another_answer(cli: CachedCli) -> None:
    """The [tool.nocodo-agents] table of the nearest pyproject.toml changes the database: never answered from the cache."""
    remembered(cli, "migrate")
    project = cli.work.parent / "pyproject.toml"  # a directory above the working directory: found by walking up
    project.write_text('[tool.nocodo-agents]\ndb = "sqlite:///other.db"\n')
    outcome = cli("migrate")
    assert full(outcome) and "applied" in outcome[0].out, outcome[0].text
    assert (cli.work.parent / "other.db").exists() and not (cli.work / "other.db").exists()
    settle()
    assert cli("migrate")[0].code == 0
    assert not full(cli("migrate")), "the same settings again: remembered"
    edit_in_place(project, "other.db", "third.db")
    edited = cli("migrate")
    assert full(edited) and "applied" in edited[0].out and (cli.work.parent / "third.db").exists(), edited[0].text
    settle()
    assert cli("migrate")[0].code == 0
    (cli.work / "pyproject.toml").write_text('[project]\nname = "nearer"\n')  # a nearer project file, without the table
    nearer = cli("migrate")
    assert full(nearer) and nearer[0].out == "up to date: nothing to apply\n", nearer[0].text  # the default file again
