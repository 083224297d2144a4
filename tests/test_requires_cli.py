"""Agents requiring agents through the real console script, installed as distributions (SQLite).

``tasks-dist`` (agent ``tasks``, V100: a table with a foreign key to
``notes``) declares ``Requires-Dist: notes-dist`` and requires agent
``notes`` (``notes-dist``, V200-V201). What the API does on every dialect is
in tests/test_requires.py; here: ``--agent``, ``agents`` (human and JSON),
``status --json``, the missing agent's ``pip install`` and the exit codes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_support import Cli, plugin_module, sql_module, write_agent_distribution

TASKS_PLUGIN = plugin_module("tasks_agent", requires=["notes"])


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def cli(tmp_path: Path, site: Path) -> Cli:
    return Cli.in_work_directory(tmp_path, site)


def install_tasks(site: Path, requires_dist: str | None) -> None:
    write_agent_distribution(
        site, "tasks-dist", "tasks", "tasks_agent",
        {"V100__create_tasks": sql_module(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes (id));\n"
            "INSERT INTO tasks (id, note_id) SELECT id, id FROM notes;",
            rollback="DROP TABLE tasks;",
        )},
        plugin_source=TASKS_PLUGIN,
    )
    if requires_dist is not None:
        metadata = site / "tasks_dist-1.0.dist-info" / "METADATA"
        metadata.write_text(metadata.read_text() + f"Requires-Dist: nocodo-agents\nRequires-Dist: {requires_dist}\n")


def install_notes(site: Path) -> None:
    write_agent_distribution(
        site, "notes-dist", "notes", "notes_agent",
        {
            "V200__create_notes": sql_module("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", rollback="DROP TABLE notes;"),
            "V201__seed_notes": sql_module("INSERT INTO notes (id, body) VALUES (7, 'seed');", rollback="DELETE FROM notes;"),
        },
    )


def history_table(path: Path) -> bool:
    if not path.exists():
        return False
    connection = sqlite3.connect(path)
    try:
        return bool(connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'refinery_schema_history'").fetchall())
    finally:
        connection.close()


def test_migrate_agent_applies_what_it_requires_first(cli: Cli, site: Path) -> None:
    install_tasks(site, "notes-dist")
    install_notes(site)
    done = cli("migrate", "--agent", "tasks")
    assert done.code == 0, done.text
    order = [done.out.index(f"V{v}__") for v in (200, 201, 100)]
    assert order == sorted(order), done.out
    connection = sqlite3.connect(cli.cwd / "nocodo-agents.db")
    assert connection.execute("SELECT id, note_id FROM tasks").fetchall() == [(7, 7)]
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    connection.close()
    status = cli("status", "--json", "--agent", "tasks")
    assert status.code == 0, status.text
    requires = {row["version"]: row["requires"] for row in json.loads(status.out)}
    assert requires == {1: [], 2: [], 3: [], 100: ["notes"], 200: [], 201: []}
    verify = cli("verify", "--agent", "tasks")
    assert verify.code == 0, verify.text


def test_agents_lists_requirements(cli: Cli, site: Path) -> None:
    install_tasks(site, "notes-dist")
    install_notes(site)
    listed = cli("agents")
    assert listed.code == 0, listed.text
    header, *lines = listed.out.splitlines()
    assert "REQUIRES" in header
    tasks_line = next(line for line in lines if line.startswith("tasks "))
    assert " notes " in tasks_line and tasks_line.rstrip().endswith("100")
    as_json = cli("agents", "--json")
    rows = {row["agent"]: row for row in json.loads(as_json.out)}
    assert rows["tasks"]["requires"] == ["notes"] and rows["tasks"]["error"] is None
    assert rows["notes"]["requires"] == [] and rows["core"]["requires"] == []


def test_a_missing_required_agent_names_the_distribution_to_install(cli: Cli, site: Path) -> None:
    install_tasks(site, "notes-dist>=1.0")
    done = cli("migrate", "--agent", "tasks")
    assert done.code == 1, done.text
    assert "agent 'tasks' (distribution tasks-dist) requires agent 'notes', which is not installed" in done.err
    assert "pip install 'notes-dist>=1.0'" in done.err and "guess" not in done.err
    assert not history_table(cli.cwd / "nocodo-agents.db"), "refused before any statement"
    everything = cli("migrate")
    assert everything.code == 1 and "requires agent 'notes'" in everything.err
    listed = json.loads(cli("agents", "--json").out)
    assert "requires agent 'notes'" in next(row for row in listed if row["agent"] == "tasks")["error"]


def test_without_requires_dist_the_install_command_is_a_marked_guess(cli: Cli, site: Path) -> None:
    install_tasks(site, None)
    done = cli("migrate", "--dry-run", "--agent", "tasks")
    assert done.code == 1, done.text
    assert "pip install nocodo-agents-notes is a guess from the naming convention" in done.err


def test_a_target_or_rollback_that_versions_make_impossible_exits_1(cli: Cli, site: Path) -> None:
    install_tasks(site, "notes-dist")
    install_notes(site)
    refused = cli("migrate", "--agent", "tasks", "--target", "150")
    assert refused.code == 1, refused.text
    assert "target version 150 would apply V100 of agent 'tasks'" in refused.err
    assert not history_table(cli.cwd / "nocodo-agents.db")
    assert cli("migrate").code == 0
    rollback = cli("rollback", "--to", "200")
    assert rollback.code == 1, rollback.text
    assert "would undo V201 of agent 'notes' (distribution notes-dist)" in rollback.err
    assert cli("rollback", "--to", "99").code == 0
