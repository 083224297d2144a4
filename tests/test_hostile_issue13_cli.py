"""An operator trying to break the command line's settings and --json output (issue 13), through the console script.

A password never reaches the terminal, not even in a usage error; ``migrate
--json`` and ``rollback --json`` end every failure with a JSON error object,
a bad setting included; a settings table under a name that is not read is
refused instead of silently falling back to the default database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli

SECRET = "hunter22secret"
URL = f"postgresql://deploy:{SECRET}@db.internal:5432/app"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.in_work_directory(tmp_path)


# -- a usage error does not print the password ---------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ("migrate", URL),  # --db forgotten
        ("migrate", "--target", URL),  # arguments shifted by one in a deploy script
        ("rollback", "--to", URL),
        ("status", "--lock-timeout", URL),
        (URL,),
        ("migrate", "--db", "sqlite:///x.db", f"mysql://root:{SECRET}@127.0.0.1/app?password={SECRET}"),
    ],
)
def test_a_usage_error_hides_the_password_of_a_url_it_quotes(cli: Cli, arguments: tuple[str, ...]) -> None:
    result = cli(*arguments)
    assert result.code == 2, result.text
    assert "error:" in result.err and SECRET not in result.text, result.text
    assert "***" in result.err, result.err


# -- a password in a URL's query ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://deploy@db.internal/app?password=ab#{SECRET}",
        f"postgresql://deploy@db.internal/app?sslmode=require&password=ab;{SECRET}",
    ],
)
def test_a_password_in_the_query_is_hidden_whole(cli: Cli, url: str) -> None:
    """What follows ``password=`` up to the next parameter is hidden, a ``#`` or ``;`` the password holds included."""
    shown = cli("config", "--json", env={"NOCODO_AGENTS_DB": url})
    assert shown.code == 0 and SECRET not in shown.text, shown.text
    status = cli("status", "--db", url, "--lock-timeout", "1")
    assert status.code in (2, 6) and SECRET not in status.text, status.text  # refused (#), or no such host
    assert "password=***" in status.err and "password=*** " not in status.err, status.err  # the message's ": " kept


# -- --json: every failure is a JSON error object, a bad setting too ------------------------------------


@pytest.mark.parametrize("command", [("migrate", "--json"), ("rollback", "--to", "0", "--json")])
def test_a_bad_setting_is_a_json_error_object(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--db", "app.db", env={"NOCODO_AGENTS_LOCK_TIMEOUT": "ten"})
    assert result.code == 2, result.text
    event = json.loads(result.out)
    assert event["event"] == "error" and event["error"] == "ConfigError" and event["exit_code"] == 2, event
    assert "NOCODO_AGENTS_LOCK_TIMEOUT" in event["message"], event


@pytest.mark.parametrize("command", [("migrate", "--json"), ("rollback", "--to", "0", "--json")])
def test_a_malformed_project_file_is_a_json_error_object_without_its_password(cli: Cli, command: tuple[str, ...]) -> None:
    (cli.cwd / "pyproject.toml").write_text(f'[tool.nocodo-agents]\ndb = "{URL}"\nlock-timeout = "ten"\n')
    result = cli(*command)
    assert result.code == 2, result.text
    event = json.loads(result.out)
    assert event["error"] == "ConfigError" and "lock-timeout" in event["message"], event
    assert SECRET not in result.text


# -- a settings table that is not read is refused -------------------------------------------------------


@pytest.mark.parametrize("table", ["tool.nocodo_agents", 'tool."nocodo_agents"', "tool.nocodo-agent", "tool.nocodoagents"])
def test_a_misnamed_settings_table_is_refused_not_ignored(cli: Cli, table: str) -> None:
    """Ignored, its ``db`` would not be used: ``migrate`` would create and migrate ./nocodo-agents.db instead."""
    (cli.cwd / "pyproject.toml").write_text(f'[{table}]\ndb = "elsewhere.db"\n')
    result = cli("migrate")
    assert result.code == 2, result.text
    assert "[tool.nocodo-agents]" in result.err, result.err
    assert not (cli.cwd / "nocodo-agents.db").exists() and not (cli.cwd / "elsewhere.db").exists()


def test_the_pytest_plugin_s_ini_key_in_the_same_file_is_no_settings_table(cli: Cli) -> None:
    """``nocodo_agents = [...]`` under [tool.pytest.ini_options] (the template's) belongs to the pytest plugin."""
    (cli.cwd / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nnocodo_agents = ["notes"]\n\n[tool.nocodo-agents]\ndb = "here.db"\n'
    )
    result = cli("config", "--json")
    assert result.code == 0, result.text
    assert json.loads(result.out)["settings"][0]["value"] == str(cli.cwd / "here.db")


# -- a descriptor closed before the command starts ------------------------------------------------------


def _run_with_closed(cli: Cli, closed: str, *arguments: str) -> tuple[int, str, str]:
    """Run the console script in a shell that closed ``closed`` (``2``: stderr, ``1``: stdout) first."""
    import os
    import shlex
    import subprocess

    from cli_support import CONSOLE_SCRIPT

    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOCODO_AGENTS_")}
    command = f"exec {closed}>&-; exec {shlex.join([CONSOLE_SCRIPT, *arguments])}"
    done = subprocess.run(["sh", "-c", command], cwd=cli.cwd, env=environment, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (("status", "--json", "--db", "not-yet.db"), 0),  # a note on stderr
        (("migrate", "--json", "--db", "foo://x"), 2),  # an error on stderr after the JSON error object
        (("migrate", "--db", "app.db"), 0),  # the path remembering a no-op migrate
        (("migrate", "--db", "app.db"), 0),
        (("rollback", "--to", "0", "--json", "--db", "app.db"), 6),  # no such file: the error object, and on stderr
    ],
)
def test_a_closed_stderr_neither_corrupts_stdout_nor_fails_the_command(cli: Cli, arguments: tuple[str, ...], code: int) -> None:
    """Python sets ``sys.stderr`` to None when descriptor 2 is closed: ``print(file=None)`` writes to stdout instead."""
    returned, out, _ = _run_with_closed(cli, "2", *arguments)
    assert returned == code, out
    assert "nocodo-agents: " not in out, out
    if "--json" in arguments:
        for line in out.splitlines() if "migrate" in arguments or "rollback" in arguments else [out]:
            json.loads(line)


def test_a_closed_stdout_before_the_start_is_not_a_crash(cli: Cli) -> None:
    returned, _, err = _run_with_closed(cli, "1", "migrate", "--db", "app.db")
    assert returned == 0 and "Traceback" not in err, err
    assert (cli.cwd / "app.db").exists()


# -- an agents setting that names no agent ---------------------------------------------------------------


@pytest.mark.parametrize("value", [",", " , ,"])
def test_an_agents_variable_naming_no_agent_is_refused(cli: Cli, value: str) -> None:
    """``NOCODO_AGENTS_AGENTS="$A,$B"`` with both unset migrated core alone, silently."""
    result = cli("migrate", "--db", "app.db", env={"NOCODO_AGENTS_AGENTS": value})
    assert result.code == 2, result.text
    assert "NOCODO_AGENTS_AGENTS" in result.err and "core" in result.err, result.err
    assert not (cli.cwd / "app.db").exists()


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_agent_flag_is_a_usage_error(cli: Cli, value: str) -> None:
    """It was looked up as agent '' ("pip install nocodo-agents-")."""
    result = cli("migrate", "--db", "app.db", "--agent", value)
    assert result.code == 2, result.text
    assert "argument --agent" in result.err and "nocodo-agents-" not in result.err.replace("nocodo-agents migrate", ""), result.err


def test_a_lock_timeout_out_of_range_says_the_range_readably(cli: Cli) -> None:
    result = cli("config", env={"NOCODO_AGENTS_LOCK_TIMEOUT": "1e9"})
    assert result.code == 2 and "e+06" not in result.err and "24.8 days" in result.err, result.err
    (cli.cwd / "pyproject.toml").write_text("[tool.nocodo-agents]\nlock-timeout = -1\n")
    result = cli("config")
    assert result.code == 2 and "e+06" not in result.err and "24.8 days" in result.err, result.err


# -- where a SQLite path of the project file points -------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("~/agents.db", "~/agents.db"),  # the home directory, as everywhere else a SQLite path is read
        ("sqlite:///~/agents.db", "sqlite:///~/agents.db"),
        ("file:data/agents.db?mode=rwc", "file:{project}/data/agents.db?mode=rwc"),  # a relative file: URI too
        ("sqlite:///file:data/agents.db", "sqlite:///file:{project}/data/agents.db"),
        ("file:/abs/agents.db", "file:/abs/agents.db"),
        ("data/agents.db", "{project}/data/agents.db"),
    ],
)
def test_a_sqlite_path_in_the_project_file(cli: Cli, written: str, expected: str) -> None:
    (cli.cwd / "pyproject.toml").write_text(f'[tool.nocodo-agents]\ndb = "{written}"\n')
    (cli.cwd / "sub").mkdir()
    inner = Cli(cli.cwd / "sub", cli.site)
    result = inner("config", "--json")
    assert result.code == 0, result.text
    assert json.loads(result.out)["settings"][0]["value"] == expected.format(project=cli.cwd)


def test_a_file_uri_in_the_project_file_names_the_file_from_any_directory(cli: Cli) -> None:
    (cli.cwd / "data dir").mkdir()
    (cli.cwd / "pyproject.toml").write_text('[tool.nocodo-agents]\ndb = "file:data%20dir/agents.db"\n')
    (cli.cwd / "sub").mkdir()
    assert Cli(cli.cwd / "sub", cli.site)("migrate", "--agent", "core").code == 0
    assert (cli.cwd / "data dir" / "agents.db").exists()
