"""Process start: what a fresh process imports and sends on the no-op path (counts only, never time).

The command line's ``migrate`` on an up-to-date SQLite file runs the real
console script (tests/cli_support.py) and must import only what that path
uses: one command module, no metadata or resources machinery (the agents are
found by :mod:`nocodo_agents.entry_point_scan`), no error hints, no JSON, no
other command's engine; and send the five statements docs/how-a-run-works.md names, one
of them the history read. Importing the runner loads no agent, no migration
module and no driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from cli_support import Cli

#: Never imported by ``migrate`` on an up-to-date database.
NOT_ON_THE_NOOP_PATH = {
    "email",  # importlib.metadata's METADATA parser
    "importlib.metadata",
    "importlib.resources",
    "zipfile",
    "tempfile",
    "json",  # --json only
    "nocodo_agents.cli.inspect_commands",  # the other commands' modules
    "nocodo_agents.cli.scaffold_command",
    "nocodo_agents.cli.hints",  # after an error only
    "nocodo_agents.cli.row_notes",  # rows of agents not requested only
    "nocodo_agents.errors.hints",
    "nocodo_agents.scaffold",
    "nocodo_agents.drift",
    "nocodo_agents.engine.status",
    "nocodo_agents.engine.verify",
    "nocodo_agents.engine.history_ops",
    "nocodo_agents.engine.rollback",
    # applying: a no-op has nothing to apply, nothing to check before running, no history to widen
    "nocodo_agents.engine.apply",
    "nocodo_agents.engine.non_transactional",
    "nocodo_agents.engine.widening",
    "nocodo_agents.execution",
    "nocodo_agents.adoption",
    "nocodo_agents.engine.noop_cache",  # the command line's connection is fresh: no earlier no-op to recall
    "nocodo_agents.engine.outcome_reports",  # what rollback, verify and repair return
    "nocodo_agents.dialects.lock_wait",  # the write lock
    # the schema layer: splitting, scanning and replaying SQL
    "nocodo_agents.schema.lexer",
    "nocodo_agents.schema.split",
    "nocodo_agents.schema.sqlite_split",
    "nocodo_agents.schema.session_state",
    "nocodo_agents.schema.transaction_control",
    # errors of other concerns (each error class's module is imported when named)
    "nocodo_agents.errors.history_width",
    "nocodo_agents.errors.statements",
    "nocodo_agents.errors.store",
    "shutil",  # argparse's terminal width (cli/parser.py asks the terminal itself)
}

CORE_MIGRATIONS = {
    "nocodo_agents.database.migrations.V1__create_agent_sessions",
    "nocodo_agents.database.migrations.V2__create_agent_messages",
    "nocodo_agents.database.migrations.V3__create_agent_tool_calls",
}

#: Written into the agents' site directory (on PYTHONPATH): at exit the process writes the names of
#: the modules it imported (``MODULES_FILE``; ``-X importtime`` does not see ``importlib.import_module``,
#: which loads commands, agents and migrations) and the statements each sqlite3 connection sent
#: (``STATEMENTS_FILE``), and how many times the requested agents' migration sets were loaded
#: (``LOADS_FILE``: calls of ``AgentRegistry.requested_sets``). It imports nothing the process would
#: not import anyway (``LOADS_FILE``: the registry, which every command taking --agent imports).
_RECORDING_SITECUSTOMIZE = """\
import atexit, os, sys

if os.environ.get("STATEMENTS_FILE"):
    import sqlite3

    _connect = sqlite3.connect
    _sent = []

    def connect(*args, **kwargs):
        connection = _connect(*args, **kwargs)
        connection.set_trace_callback(_sent.append)
        return connection

    sqlite3.connect = connect

    @atexit.register
    def _write_statements():
        with open(os.environ["STATEMENTS_FILE"], "w") as file:
            file.write("\\n".join(s.replace("\\n", " ") for s in _sent))

if os.environ.get("LOADS_FILE"):
    from nocodo_agents.discovery import AgentRegistry

    _requested_sets = AgentRegistry.requested_sets
    _loads = []

    def requested_sets(self, agents):
        _loads.append(agents)
        return _requested_sets(self, agents)

    AgentRegistry.requested_sets = requested_sets

    @atexit.register
    def _write_loads():
        with open(os.environ["LOADS_FILE"], "w") as file:
            file.write(str(len(_loads)))

if os.environ.get("MODULES_FILE"):

    @atexit.register
    def _write_modules():
        with open(os.environ["MODULES_FILE"], "w") as file:
            file.write("\\n".join(sorted(sys.modules)))
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli.in_work_directory(tmp_path)
    (cli.site / "sitecustomize.py").write_text(_RECORDING_SITECUSTOMIZE)
    return cli


def _imported(cli: Cli, *arguments: str) -> set[str]:
    """The modules a run of the console script with ``arguments`` imported (its exit code checked by the caller)."""
    record = cli.cwd / "modules.txt"
    record.unlink(missing_ok=True)
    result = cli(*arguments, env={"MODULES_FILE": str(record)})
    assert result.code in (0, 2), result.text
    return set(record.read_text().split("\n"))


def _statements(cli: Cli, *arguments: str) -> list[str]:
    """The statements a run of the console script with ``arguments`` sent (it must succeed)."""
    record = cli.cwd / "statements.txt"
    record.unlink(missing_ok=True)
    result = cli(*arguments, env={"STATEMENTS_FILE": str(record)})
    assert result.code == 0, result.text
    return [s for s in record.read_text().split("\n") if s and not s.startswith("-- ")]  # "-- ": a nested statement's trace


def _up_to_date(cli: Cli) -> None:
    first = cli("migrate", "--db", "up.db")
    assert first.code == 0 and "4 applied" in first.out, first.text


def test_a_noop_migrate_imports_only_what_it_uses(cli: Cli) -> None:
    _up_to_date(cli)
    imported = _imported(cli, "migrate", "--db", "up.db")
    assert {"nocodo_agents.engine.migrate", "nocodo_agents.cli.migrate_command", "sqlite3"} <= imported  # the path ran
    assert "nocodo_agents.cli.change_commands" not in imported  # the other commands that change the database
    assert not NOT_ON_THE_NOOP_PATH & imported, sorted(NOT_ON_THE_NOOP_PATH & imported)
    assert {m for m in imported if m.rpartition(".")[2].startswith("V")} == CORE_MIGRATIONS | {
        "nocodo_agents_requirements_qna.migrations.V4__create_project_requirements_qna"
    }


def test_a_noop_migrate_of_core_alone_imports_no_other_agent(cli: Cli) -> None:
    _up_to_date(cli)
    imported = _imported(cli, "migrate", "--db", "up.db", "--agent", "core")
    assert "nocodo_agents.engine.migrate" in imported
    assert not {m for m in imported if m.startswith("nocodo_agents_requirements_qna")}
    assert {m for m in imported if m.rpartition(".")[2].startswith("V")} == CORE_MIGRATIONS
    noted = NOT_ON_THE_NOOP_PATH - {"nocodo_agents.cli.row_notes"}  # V4's row, of an agent not requested, gets its note
    assert not noted & imported, sorted(noted & imported)


@pytest.mark.parametrize("arguments", [["--help"], ["migrate", "--help"], ["migrate", "--target", "x"]])
def test_help_and_a_usage_error_import_no_other_command_nor_the_engine(cli: Cli, arguments: list[str]) -> None:
    imported = _imported(cli, *arguments)
    assert "argparse" in imported
    assert not {m for m in imported if m.startswith(("nocodo_agents.engine", "nocodo_agents.dialects"))}
    assert not {"pluggy", "nocodo_agents.discovery", "nocodo_agents.cli.inspect_commands", "nocodo_agents.cli.scaffold_command"} & imported
    assert not {m for m in imported if m.startswith("nocodo_agents.errors.")}  # no error: no error module
    if arguments[-1] != "x":  # a usage error prints its message: argparse's own formatter path
        assert "shutil" not in imported
    assert ("nocodo_agents.cli.migrate_command" in imported) == (arguments[0] == "migrate")
    assert "nocodo_agents.cli.change_commands" not in imported


def test_a_noop_migrate_sends_five_statements_and_reads_the_history_once(cli: Cli) -> None:
    _up_to_date(cli)
    sent = _statements(cli, "migrate", "--db", "up.db")
    assert len(sent) == 5, sent  # as docs/how-a-run-works.md says: busy_timeout read and set, the columns, the rows, busy_timeout back
    assert len([s for s in sent if s.startswith("SELECT") and "FROM main.refinery_schema_history" in s]) == 1, sent


@pytest.mark.parametrize("command", [["status"], ["verify"], ["migrate", "--dry-run"], ["migrate", "--agent", "core"]])
def test_every_reading_command_reads_the_history_once(cli: Cli, command: list[str]) -> None:
    _up_to_date(cli)
    sent = _statements(cli, *command, "--db", "up.db")
    assert len([s for s in sent if s.startswith("SELECT") and "FROM main.refinery_schema_history" in s]) == 1, sent


def test_importing_the_runner_loads_no_agent_no_migration_and_no_metadata_machinery(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "from nocodo_agents.database.migrations import run_agent_migrations\n"
        "print(json.dumps(sorted(set(sys.modules) - before - {'json', 'json.decoder', 'json.scanner', 'json.encoder', '_json'})))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "nocodo_agents.engine.migrate" in loaded
    assert not {"email", "importlib.metadata", "importlib.resources", "zipfile", "tempfile", "sqlite3", "argparse"} & loaded
    assert not {m for m in loaded if m.startswith(("nocodo_agents_requirements_qna", "nocodo_agents.cli", "psycopg", "pymysql"))}
    assert not {m for m in loaded if m.rpartition(".")[2].startswith("V")}, "no migration module before a run asks for it"
    assert not {"nocodo_agents.engine.apply", "nocodo_agents.execution", "nocodo_agents.schema.lexer", "shutil"} & loaded


def test_importing_the_package_imports_no_error_module(tmp_path: Path) -> None:
    """``import nocodo_agents`` imports each error class's module when the class is first named, the same class everywhere."""
    code = (
        "import sys, json\n"
        "import nocodo_agents\n"
        "before = sorted(m for m in sys.modules if m.startswith('nocodo_agents'))\n"
        "from nocodo_agents import PluginLoadError, MigrationError\n"
        "from nocodo_agents.errors.plugins import PluginLoadError as defined\n"
        "after = sorted(m for m in sys.modules if m.startswith('nocodo_agents.errors.'))\n"
        "print(json.dumps([before, after, PluginLoadError is defined and issubclass(defined, MigrationError)]))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before, after, same = json.loads(done.stdout)
    assert before == ["nocodo_agents", "nocodo_agents._version"]
    assert after == ["nocodo_agents.errors.base", "nocodo_agents.errors.plugins"]
    assert same


def _write_distributions(site: Path, later: Path, count: int) -> None:
    """``count`` distributions (half with console scripts) and one agent distribution in ``site``; an older copy of it in ``later``."""
    for index in range(count):
        info = site / f"Some.Tool_{index}-1.{index}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: Some.Tool-{index}\nVersion: 1.{index}\n")
        if index % 2:
            (info / "entry_points.txt").write_text(f"# a comment\n[console_scripts]\ntool{index} = some_tool:main\n")
    info = site / "acme_agent-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-agent\nVersion: 2.0\n\nA long description: with colons\n")
    (info / "entry_points.txt").write_text("[console_scripts]\nacme = acme:main\n\n[nocodo_agents]\n acme = acme_agent.plugin \n")
    copy = later / "ACME_agent-1.0.dist-info"  # the same distribution later on sys.path: the first found wins
    copy.mkdir()
    (copy / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-agent\nVersion: 1.0\n")
    (copy / "entry_points.txt").write_text("[nocodo_agents]\nother = acme_agent.old\n")


def test_discovery_finds_what_importlib_metadata_finds_reading_only_agent_metadata(tmp_path: Path) -> None:
    site, later = tmp_path / "site", tmp_path / "later"
    site.mkdir()
    later.mkdir()
    _write_distributions(site, later, 60)
    code = (
        "import sys, json\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
        "from nocodo_agents.agent_entries import installed_agent_entries\n"
        "found = [[e.name, e.target, e.distribution, e.version] for e in installed_agent_entries()]\n"
        "scan = (list(opened), 'importlib.metadata' in sys.modules)\n"
        "from importlib.metadata import entry_points\n"
        "expected = [[e.name, e.value, e.dist.name, e.dist.version] for e in entry_points(group='nocodo_agents')]\n"
        "print(json.dumps([found, expected, *scan]))\n"
    )
    environment = {"PYTHONPATH": f"{site}{os.pathsep}{later}", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=environment)
    assert done.returncode == 0, done.stderr
    found, expected, opened, imported_metadata = json.loads(done.stdout)
    assert ["acme", "acme_agent.plugin", "acme-agent", "2.0"] in found
    assert not [entry for entry in found if entry[0] == "other"]
    assert found == expected
    assert not imported_metadata
    ours = [path for path in opened if path.startswith((str(site), str(later)))]
    assert len([path for path in ours if path.endswith("entry_points.txt")]) == 61  # each distribution once, the later copy not
    assert [path for path in ours if not path.endswith("entry_points.txt")] == [str(site / "acme_agent-2.0.dist-info" / "METADATA")]


def test_discovery_leaves_a_zip_on_sys_path_to_importlib_metadata(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "agents.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped_agent-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped-agent\nVersion: 1.0\n")
        bundle.writestr("zipped_agent-1.0.dist-info/entry_points.txt", "[nocodo_agents]\nzipped = zipped_agent.plugin\n")
    code = (
        "import json\n"
        "from nocodo_agents.entry_point_scan import scan_group\n"
        "from nocodo_agents.agent_entries import installed_agent_entries\n"
        "print(json.dumps([scan_group('nocodo_agents') is None, [[e.name, e.distribution] for e in installed_agent_entries()]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(archive), "PATH": ""})
    assert done.returncode == 0, done.stderr
    left_to_importlib, entries = json.loads(done.stdout)
    assert left_to_importlib
    assert ["zipped", "zipped-agent"] in entries


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"], ["migrate", "--dry-run"], ["migrate", "--fake"], ["migrate", "--agent", "core"], ["status"], ["verify"],
        ["repair"], ["rollback", "--to", "4"], ["rollback", "--to", "4", "--dry-run"], ["resolve", "4", "--absent"],
        ["widen-history"], ["baseline", "--version", "4"],
    ],
)
def test_every_command_loads_the_requested_agents_once(cli: Cli, command: list[str]) -> None:
    """Loaded before connecting (an unknown agent fails before the database is touched), then not loaded again by the run."""
    if command[0] == "baseline":  # baseline adopts an existing database without history
        import sqlite3

        with closing(sqlite3.connect(cli.cwd / "up.db")) as existing:
            existing.execute("CREATE TABLE kept (id INTEGER)")
    else:
        _up_to_date(cli)
    record = cli.cwd / "loads.txt"
    result = cli(*command, "--db", "up.db", env={"LOADS_FILE": str(record)})
    assert result.code in (0, 2), result.text  # resolve on SQLite: nothing unfinished to settle (a usage error)
    assert record.read_text() == "1", (command, record.read_text(), result.text)
