"""Each command declares its arguments beside its handler, and loads only what it needs when it runs.

The parser is built from every command's declaration, so a command's
module must not import the engine, the plugin machinery or the
scaffolding at module level: ``--help`` and argument errors would pay for
all of them. Running one command loads what that command needs and none
of what only the others need.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nocodo_agents.cli.parser import COMMANDS, build_parser

#: What only some commands need: loaded by the command that needs it, never by building the parser.
HEAVY = {
    "nocodo_agents.discovery": "agents",
    "nocodo_agents.engine.history_ops": "repair",
    "nocodo_agents.engine.migrate": "migrate",
    "nocodo_agents.engine.rollback": "rollback",
    "nocodo_agents.engine.status": "status",
    "nocodo_agents.engine.verify": "verify",
    "nocodo_agents.scaffold": "new",
    "pluggy": "agents",
}


def _modules_after(statement: str, cwd: Path) -> set[str]:
    code = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_every_command_is_listed_once_and_parses_to_its_own_handler() -> None:
    names: list[str] = [name for command in COMMANDS for name in (command.name, *command.aliases)]
    assert len(names) == len(set(names))
    parser = build_parser()
    for command in COMMANDS:
        required = {"baseline": ["--version", "1"], "rollback": ["--to", "1"], "resolve": ["1", "--absent"], "new": ["pkg", "name"]}
        for name in (command.name, *command.aliases):
            args = parser.parse_args([name, *required.get(command.name, [])])
            assert args.command == command.name and args.run is command.run


def test_building_the_parser_and_parsing_load_nothing_a_command_needs(tmp_path: Path) -> None:
    loaded = _modules_after(
        "from nocodo_agents.cli.parser import build_parser\nbuild_parser().parse_args(['status', '--agent', 'x'])", tmp_path
    )
    assert not set(HEAVY) & loaded
    assert not {m for m in loaded if m.startswith("nocodo_agents.engine")}


@pytest.mark.parametrize(
    "arguments, needs",
    [
        (["status"], "nocodo_agents.engine.status"),
        (["migrate"], "nocodo_agents.engine.migrate"),
        (["verify"], "nocodo_agents.engine.verify"),
        (["repair"], "nocodo_agents.engine.history_ops"),
        (["rollback", "--to", "3"], "nocodo_agents.engine.rollback"),
        (["agents"], "nocodo_agents.discovery"),
    ],
)
def test_running_a_command_loads_only_what_it_needs(tmp_path: Path, arguments: list[str], needs: str) -> None:
    database = tmp_path / "agents.sqlite"
    setup = subprocess.run([sys.executable, "-m", "nocodo_agents", "--db", str(database), "-q", "migrate"], capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr
    loaded = _modules_after(
        f"from nocodo_agents.cli import main\nassert main({['--db', str(database), '-q', *arguments]!r}) == 0", tmp_path
    )
    assert needs in loaded
    command = arguments[0]
    others = {module for module, user in HEAVY.items() if user != command and module != needs}
    # every command on a database loads the registry (and pluggy) to find the agents; that is not extra
    others -= {"nocodo_agents.discovery", "pluggy"}
    if command == "repair":  # repair verifies before it re-records
        others.discard("nocodo_agents.engine.verify")
    assert not others & loaded, sorted(others & loaded)
