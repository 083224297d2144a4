"""Real wheels installed into fresh virtual environments: discovery through entry points.

The wheels of both distributions (and of a third-party agent written here)
are built into one directory, and each environment installs from that
directory only (``--no-index --find-links``), so nothing comes from the
source tree or from an index.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from packaging_support import build_wheels, download, fresh_env, pyproject_toml, run, wheelhouse_with, write_project

pytestmark = pytest.mark.packaging


THIRD_PARTY = {
    "pyproject.toml": pyproject_toml("my-agent", "2.1.0", '["nocodo-agents"]', "my_agent", "my_agent"),
    "my_agent/__init__.py": "",
    "my_agent/plugin.py": """
        from nocodo_agents.plugins import hookimpl, load_migrations

        @hookimpl
        def nocodo_agents_migrations():
            return load_migrations("my_agent.migrations")
    """,
    "my_agent/migrations/__init__.py": "",
    "my_agent/migrations/V100__create_my_agent_notes.py": """
        def migration(dialect):
            return "CREATE TABLE my_agent_notes (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES agent_sessions (id));"
    """,
    # a refinery SQL file, as a project ported from Rust brings them: shipped in the wheel, read from it
    "my_agent/migrations/V101__create_my_agent_tags.sql": "CREATE TABLE my_agent_tags (id INTEGER PRIMARY KEY, tag TEXT NOT NULL);\n",
}

BROKEN_THIRD_PARTY = {
    "pyproject.toml": pyproject_toml("broken-agent", "2.1.0", '["nocodo-agents"]', "broken", "broken_agent"),
    "broken_agent/__init__.py": "",
    "broken_agent/plugin.py": "import a_dependency_that_is_not_installed\n",
}

def agent_project(distribution: str, agent: str, package: str, dependencies: str, plugin: str, migrations: dict[str, str]) -> dict[str, str]:
    """The files of an agent distribution built with hatchling."""
    files = {
        "pyproject.toml": pyproject_toml(distribution, "1.0.0", dependencies, agent, package),
        f"{package}/__init__.py": "",
        f"{package}/plugin.py": plugin,
        f"{package}/migrations/__init__.py": "",
    }
    files.update({f"{package}/migrations/{name}": text for name, text in migrations.items()})
    return files


# notes-agent (V200-V201) and tasks-agent, whose V100 has a foreign key to notes and requires agent notes
NOTES_AGENT = agent_project(
    "notes-agent", "notes", "notes_agent", '["nocodo-agents"]',
    """
    from nocodo_agents.plugins import hookimpl, load_migrations

    @hookimpl
    def nocodo_agents_migrations():
        return load_migrations("notes_agent.migrations")
    """,
    {
        "V200__create_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
        "V201__seed_notes.sql": "INSERT INTO notes (id, body) VALUES (7, 'seed');\n",
    },
)
TASKS_AGENT = agent_project(
    "tasks-agent", "tasks", "tasks_agent", '["nocodo-agents", "notes-agent>=1.0"]',
    """
    from nocodo_agents.plugins import hookimpl, load_migrations

    @hookimpl
    def nocodo_agents_requires():
        return ["notes"]

    @hookimpl
    def nocodo_agents_migrations():
        return load_migrations("tasks_agent.migrations")
    """,
    {
        "V100__create_tasks.sql": (
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes (id));\n"
            "INSERT INTO tasks (id, note_id) SELECT id, id FROM notes;\n"
        ),
    },
)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, project_wheels: Path) -> Path:
    """This checkout's wheels and their runtime dependencies (copied), with the third-party agents' wheels."""
    directory = wheelhouse_with(project_wheels, tmp_path_factory.mktemp("wheels"))
    sources = tmp_path_factory.mktemp("third_party")
    my_agent = write_project(sources / "my_agent", THIRD_PARTY)
    broken = write_project(sources / "broken_agent", BROKEN_THIRD_PARTY)
    notes = write_project(sources / "notes_agent", NOTES_AGENT)
    tasks = write_project(sources / "tasks_agent", TASKS_AGENT)
    build_wheels(directory, my_agent, broken, notes, tasks)
    return directory


@pytest.fixture(scope="module")
def build_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build backend (hatchling, editables), for pip's isolated build of an editable install from no index."""
    directory = tmp_path_factory.mktemp("build-tools")
    download(directory, "hatchling", "editables")
    return directory


def in_env(python: Path, code: str, cwd: Path) -> dict:
    """Run ``code`` isolated from the source tree (-I) and return the JSON it prints last."""
    output = run(str(python), "-I", "-c", textwrap.dedent(code), cwd=cwd)
    return json.loads(output.strip().splitlines()[-1])


def test_core_with_the_requirements_qna_extra(tmp_path: Path, wheelhouse: Path) -> None:
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents[requirements-qna]")
    result = in_env(
        python,
        """
        import json, sqlite3, sys
        import nocodo_agents
        from nocodo_agents.database.migrations import run_agent_migrations
        from nocodo_agents.discovery import AgentRegistry, installed_agent_entries

        names = sorted(entry.name for entry in installed_agent_entries())
        conn = sqlite3.connect("agents.sqlite")
        core_only = run_agent_migrations(conn, agents=[])
        qna_imported_early = "nocodo_agents_requirements_qna.plugin" in sys.modules
        report = run_agent_migrations(conn, agents=["requirements-qna"])
        rows = conn.execute("SELECT version, agent FROM refinery_schema_history ORDER BY version").fetchall()
        again = run_agent_migrations(conn, agents=["requirements_qna"])
        conn.close()
        from nocodo_agents.database import Database
        db = Database("data/nested/agents.sqlite", agents=["requirements_qna"])
        from nocodo_agents_requirements_qna import RequirementsQnaStore
        print(json.dumps({
            "entry_points": names,
            "agents": AgentRegistry.from_entry_points().agent_names(),
            "core_only": core_only.versions,
            "qna_imported_early": qna_imported_early,
            "applied": report.versions,
            "rows": rows,
            "again": again.versions,
            "database": db.migration_report.versions,
            "module": nocodo_agents.__file__,
        }))
        """,
        cwd=tmp_path,
    )
    assert result["entry_points"] == ["requirements_qna"]
    assert result["agents"] == ["core", "requirements_qna"]
    assert result["core_only"] == [1, 2, 3]
    assert result["qna_imported_early"] is False, "agents=[] must not import other agents' code"
    assert result["applied"] == [4]
    assert result["rows"] == [[1, "core"], [2, "core"], [3, "core"], [4, "requirements_qna"]]
    assert result["again"] == []
    assert result["database"] == [1, 2, 3, 4]
    assert str(tmp_path / "venv") in result["module"], "imported from the installed wheel"
    assert (tmp_path / "data" / "nested" / "agents.sqlite").exists()


def test_core_alone_installs_and_runs_v1_to_v3_only(tmp_path: Path, wheelhouse: Path) -> None:
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents")
    result = in_env(
        python,
        """
        import json, sqlite3
        from nocodo_agents import UnknownAgentError
        from nocodo_agents.database.migrations import run_agent_migrations

        conn = sqlite3.connect("agents.sqlite")
        report = run_agent_migrations(conn)
        rows = conn.execute("SELECT COUNT(*) FROM refinery_schema_history").fetchone()[0]
        try:
            run_agent_migrations(conn, agents=["requirements_qna"])
            error = None
        except UnknownAgentError as exc:
            error = str(exc)
        print(json.dumps({"applied": report.versions, "rows": rows, "error": error}))
        """,
        cwd=tmp_path,
    )
    assert result["applied"] == [1, 2, 3]
    assert result["rows"] == 3
    assert "pip install 'nocodo-agents[requirements-qna]'" in result["error"]
    assert "installed agents: core" in result["error"]


def test_third_party_agents_install_beside_the_core(tmp_path: Path, wheelhouse: Path) -> None:
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents[requirements-qna]", "my-agent", "broken-agent")
    result = in_env(
        python,
        """
        import json, sqlite3
        from nocodo_agents import PluginLoadError
        from nocodo_agents.database.migrations import run_agent_migrations

        conn = sqlite3.connect("agents.sqlite")
        report = run_agent_migrations(conn, agents=["my-agent", "requirements_qna"])
        try:
            run_agent_migrations(conn)
            error = None
        except PluginLoadError as exc:
            error = {"agent": exc.agent, "distribution": exc.distribution, "message": str(exc)}
        print(json.dumps({"applied": [[s.version, s.agent, s.distribution] for s in report.applied], "error": error}))
        """,
        cwd=tmp_path,
    )
    assert result["applied"] == [
        [1, "core", "nocodo-agents"],
        [2, "core", "nocodo-agents"],
        [3, "core", "nocodo-agents"],
        [4, "requirements_qna", "nocodo-agents-requirements-qna"],
        [100, "my_agent", "my-agent"],
        [101, "my_agent", "my-agent"],
    ]
    assert result["error"]["agent"] == "broken"
    assert result["error"]["distribution"] == "broken-agent"
    assert "a_dependency_that_is_not_installed" in result["error"]["message"]


# -- `new` writes into the author's source tree, never unasked into an installed copy -------------


def _script(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The environment's own ``nocodo-agents`` console script, isolated from this checkout."""
    environment = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([str(python.parent / "nocodo-agents"), *args], cwd=cwd, env=environment, capture_output=True, text=True)


def test_new_refuses_to_write_into_an_installed_wheel_unless_forced(tmp_path: Path, wheelhouse: Path) -> None:
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents", "my-agent")
    installed = Path(run(str(python), "-I", "-c", "import my_agent, os; print(os.path.dirname(my_agent.__file__))").strip())
    migrations = installed / "migrations"
    assert installed.parent.name == "site-packages"
    refused = _script(python, "new", "my-agent", "add_tags", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert str(migrations / "V{version}__add_tags.py") in refused.stderr
    assert str(installed.parent) in refused.stderr and "reinstalled" in refused.stderr
    assert "pip install -e" in refused.stderr and "--force" in refused.stderr
    assert sorted(p.name for p in migrations.glob("V*")) == ["V100__create_my_agent_notes.py", "V101__create_my_agent_tags.sql"]
    forced = _script(python, "new", "my_agent", "add_tags", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (migrations / "V102__add_tags.py").exists() and str(migrations / "V102__add_tags.py") in forced.stdout


def test_new_writes_into_the_source_tree_of_an_editable_install(tmp_path: Path, wheelhouse: Path, build_tools: Path) -> None:
    source = write_project(tmp_path / "src" / "my_agent", THIRD_PARTY)
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents")
    run(str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "--find-links", str(build_tools), "-e", str(source))
    created = _script(python, "new", "my-agent", "add_tags", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    written = source / "my_agent" / "migrations" / "V102__add_tags.py"
    assert written.exists() and str(written) in created.stdout
    listed = json.loads(_script(python, "agents", "--json", cwd=tmp_path).stdout)
    assert {a["agent"]: a["migrations"] for a in listed}["my_agent"] == [100, 101, 102], "the editable install sees it at once"


def test_an_agent_requiring_another_names_its_distribution_then_runs_after_it(tmp_path: Path, wheelhouse: Path) -> None:
    """tasks-agent installed without its dependency (--no-deps): the error names notes-agent; once installed, notes runs first."""
    python = fresh_env(tmp_path, wheelhouse, "--no-deps", "nocodo-agents", "pluggy", "tasks-agent")
    code = """
        import json, sqlite3
        from nocodo_agents import RequiredAgentMissingError
        from nocodo_agents.database.migrations import run_agent_migrations
        from nocodo_agents.status import migration_status

        conn = sqlite3.connect("agents.sqlite")
        try:
            report = run_agent_migrations(conn, agents=["tasks"])
            result = {"applied": [s.version for s in report.applied],
                      "tasks": conn.execute("SELECT id, note_id FROM tasks").fetchall(),
                      "fk": conn.execute("PRAGMA foreign_key_check").fetchall(),
                      "requires": {r.version: r.requires for r in migration_status(conn, ["tasks"])}}
        except RequiredAgentMissingError as exc:
            result = {"error": [exc.agent, exc.required_by, exc.distribution, exc.install_hint, exc.guessed, str(exc)],
                      "tables": conn.execute("SELECT name FROM sqlite_master").fetchall()}
        print(json.dumps(result))
    """
    missing = in_env(python, code, cwd=tmp_path)
    agent, required_by, distribution, hint, guessed, message = missing["error"]
    assert (agent, required_by, distribution, hint, guessed) == ("notes", "tasks", "tasks-agent", "pip install 'notes-agent>=1.0'", False)
    assert "pip install 'notes-agent>=1.0'" in message and missing["tables"] == []
    run(str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "notes-agent")
    done = in_env(python, code, cwd=tmp_path)
    assert done["applied"] == [1, 2, 3, 200, 201, 100]
    assert done["tasks"] == [[7, 7]] and done["fk"] == []
    assert done["requires"]["100"] == ["notes"] and done["requires"]["200"] == []


def _fresh_agent(distribution: str, agent: str, package: str) -> dict[str, str]:
    """An agent just started: its hook asks for ``{package}.migrations``, which does not exist yet."""
    files = agent_project(
        distribution, agent, package, '["nocodo-agents"]',
        f"""
        from nocodo_agents.plugins import hookimpl, load_migrations

        @hookimpl
        def nocodo_agents_migrations():
            return load_migrations("{package}.migrations")
        """,
        {},
    )
    del files[f"{package}/migrations/__init__.py"]
    return files


def test_new_creates_a_fresh_editable_agents_migrations_package_by_agent_or_distribution_name(tmp_path: Path, wheelhouse: Path, build_tools: Path) -> None:
    source = write_project(tmp_path / "src" / "acme-notes", _fresh_agent("acme-notes", "notes", "acme_notes"))
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents")
    run(str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "--find-links", str(build_tools), "-e", str(source))
    migrations = source / "acme_notes" / "migrations"
    assert not migrations.exists()
    created = _script(python, "new", "acme-notes", "create_notes", "--timestamp", cwd=tmp_path)  # the distribution's name
    assert created.returncode == 0, created.stderr
    assert (migrations / "__init__.py").exists(), "a package, in the author's source tree"
    first = [p for p in migrations.glob("V*__create_notes.py")]
    assert len(first) == 1 and str(first[0]) in created.stdout
    second = _script(python, "new", "notes", "add_tags", "--timestamp", cwd=tmp_path)  # the agent's name
    assert second.returncode == 0, second.stderr
    versions = sorted(int(p.name[1:].split("__")[0]) for p in migrations.glob("V*.py"))
    listed = json.loads(_script(python, "agents", "--json", cwd=tmp_path).stdout)
    assert {a["agent"]: a["migrations"] for a in listed}["notes"] == versions and len(versions) == 2


def test_new_refuses_a_fresh_agents_installed_wheel_naming_what_to_create(tmp_path: Path, wheelhouse: Path) -> None:
    source = write_project(tmp_path / "src" / "acme-notes", _fresh_agent("acme-notes", "notes", "acme_notes"))
    wheels = tmp_path / "wheels"
    build_wheels(wheels, source)
    python = fresh_env(tmp_path, wheelhouse, "nocodo-agents")
    run(str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "--find-links", str(wheels), "acme-notes")
    installed = Path(run(str(python), "-I", "-c", "import acme_notes, os; print(os.path.dirname(acme_notes.__file__))").strip())
    assert installed.parent.name == "site-packages"
    for name in ("notes", "acme-notes"):
        refused = _script(python, "new", name, "create_notes", cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert str(installed / "migrations" / "V{version}__create_notes.py") in refused.stderr
        assert "pip install -e" in refused.stderr and "Reinstall" not in refused.stderr
        assert not (installed / "migrations").exists(), "nothing created in the installed copy"
