"""The public surface: hooks documented, names importable, imports cheap."""

import inspect
import json
import subprocess
import sys

import pluggy

import nocodo_agents
from nocodo_agents import hookspecs, plugins


def test_every_hookspec_is_documented_and_prefixed() -> None:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    specs = [f for _, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, marker)]
    assert [f.__name__ for f in specs] == ["nocodo_agents_migrations", "nocodo_agents_requires"]
    for spec in specs:
        assert spec.__name__.startswith("nocodo_agents_")
        assert spec.__doc__ and "Return" in spec.__doc__
        assert inspect.signature(spec).return_annotation != inspect.Signature.empty


def test_plugin_author_api() -> None:
    assert isinstance(plugins.hookimpl, pluggy.HookimplMarker)
    assert isinstance(plugins.hookspec, pluggy.HookspecMarker)
    assert plugins.hookimpl.project_name == "nocodo_agents"
    assert plugins.ENTRY_POINT_GROUP == "nocodo_agents"
    assert callable(plugins.load_migrations)


def test_everything_in_all_is_importable_and_documented() -> None:
    import typing

    for name in nocodo_agents.__all__:
        value = getattr(nocodo_agents, name)
        if typing.get_origin(value) is typing.Union:
            continue  # a type alias (Connection): documented where it is defined, in its module
        if callable(value):
            assert value.__doc__, name


def _modules_after(statement: str) -> set:
    code = f"import sys; before = set(sys.modules); {statement}; import json; print(json.dumps(sorted(set(sys.modules) - before)))"
    output = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(output))


def test_importing_the_package_loads_no_plugin_machinery() -> None:
    loaded = _modules_after("import nocodo_agents")
    assert not {"pluggy", "sqlite3", "nocodo_agents.runner", "nocodo_agents.discovery"} & loaded


def test_importing_the_runner_imports_no_agent_and_no_store() -> None:
    loaded = _modules_after("from nocodo_agents.database.migrations import run_agent_migrations")
    assert "nocodo_agents.database.store" not in loaded
    assert not any(name.startswith("nocodo_agents_requirements_qna") for name in loaded)
    assert not any(name.startswith("nocodo_agents.database.migrations.V") for name in loaded)
