"""A plugin calling ``sys.exit()`` never ends the host process: it gets the named error instead.

Wherever plugin code runs (the entry point's import, its hook, the migrations
package's import, a migration module's import, ``migration()``,
``rollback()``), :class:`SystemExit` becomes a :class:`PluginLoadError`
(naming agent and distribution) or an :class:`InvalidMigrationError` (naming
the file). :class:`KeyboardInterrupt` still interrupts. Tested in-process and
through the real console script.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import _module_with, history, plugin_for, registry_of, tables

from nocodo_agents import InvalidMigrationError, PluginLoadError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentEntry, AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations
from nocodo_agents.plugins import hookimpl

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"


def exits(code: object):  # type: ignore[no-untyped-def]
    def call(*_: object) -> None:
        sys.exit(code)  # type: ignore[arg-type]

    return call


def registry_with(load) -> AgentRegistry:  # type: ignore[no-untyped-def]
    return AgentRegistry([AgentEntry("quitter", "quitter-dist", "1.0", "quitter.plugin", load)])


# -- in-process -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code, shown", [(3, "sys.exit(3)"), (0, "sys.exit(0)"), (None, "sys.exit(None)"), ("bye", "sys.exit('bye')")])
def test_sys_exit_while_importing_the_plugin_is_a_plugin_load_error(code: object, shown: str) -> None:
    registry = registry_with(exits(code))
    with pytest.raises(PluginLoadError) as raised:
        registry.requested_sets(["quitter"])
    assert (raised.value.agent, raised.value.distribution) == ("quitter", "quitter-dist")
    assert f"importing quitter.plugin called {shown}" in str(raised.value)
    assert isinstance(raised.value.__cause__, SystemExit)
    assert [s.agent for s in registry.requested_sets([])] == ["core"], "other runs are unaffected"


def test_sys_exit_in_the_hook_is_a_plugin_load_error_every_time() -> None:
    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        sys.exit(0)  # would end the host "successfully"

    plugin = _module_with(nocodo_agents_migrations)
    registry = registry_with(lambda: plugin)
    for _ in range(2):  # and again: not an "already registered" error
        with pytest.raises(PluginLoadError, match=r"nocodo_agents_migrations\(\) hook called sys.exit\(0\)"):
            registry.requested_sets(["quitter"])


def test_keyboard_interrupt_is_not_swallowed() -> None:
    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    plugin = _module_with(nocodo_agents_migrations)
    with pytest.raises(KeyboardInterrupt):
        registry_with(lambda: plugin).requested_sets(["quitter"])


def test_sys_exit_in_the_migrations_package_names_the_package(agent_package) -> None:
    package = agent_package({"V100__notes": NOTES})
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    Path(spec.origin).write_text("import sys\nsys.exit(4)\n")
    registry = AgentRegistry.from_plugins({"quitter": plugin_for(package)}, "quitter-dist")
    with pytest.raises(PluginLoadError) as raised:
        registry.requested_sets(["quitter"])
    assert "quitter-dist" in str(raised.value) and package in str(raised.value) and "sys.exit(4)" in str(raised.value)


@pytest.mark.parametrize(
    "module",
    [
        "import sys\nsys.exit(9)\n",
        "def migration(dialect):\n    import sys\n    sys.exit(9)\n",
        "def migration(dialect):\n    raise SystemExit(9)\n",
    ],
    ids=["on-import", "in-migration", "raise-SystemExit"],
)
def test_sys_exit_in_a_migration_module_names_the_file(agent_package, conn: sqlite3.Connection, module: str) -> None:
    package = agent_package({"V100__notes": NOTES, "V101__quits": module})
    with pytest.raises(InvalidMigrationError) as raised:
        run_agent_migrations(conn, registry=registry_of(quitter=package))
    assert raised.value.source.endswith("V101__quits.py")
    assert "sys.exit(9)" in str(raised.value)
    assert "notes" not in tables(conn)  # refused before the run applied anything


def test_sys_exit_in_rollback_names_the_file_and_changes_nothing(agent_package, conn: sqlite3.Connection) -> None:
    package = agent_package(
        {"V100__notes": f"def migration():\n    return {NOTES!r}\n\ndef rollback():\n    import sys\n    sys.exit(2)\n"}
    )
    registry = registry_of(quitter=package)
    run_agent_migrations(conn, registry=registry)
    with pytest.raises(InvalidMigrationError, match=r"V100__notes\.py.*rollback\(\) called sys.exit\(2\)"):
        rollback_migrations(conn, 3, registry=registry)
    assert [row[0] for row in history(conn)] == [1, 2, 3, 100]
    assert "notes" in tables(conn)


# -- through the console script -------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.in_work_directory(tmp_path)


def test_agents_lists_a_plugin_that_exits_on_import_with_its_error(cli: Cli) -> None:
    write_agent_distribution(cli.site, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    write_agent_distribution(cli.site, "quitter-agent", "quitter", "quitter_agent", {}, plugin_source="import sys\nsys.exit(7)\n")
    result = cli("agents")
    assert result.code == 0, result.text
    lines = {line.split()[0]: line for line in result.out.splitlines()[1:] if line.strip()}
    assert lines["notes"].endswith("100")
    assert "quitter-agent" in lines["quitter"] and "error:" in lines["quitter"] and "sys.exit(7)" in lines["quitter"]
    listed = {row["agent"]: row for row in json.loads(cli("agents", "--json").out)}
    assert listed["quitter"]["migrations"] is None and "quitter-agent" in listed["quitter"]["error"]


def test_migrate_with_a_plugin_that_exits_fails_with_exit_1_naming_it(cli: Cli) -> None:
    hook_exits_0 = (
        "import sys\nfrom nocodo_agents.plugins import hookimpl\n\n\n"
        "@hookimpl\ndef nocodo_agents_migrations():\n    sys.exit(0)\n"
    )
    write_agent_distribution(cli.site, "quitter-agent", "quitter", "quitter_agent", {}, plugin_source=hook_exits_0)
    result = cli("migrate")
    assert result.code == 1, result.text
    assert "agent 'quitter' from distribution quitter-agent could not be loaded" in result.err
    assert "hook called sys.exit(0)" in result.err
    database = cli.cwd / "nocodo-agents.db"
    if database.exists():  # the plugin failed before anything was written
        connection = sqlite3.connect(database)
        try:
            assert tables(connection) == {}
        finally:
            connection.close()
    other = cli("migrate", "--agent", "requirements_qna", module=True)
    assert other.code == 0, other.text  # runs that do not request it are unaffected


@pytest.mark.parametrize(
    "module",
    ["import sys\nsys.exit(9)\n", "def migration(dialect):\n    import sys\n    sys.exit(9)\n"],
    ids=["on-import", "in-migration"],
)
def test_migrate_with_a_migration_that_exits_fails_with_exit_5_naming_the_file(cli: Cli, module: str) -> None:
    write_agent_distribution(cli.site, "quitter-agent", "quitter", "quitter_agent", {"V100__quits": module})
    result = cli("migrate", "--agent", "quitter")
    assert result.code == 5, result.text
    assert "V100__quits.py" in result.err and "sys.exit(9)" in result.err


def test_rollback_that_exits_fails_with_exit_5_and_changes_nothing(cli: Cli) -> None:
    module = f"def migration(dialect):\n    return {NOTES!r}\n\n\ndef rollback(dialect):\n    import sys\n    sys.exit(8)\n"
    write_agent_distribution(cli.site, "quitter-agent", "quitter", "quitter_agent", {"V100__notes": module})
    assert cli("migrate", "--agent", "quitter").code == 0
    result = cli("rollback", "--to", "3", "--agent", "quitter")
    assert result.code == 5, result.text
    assert "V100__notes.py" in result.err and "sys.exit(8)" in result.err
    connection = sqlite3.connect(cli.cwd / "nocodo-agents.db")
    try:
        assert connection.execute("SELECT max(version) FROM refinery_schema_history").fetchone() == (100,)
    finally:
        connection.close()
