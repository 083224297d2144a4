"""``NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD``: no entry point is loaded, only core and in-process plugins.

Unit tests here run under conftest's guard, which fails any test that scans
the installed entry points: a registry built with the switch set must never
reach them. The console script tests show that installed agents are neither
listed nor applied (nor imported) while it is set.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import history, plugin_for

from nocodo_agents import UnknownAgentError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import DISABLE_AUTOLOAD_ENV, AgentEntry, AgentRegistry, plugin_autoload_disabled

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "anything"])
def test_set_values_disable_autoload(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, value)
    assert plugin_autoload_disabled()


@pytest.mark.parametrize("value", [None, "", "0", "false", "No", " off "])
def test_unset_or_false_values_keep_autoload(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    if value is None:
        monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    else:
        monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, value)
    assert not plugin_autoload_disabled()


def test_registries_from_entry_points_hold_only_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    for registry in (AgentRegistry.installed(), AgentRegistry.from_entry_points()):
        assert registry.agent_names() == ["core"] and registry.autoload_disabled
    assert AgentRegistry.installed() is AgentRegistry.installed(), "cached like the scanned registry"
    with pytest.raises(UnknownAgentError) as raised:
        AgentRegistry.installed().requested_sets(["requirements_qna"])
    assert DISABLE_AUTOLOAD_ENV in str(raised.value) and "is not loaded" in str(raised.value)
    assert raised.value.autoload_disabled


def test_in_process_plugins_still_load(monkeypatch: pytest.MonkeyPatch, agent_package, conn: sqlite3.Connection) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    registry = AgentRegistry.from_plugins({"notes": plugin_for(agent_package({"V100__notes": NOTES}))})
    assert registry.agent_names() == ["core", "notes"] and not registry.autoload_disabled
    assert run_agent_migrations(conn, registry=registry).versions == (1, 2, 3, 100)


@pytest.mark.installed_agents
def test_the_switch_is_read_at_every_call_despite_the_cache(
    monkeypatch: pytest.MonkeyPatch, agent_package, tmp_path: Path
) -> None:
    from nocodo_agents import discovery

    plugin = plugin_for(agent_package({"V100__notes": NOTES}))
    # The package's directory on sys.path was created just now: settle it (an hour back), or every call
    # within the next two seconds would scan again, as one modified within a clock tick must be.
    settled = (time.time_ns() - 3600 * 10**9,) * 2
    os.utime(tmp_path / "agent_packages", ns=settled)
    scans: list[int] = []

    def entries() -> list[AgentEntry]:
        scans.append(1)
        return [AgentEntry("notes", "notes-agent", "1.0", "notes_agent.plugin", lambda: plugin)]

    monkeypatch.setattr(discovery, "installed_agent_entries", entries)
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    assert AgentRegistry.installed().agent_names() == ["core", "notes"]
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert AgentRegistry.installed().agent_names() == ["core"]
    connection = sqlite3.connect(tmp_path / "switch.sqlite")
    try:
        assert run_agent_migrations(connection).versions == (1, 2, 3)  # the default registry honours it
        monkeypatch.delenv(DISABLE_AUTOLOAD_ENV)
        assert AgentRegistry.installed().agent_names() == ["core", "notes"]
        assert run_agent_migrations(connection).versions == (100,)
        assert [row[0] for row in history(connection)] == [1, 2, 3, 100]
    finally:
        connection.close()
    assert len(scans) == 1, "the scanned registry stayed cached while the switch was set"


# -- through the console script -------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "site").mkdir()
    (tmp_path / "work").mkdir()
    cli = Cli(tmp_path / "work", tmp_path / "site")
    write_agent_distribution(cli.site, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    write_agent_distribution(  # would end the command if it were ever imported
        cli.site, "quitter-agent", "quitter", "quitter_agent", {}, plugin_source="import sys\nsys.exit(7)\n"
    )
    return cli


DISABLED = {DISABLE_AUTOLOAD_ENV: "1"}


def test_agents_lists_only_core_when_autoload_is_disabled(cli: Cli) -> None:
    listed = [row["agent"] for row in json.loads(cli("agents", "--json").out)]
    assert {"core", "notes", "quitter", "requirements_qna"} <= set(listed)
    result = cli("agents", env=DISABLED)
    assert result.code == 0, result.text
    assert [line.split()[0] for line in result.out.splitlines()[1:2]] == ["core"]
    assert "notes" not in result.out and "quitter" not in result.out and "requirements_qna" not in result.out
    assert f"note: {DISABLE_AUTOLOAD_ENV} is set" in result.out
    assert [row["agent"] for row in json.loads(cli("agents", "--json", env=DISABLED).out)] == ["core"]


def test_migrate_applies_no_installed_agent_when_autoload_is_disabled(cli: Cli) -> None:
    result = cli("migrate", env=DISABLED)
    assert result.code == 0, result.text
    assert "V100" not in result.out and "V4__" not in result.out
    connection = sqlite3.connect(cli.cwd / "nocodo-agents.db")
    try:
        assert [row[0] for row in history(connection)] == [1, 2, 3]
    finally:
        connection.close()
    asked = cli("migrate", "--agent", "notes", env=DISABLED)
    assert asked.code == 1
    assert "agent 'notes' is not loaded" in asked.err and DISABLE_AUTOLOAD_ENV in asked.err
    status = cli("status", "--json", env={DISABLE_AUTOLOAD_ENV: "0"})  # "0" keeps autoload on
    assert status.code == 1 and "quitter" in status.err, "with autoload on the broken plugin is loaded again"
