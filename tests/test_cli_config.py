"""The command line's settings: flag > NOCODO_AGENTS_* > [tool.nocodo-agents] in pyproject.toml > default,
shown by `nocodo-agents config` (passwords redacted), and a bad setting refused by name (exit 2)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli

PROJECT = """\
[project]
name = "app"
dependencies = ["nocodo-agents[requirements-qna]"]

[tool.nocodo-agents]
{table}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "src" / "deep").mkdir(parents=True)
    return root


def _write(project: Path, table: str) -> Path:
    path = project / "pyproject.toml"
    path.write_text(PROJECT.format(table=textwrap.dedent(table)))
    return path


def _settings(cli: Cli, *args: str, env: dict[str, str] = None) -> dict[str, dict[str, Any]]:
    if env is None:
        env = {}
    result = cli(*args, "config", "--json", env=env)
    assert result.code == 0, result.text
    return {row["setting"]: row for row in json.loads(result.out)["settings"]}


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT version FROM refinery_schema_history ORDER BY version")]


def test_defaults_without_a_project_file(tmp_path: Path) -> None:
    cli = Cli(tmp_path, tmp_path)
    settings = _settings(cli)
    assert {k: (v["value"], v["source"]) for k, v in settings.items()} == {
        "db": ("sqlite:///nocodo-agents.db", "default"),
        "agents": (None, "default"),
        "lock-timeout": (60.0, "default"),
    }
    text = cli("config")
    assert "project file: none" in text.out and "every installed agent" in text.out


def test_each_setting_flag_over_environment_over_file_over_default(project: Path) -> None:
    pyproject = _write(project, """
        db = "sqlite:///data/agents.db"
        agents = ["requirements_qna"]
        lock-timeout = 5
    """)
    cli = Cli(project / "src" / "deep", project)  # the file is found from a subdirectory
    source = f"{pyproject} [tool.nocodo-agents]"
    from_file = _settings(cli)
    assert {k: (v["value"], v["source"]) for k, v in from_file.items()} == {
        "db": (f"sqlite:///{project}/data/agents.db", source),  # relative to the file's directory
        "agents": (["requirements_qna"], source),
        "lock-timeout": (5.0, source),
    }
    env = {"NOCODO_AGENTS_DB": "sqlite:///env.db", "NOCODO_AGENTS_AGENTS": "core, requirements_qna", "NOCODO_AGENTS_LOCK_TIMEOUT": "7"}
    from_env = _settings(cli, env=env)
    assert {k: (v["value"], v["source"]) for k, v in from_env.items()} == {
        "db": ("sqlite:///env.db", "environment variable NOCODO_AGENTS_DB"),
        "agents": (["core", "requirements_qna"], "environment variable NOCODO_AGENTS_AGENTS"),
        "lock-timeout": (7.0, "environment variable NOCODO_AGENTS_LOCK_TIMEOUT"),
    }
    from_flags = _settings(cli, "--db", "sqlite:///flag.db", env=env)
    assert from_flags["db"]["source"] == "flag" and from_flags["db"]["value"] == "sqlite:///flag.db"
    result = cli("--db", "sqlite:///flag.db", "config", "--json", "--agent", "core", "--lock-timeout", "9", env=env)
    rows = {row["setting"]: row for row in json.loads(result.out)["settings"]}
    assert {k: (v["value"], v["source"]) for k, v in rows.items()} == {
        "db": ("sqlite:///flag.db", "flag"), "agents": (["core"], "flag"), "lock-timeout": (9.0, "flag"),
    }
    empty = _settings(cli, env={"NOCODO_AGENTS_DB": "", "NOCODO_AGENTS_AGENTS": " ", "NOCODO_AGENTS_LOCK_TIMEOUT": ""})
    assert all(row["source"] == source for row in empty.values()), "an empty variable counts as unset"


def test_commands_use_the_file_settings(project: Path) -> None:
    _write(project, """
        db = "sqlite:///data/agents.db"
        agents = ["core"]
    """)
    database = project / "data" / "agents.db"
    cli = Cli(project / "src", project)
    migrated = cli("migrate")
    assert migrated.code == 0, migrated.text
    assert _versions(database) == [1, 2, 3], "only core: the file's agents"
    assert not (project / "src" / "nocodo-agents.db").exists()
    both = cli("migrate", "--agent", "requirements_qna")
    assert both.code == 0 and _versions(database) == [1, 2, 3, 4], "the flag wins over the file"
    status = cli("status", "--json")
    assert status.code == 0 and {row["version"] for row in json.loads(status.out)} >= {1, 2, 3}


def test_the_password_is_redacted(project: Path) -> None:
    _write(project, 'db = "postgresql://app:hunter2@127.0.0.1:5439/agents"')
    cli = Cli(project, project)
    for args in (["config"], ["config", "--json"]):
        result = cli(*args)
        assert result.code == 0 and "hunter2" not in result.text and "app:***@127.0.0.1" in result.out
    result = cli("config", env={"NOCODO_AGENTS_DB": "mysql://root:s3cret@127.0.0.1/x"})
    assert "s3cret" not in result.text and "root:***@" in result.out


@pytest.mark.parametrize(
    "table,key,problem",
    [
        ('database = "sqlite:///x.db"', "database", "no such setting (the settings are: db, agents, lock-timeout)"),
        ("db = 3", "db", "it must be a non-empty database URL string"),
        ('agents = "requirements_qna"', "agents", "it must be a list of agent names"),
        ("lock-timeout = true", "lock-timeout", "it must be a number of seconds"),
        ("lock-timeout = -1", "lock-timeout", "it must be a number of seconds"),
        ("db = ", "tool.nocodo-agents", "the file is not valid TOML"),
    ],
)
def test_a_bad_file_setting_is_refused_by_name(project: Path, table: str, key: str, problem: str) -> None:
    pyproject = _write(project, table)
    cli = Cli(project, project)
    result = cli("migrate")
    assert result.code == 2, result.text
    assert f"bad setting {key!r} in {pyproject}" in result.err and problem in result.err
    assert "nocodo-agents config" in result.err
    assert not (project / "nocodo-agents.db").exists(), "nothing was done"


def test_a_bad_environment_setting_is_refused_by_name(tmp_path: Path) -> None:
    cli = Cli(tmp_path, tmp_path)
    result = cli("status", env={"NOCODO_AGENTS_LOCK_TIMEOUT": "soon"})
    assert result.code == 2
    assert "bad setting 'lock-timeout' in environment variable NOCODO_AGENTS_LOCK_TIMEOUT: not a number of seconds: 'soon'" in result.err


def test_a_project_file_without_the_table_is_defaults(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "app"\ndependencies = ["nocodo-agents"]\n')
    cli = Cli(project, project)
    settings = _settings(cli)
    assert all(row["source"] == "default" for row in settings.values())
    assert json.loads(cli("config", "--json").out)["pyproject"] == str(project / "pyproject.toml")
