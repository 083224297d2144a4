"""``new``: timestamp versions, an agent's dashed name, and never writing into an installed copy unasked.

A real wheel in a fresh virtual environment and an editable install are in
tests/test_packaging.py; here the scaffolding API and the console script,
with agents registered in-process or unpacked beside the script.

Timestamp versions (``YYYYMMDDHHMMSS``) are above refinery's 32-bit range and
within :data:`nocodo_agents.migration.MAX_VERSION` (2**63 - 1): what ``new
--timestamp`` writes loads and migrates as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of

from nocodo_agents import InstalledCopyError, ScaffoldError
from nocodo_agents.agent_entries import AgentEntry
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.loading import load_migrations
from nocodo_agents.scaffold import scaffold_migration
from nocodo_agents.scaffold_target import installed_root

NOON = datetime(2026, 12, 1, 12, 0, 0, 345678, tzinfo=timezone.utc)


def _package_dir(dotted: str) -> Path:
    module = __import__(dotted, fromlist=["__path__"])
    return Path(list(module.__path__)[0])


# -- --timestamp ----------------------------------------------------------------------------------


def test_timestamp_writes_the_utc_second_as_the_version(agent_package: Callable[..., str]) -> None:
    package = agent_package({"V100__create_things": "CREATE TABLE things (id INTEGER);"})
    registry = registry_of(things=package)
    path, version = scaffold_migration("things", "add_tags", timestamp=True, registry=registry, now=lambda: NOON)
    assert (path.name, version) == ("V20261201120000__add_tags.py", 20261201120000)
    assert path.parent == _package_dir(package)
    text = path.read_text()
    assert '"""V20261201120000: add_tags."""' in text and "def migration(dialect" in text and "def rollback(dialect" in text
    assert "V20261201120000__add_tags" in text
    # a clock in another zone is read in UTC
    east = datetime(2026, 12, 1, 14, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    _, version = scaffold_migration("things", "add_more", timestamp=True, registry=registry, now=lambda: east)
    assert version == 20261201120005


def test_two_timestamps_in_one_second_take_the_next_free_second(agent_package: Callable[..., str]) -> None:
    package = agent_package({"V100__create_things": "CREATE TABLE things (id INTEGER);"})
    registry = registry_of(things=package)
    first, v1 = scaffold_migration("things", "add_tags", timestamp=True, registry=registry, now=lambda: NOON)
    written = first.read_text()
    second, v2 = scaffold_migration("things", "add_tags", timestamp=True, registry=registry, now=lambda: NOON)
    third, v3 = scaffold_migration("things", "add_notes", timestamp=True, registry=registry, now=lambda: NOON)
    assert (v1, v2, v3) == (20261201120000, 20261201120001, 20261201120002)
    assert first.read_text() == written, "never overwritten"
    assert second.name == "V20261201120001__add_tags.py" and third.name == "V20261201120002__add_notes.py"
    assert [m.version for m in load_migrations(package)] == [100, v1, v2, v3]
    # the last second of a minute rolls over to the next minute, not to second 60
    late = datetime(2026, 12, 1, 12, 0, 59, tzinfo=timezone.utc)
    scaffold_migration("things", "at_59", timestamp=True, registry=registry, now=lambda: late)
    _, rolled = scaffold_migration("things", "after_59", timestamp=True, registry=registry, now=lambda: late)
    assert rolled == 20261201120100


def test_a_timestamp_another_agent_uses_is_skipped(agent_package: Callable[..., str]) -> None:
    taken = agent_package({"V20261201120000__theirs": "CREATE TABLE theirs (id INTEGER);"})
    mine = agent_package({"V100__create_mine": "CREATE TABLE mine (id INTEGER);"})
    path, version = scaffold_migration("mine", "add_x", timestamp=True, registry=registry_of(theirs=taken, mine=mine), now=lambda: NOON)
    assert version == 20261201120001 and path.parent == _package_dir(mine)


def test_timestamp_without_a_clock_given_is_now(agent_package: Callable[..., str]) -> None:
    package = agent_package({"V100__create_things": "CREATE TABLE things (id INTEGER);"})
    before = datetime.now(timezone.utc).replace(microsecond=0)
    _, version = scaffold_migration("things", "add_tags", timestamp=True, registry=registry_of(things=package))
    after = datetime.now(timezone.utc)
    assert before <= datetime.strptime(str(version), "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc) <= after


def test_timestamp_and_version_together_are_refused(agent_package: Callable[..., str]) -> None:
    package = agent_package({"V100__create_things": "CREATE TABLE things (id INTEGER);"})
    with pytest.raises(ScaffoldError) as raised:
        scaffold_migration("things", "x", version=200, timestamp=True, registry=registry_of(things=package))
    assert "not both" in str(raised.value)
    assert sorted(p.name for p in _package_dir(package).glob("V*")) == ["V100__create_things.py"]


# -- agent names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["tag_notes", "tag-notes", "Tag-Notes"])
def test_new_takes_the_agents_name_in_any_spelling(agent_package: Callable[..., str], spelling: str) -> None:
    package = agent_package({"V100__create_tag_notes": "CREATE TABLE tag_notes (id INTEGER);"})
    path, version = scaffold_migration(spelling, "add_x", registry=registry_of(tag_notes=package))
    assert (path.parent, version) == (_package_dir(package), 101)


def test_an_agent_without_module_migrations_gets_its_plugin_packages_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "src"
    (root / "empty_agent").mkdir(parents=True)
    (root / "empty_agent" / "__init__.py").write_text("")
    (root / "empty_agent" / "plugin.py").write_text(
        "from nocodo_agents.plugins import hookimpl\n\n\n@hookimpl\ndef nocodo_agents_migrations():\n    return []\n"
    )
    monkeypatch.syspath_prepend(str(root))
    import importlib

    plugin = importlib.import_module("empty_agent.plugin")
    registry = AgentRegistry([AgentEntry("empty-agent", "empty-agent", "1", "empty_agent.plugin", lambda: plugin)])
    path, version = scaffold_migration("empty-agent", "first", registry=registry)
    assert path == root / "empty_agent" / "migrations" / "V4__first.py", "after the highest installed (core's V3)"
    assert version == 4
    assert (root / "empty_agent" / "migrations" / "__init__.py").exists()
    for name in [m for m in sys.modules if m == "empty_agent" or m.startswith("empty_agent.")]:
        del sys.modules[name]


def test_neither_an_agent_nor_a_package_lists_the_installed_agents(agent_package: Callable[..., str]) -> None:
    package = agent_package({"V100__create_things": "CREATE TABLE things (id INTEGER);"})
    with pytest.raises(ScaffoldError) as raised:
        scaffold_migration("no-such-agent", "x", registry=registry_of(things=package))
    message = str(raised.value)
    assert "no-such-agent" in message and "installed: core, things" in message and "requirements-qna" in message


# -- installed copies -----------------------------------------------------------------------------


def test_an_installed_copy_is_refused_unless_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "venv" / "lib" / "python3.x" / "site-packages"
    write_agent_distribution(site, "copied-agent", "copied", "copied_agent", {"V100__create_copied": sql_module("CREATE TABLE copied (id INTEGER);")})
    monkeypatch.syspath_prepend(str(site))
    import importlib

    plugin = importlib.import_module("copied_agent.plugin")
    registry = AgentRegistry.from_plugins({"copied": plugin}, distribution="copied-agent")
    migrations = site / "copied_agent" / "migrations"
    assert installed_root(migrations) == site.resolve()
    with pytest.raises(InstalledCopyError) as raised:
        scaffold_migration("copied", "add_x", registry=registry)
    error = raised.value
    assert isinstance(error, ScaffoldError)
    assert error.installed_in == str(site.resolve()) and error.path.startswith(str(migrations))
    assert "pip install -e" in str(error) and "force=True" in str(error) and "reinstalled" in str(error)
    assert sorted(p.name for p in migrations.glob("V*")) == ["V100__create_copied.py"], "nothing written"
    path, version = scaffold_migration("copied", "add_x", registry=registry, force=True)
    assert path == migrations / "V101__add_x.py" and version == 101
    for name in [m for m in sys.modules if m == "copied_agent" or m.startswith("copied_agent.")]:
        del sys.modules[name]


def test_a_source_tree_is_not_an_installed_copy(tmp_path: Path) -> None:
    assert installed_root(tmp_path / "src" / "my_agent" / "migrations") is None
    assert installed_root(tmp_path / "dist-packages" / "x") == (tmp_path / "dist-packages").resolve()
    import sysconfig

    assert installed_root(Path(sysconfig.get_paths()["purelib"]) / "anything") is not None


# -- the console script ---------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.in_work_directory(tmp_path)


def test_new_by_dashed_agent_name_and_unknown_names(cli: Cli) -> None:
    write_agent_distribution(cli.site, "tag-notes-agent", "tag_notes", "tag_notes_pkg", {"V100__create_tag_notes": sql_module("CREATE TABLE tag_notes (id INTEGER);")})
    result = cli("new", "tag-notes", "add_tags")
    assert result.code == 0, result.text
    created = cli.site / "tag_notes_pkg" / "migrations" / "V101__add_tags.py"
    assert created.exists() and str(created) in result.out
    again = cli("new", "tag_notes", "add_more")
    assert again.code == 0 and (cli.site / "tag_notes_pkg" / "migrations" / "V102__add_more.py").exists()
    unknown = cli("new", "no-such-agent", "x")
    assert unknown.code == 2
    assert "installed: core, requirements_qna, tag_notes" in unknown.err
    both = cli("new", "tag-notes", "x", "--version", "200", "--timestamp")
    assert both.code == 2 and "not allowed with" in both.err


def test_new_timestamp_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    """The real console script writes two timestamp migrations; ``migrate`` applies them into a 64-bit history."""
    write_agent_distribution(cli.site, "tag-notes-agent", "tag_notes", "tag_notes_pkg", {"V100__create_tag_notes": sql_module("CREATE TABLE tag_notes (id INTEGER);")})
    before = datetime.now(timezone.utc).replace(microsecond=0)
    runs = [cli("new", "tag-notes", "add_tags", "--timestamp") for _ in range(2)]
    after = datetime.now(timezone.utc)
    assert all(run.code == 0 for run in runs), [run.text for run in runs]
    written = sorted(p.name for p in (cli.site / "tag_notes_pkg" / "migrations").glob("V*__add_tags.py"))
    assert len(written) == 2, "two calls, two files, whatever second they fall in"
    moments = [datetime.strptime(name[1:].split("__")[0], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc) for name in written]
    assert before <= moments[0] < moments[1] <= after + timedelta(seconds=1)
    for index, name in enumerate(written):  # the author writes the SQL the scaffold asks for
        (cli.site / "tag_notes_pkg" / "migrations" / name).write_text(sql_module(f"CREATE TABLE tags_{index} (id INTEGER);"))
    url = f"sqlite:///{tmp_path / 'tag_notes.sqlite'}"
    done = cli("migrate", "--db", url, "--agent", "tag-notes")
    assert done.code == 0, done.text
    versions = [int(name[1:].split("__")[0]) for name in written]
    import sqlite3

    connection = sqlite3.connect(tmp_path / "tag_notes.sqlite")
    try:
        history = [row[0] for row in connection.execute("SELECT version FROM refinery_schema_history ORDER BY version")]
        declared = [row[2] for row in connection.execute("PRAGMA table_info(refinery_schema_history)") if row[1] == "version"]
    finally:
        connection.close()
    assert history == [1, 2, 3, 100, *versions] and declared == ["INT8"], (history, declared)
    assert all(name in run.out for name, run in zip(written, runs))


# -- an agent whose migrations package does not exist yet, and what else `new` can meet -----------------


def _without_migrations(cli: Cli, distribution: str, agent: str, package: str, plugin_source: str | None = None) -> Path:
    """A fresh agent's distribution: its hook asks for ``{package}.migrations``, which does not exist yet."""
    write_agent_distribution(cli.site, distribution, agent, package, {}, plugin_source=plugin_source)
    shutil.rmtree(cli.site / package / "migrations")
    return cli.site / package / "migrations"


def test_new_creates_the_migrations_package_a_fresh_agents_hook_asks_for(cli: Cli) -> None:
    migrations = _without_migrations(cli, "nocodo-notes", "notes", "notes_pkg")
    created = cli("new", "notes", "create_notes", "--timestamp")
    assert created.code == 0, created.text
    assert "Reinstall" not in created.text
    assert (migrations / "__init__.py").exists()
    written = sorted(p.name for p in migrations.glob("V*"))
    assert len(written) == 1 and written[0].endswith("__create_notes.py") and str(migrations / written[0]) in created.out
    again = cli("new", "notes", "add_tags")
    assert again.code == 0, again.text
    versions = sorted(int(p.name[1:].split("__")[0]) for p in migrations.glob("V*"))
    assert len(versions) == 2 and versions[1] == versions[0] + 1, "the next one after its own"


def test_new_puts_a_hookless_agents_migrations_in_its_plugin_package(cli: Cli) -> None:
    empty = "from nocodo_agents.plugins import hookimpl\n\n\n@hookimpl\ndef nocodo_agents_migrations():\n    return []\n"
    migrations = _without_migrations(cli, "nocodo-empty", "empty", "empty_pkg", plugin_source=empty)
    created = cli("new", "empty", "first")
    assert created.code == 0, created.text
    assert (migrations / "__init__.py").exists() and len(list(migrations.glob("V*__first.py"))) == 1


def test_new_for_an_agent_whose_plugin_cannot_be_imported_writes_next_to_the_plugin(cli: Cli) -> None:
    failing = "import a_dependency_that_is_not_installed\n"
    migrations = _without_migrations(cli, "nocodo-failing", "failing", "failing_pkg", plugin_source=failing)
    created = cli("new", "failing", "first")
    assert created.code == 0, created.text
    assert (migrations / "__init__.py").exists() and len(list(migrations.glob("V*__first.py"))) == 1


def test_new_names_a_broken_migration_file_instead_of_advising_a_reinstall(cli: Cli) -> None:
    write_agent_distribution(cli.site, "nocodo-notes", "notes", "notes_pkg", {"V100__create_notes": sql_module("CREATE TABLE notes (id INTEGER);")})
    (cli.site / "notes_pkg" / "migrations" / "V101_missing_underscore.py").write_text(sql_module("SELECT 1;"))
    refused = cli("new", "notes", "add_tags")
    assert refused.code == 2, refused.text
    assert "V101_missing_underscore.py" in refused.err and "then run new again" in refused.err
    assert "Reinstall" not in refused.err and "agents=" not in refused.err
    assert sorted(p.name for p in (cli.site / "notes_pkg" / "migrations").glob("V*")) == ["V100__create_notes.py", "V101_missing_underscore.py"]


def test_new_says_what_to_create_for_an_agent_whose_plugin_is_a_top_level_module(cli: Cli) -> None:
    (cli.site / "loose_plugin.py").write_text("from nocodo_agents.plugins import hookimpl\n\n\n@hookimpl\ndef nocodo_agents_migrations():\n    return []\n")
    info = cli.site / "loose-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loose\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nocodo_agents]\nloose = loose_plugin\n")
    refused = cli("new", "loose", "first")
    assert refused.code == 2, refused.text
    assert "loose_plugin" in refused.err and "single module" in refused.err and "__init__.py" in refused.err
    assert "Reinstall" not in refused.err
    module = cli("new", "loose_plugin", "first")
    assert module.code == 2 and "is a module, not a package" in module.err
    assert list(cli.site.glob("**/V*__first.py")) == []


def test_new_takes_a_distribution_providing_one_agent_and_names_the_agents_of_one_providing_several(cli: Cli) -> None:
    write_agent_distribution(cli.site, "acme-notes", "notes", "acme_notes_pkg", {"V100__create_notes": sql_module("CREATE TABLE notes (id INTEGER);")})
    for spelling in ("acme-notes", "Acme_Notes"):
        created = cli("new", spelling, f"add_{spelling.lower().replace('-', '_')}")
        assert created.code == 0, created.text
        assert str(cli.site / "acme_notes_pkg" / "migrations") in created.out
    write_agent_distribution(cli.site, "acme-tasks", "tasks", "acme_tasks_pkg", {"V200__create_tasks": sql_module("CREATE TABLE tasks (id INTEGER);")})
    write_agent_distribution(cli.site, "acme-tasks-extra", "reminders", "acme_reminders_pkg", {"V300__create_reminders": sql_module("CREATE TABLE reminders (id INTEGER);")})
    # acme-tasks provides two agents: tasks and reminders
    shutil.rmtree(cli.site / "acme_tasks_extra-1.0.dist-info")
    (cli.site / "acme_tasks-1.0.dist-info" / "entry_points.txt").write_text(
        "[nocodo_agents]\ntasks = acme_tasks_pkg.plugin\nreminders = acme_reminders_pkg.plugin\n"
    )
    refused = cli("new", "acme-tasks", "add_x")
    assert refused.code == 2, refused.text
    assert "acme-tasks" in refused.err and "reminders, tasks" in refused.err and "new reminders" in refused.err
    assert list(cli.site.glob("*/migrations/V*__add_x.py")) == []
    chosen = cli("new", "tasks", "add_x")
    assert chosen.code == 0 and (cli.site / "acme_tasks_pkg" / "migrations" / "V201__add_x.py").exists(), chosen.text


# -- two `new --timestamp` at once, in two processes ----------------------------------------------------


def test_new_timestamps_started_together_in_separate_processes_never_share_a_version(tmp_path: Path) -> None:
    """Twelve real processes started together, three times: two agents, six names each; every version differs.

    Exclusive create of the file alone would let two different names (or
    two agents) take one second; the per-version claim does not.
    """
    site = tmp_path / "site"
    site.mkdir()
    write_agent_distribution(site, "nocodo-notes", "notes", "notes_pkg", {"V100__create_notes": sql_module("CREATE TABLE notes (id INTEGER);")})
    write_agent_distribution(site, "nocodo-tasks", "tasks", "tasks_pkg", {"V200__create_tasks": sql_module("CREATE TABLE tasks (id INTEGER);")})
    environment = {k: v for k, v in os.environ.items() if k not in ("NOCODO_AGENTS_DB", "PYTHONPATH")}
    environment["PYTHONPATH"] = str(site)
    for attempt in range(3):
        gate = tmp_path / f"gate{attempt}"
        starter = (  # each imports, says it is ready, and waits for the gate, so that all four write at one moment
            "import os, sys, time\n"
            "from nocodo_agents.cli import main\n"
            "open(sys.argv.pop(1), 'w').close()\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.001)\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        runs = [
            subprocess.Popen([sys.executable, "-c", starter, str(tmp_path / f"ready{attempt}_{agent}_{name}"), "new", agent,
                              f"{name}_{attempt}", "--timestamp"],
                             env=environment, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for agent in ("notes", "tasks") for name in ("add_a", "add_b", "add_c", "add_d", "add_e", "add_f")
        ]
        while len(list(tmp_path.glob(f"ready{attempt}_*"))) < len(runs) and all(run.poll() is None for run in runs):
            time.sleep(0.01)
        gate.write_text("")
        outcomes = [run.communicate(timeout=120) + (run.returncode,) for run in runs]
        assert all(code == 0 for _, _, code in outcomes), outcomes
    written = [p.name for p in site.glob("*_pkg/migrations/V*__add_*.py")]
    versions = [int(name[1:].split("__")[0]) for name in written]
    assert len(written) == 36 and len(set(versions)) == 36, sorted(written)
