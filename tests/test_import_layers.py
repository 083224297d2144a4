"""The import graph of ``nocodo_agents``: no cycle, and every import goes down the layers.

The graph is read from the source (:mod:`ast`), so it sees every import,
at module level and inside functions alike (a function-level import is a
cycle postponed, not removed); imports under ``if TYPE_CHECKING:`` are left
out (annotations only). Dynamic imports (``importlib.import_module(name)``,
``load_migrations("pkg")``) are not in the graph: the tests at the end check
at run time what they may import.

The layers, lowest first; a module may import from its own layer and the
ones below::

    values -> agents -> plan -> schema -> dialects -> engine -> cli -> api -> testing

``api`` is the facades on top: the package itself (whose public names are
imported on first use), ``nocodo_agents.database`` (the ``Database`` store)
and ``nocodo_agents.database.migrations`` (where README imports
``run_agent_migrations`` from). ``testing`` is what agent authors' test suites
use: the pytest plugin (``pytest_plugin``) and ``nocodo_agents.testing``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import nocodo_agents

LAYERS = ("values", "agents", "plan", "schema", "dialects", "engine", "cli", "api", "testing")

#: Module name (relative to ``nocodo_agents``; ``""`` is the package itself) -> layer. A name
#: ending in ``.`` covers every module under that prefix; the longest match wins.
LAYER_OF: dict[str, str] = {
    # values: what a migration is and what the history holds; no pluggy, no I/O on a connection
    "_version": "values",
    "checksum": "values",
    "errors": "values",
    "errors.": "values",
    "excerpt": "values",
    "faults": "values",
    "file_stamps": "values",
    "history": "values",
    "loading": "values",
    "migration": "values",
    "migration_files": "values",
    "migration_names": "values",
    "migration_set": "values",
    # agents: the hook, the registry and the core agent (its V-modules are the core agent's code)
    "agent_entries": "agents",
    "core_plugin": "agents",
    "discovery": "agents",
    "install_hints": "agents",
    "installed_registry": "agents",
    "plugin_calls": "agents",
    "entry_point_scan": "agents",
    "hookspecs": "agents",
    "plugins": "agents",
    "database.migrations.": "agents",
    # plan: pure decisions from (installed migrations, history)
    "planning": "plan",
    "requirement_order": "plan",
    "adoption": "plan",
    "status_rows": "plan",
    # schema: reading SQL, replaying and describing schemas, comparing them
    "schema": "schema",
    "schema.": "schema",
    "drift": "schema",
    # dialects: connections, locks, history I/O per database, and their URLs
    "dialects": "dialects",
    "dialects.": "dialects",
    "mysql_url": "dialects",
    "postgresql_url": "dialects",
    "sqlite_location": "dialects",
    "urls": "dialects",
    # engine: the operations on a connection and their reports
    "engine": "engine",
    "engine.": "engine",
    "execution": "engine",
    "lifecycle": "engine",
    "runner": "engine",
    "scaffold": "engine",
    "scaffold_target": "engine",
    "status": "engine",
    # cli
    "__main__": "cli",
    "cli": "cli",
    "cli.": "cli",
    "cli.noop_answer": "cli",  # runs before anything else of the command: see test_the_cached_noop_path_imports_only_builtins
    "cli.noop_capture": "cli",
    "cli.noop_record": "cli",
    # api: the facades
    "": "api",
    "database": "api",
    "database.records": "api",
    "database.store": "api",
    "database.writes": "api",
    "database.migrations": "api",
    # testing: the pytest plugin for agent authors and the checks and fixtures it offers
    "pytest_plugin": "testing",
    "testing": "testing",
    "testing.": "testing",
}

PACKAGE_DIR = Path(nocodo_agents.__file__).parent


def _module_names() -> dict[str, Path]:
    """Every module of the package, by name relative to it (``""`` for ``__init__``)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_names()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, source: str, is_package: bool) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its body (``TYPE_CHECKING`` aside)."""
    package_parts = module.split(".") if module else []
    if not is_package:
        package_parts = package_parts[:-1]
    found: set[str] = set()

    def target(dotted: str) -> str | None:
        if dotted == "nocodo_agents":
            return ""
        if dotted.startswith("nocodo_agents."):
            return dotted[len("nocodo_agents.") :]
        return None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = target(alias.name)
                if name is not None:
                    found.add(name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package_parts[: len(package_parts) - (node.level - 1)]
                base: str | None = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = target(node.module or "")
            if base is not None:
                for alias in node.names:
                    submodule = f"{base}.{alias.name}" if base else alias.name
                    found.add(submodule if submodule in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source, module))
    found.discard(module)
    return found


GRAPH: dict[str, set[str]] = {
    module: _imported(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
    for module, path in MODULES.items()
}


def layer_of(module: str) -> str | None:
    """The layer :data:`LAYER_OF` gives ``module`` (exact name first, then the longest prefix)."""
    if module in LAYER_OF:
        return LAYER_OF[module]
    prefixes = [p for p in LAYER_OF if p.endswith(".") and module.startswith(p)]
    return LAYER_OF[max(prefixes, key=len)] if prefixes else None


def _strongly_connected(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative: each component of more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    yield sorted(component)


def _cycle_through(component: list[str]) -> list[str]:
    """One import cycle inside ``component``, from its first module back to it, for the message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(GRAPH[node] & members):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return component


def _display(module: str) -> str:
    return module or "nocodo_agents"


def violations() -> dict[str, str]:
    """Every cycle and upward import, as ``{short key: explanation}``."""
    found = {}
    for component in _strongly_connected(GRAPH):
        key = "cycle: " + ", ".join(_display(m) for m in component)
        found[key] = "import cycle " + " -> ".join(_display(m) for m in _cycle_through(component))
    for module, imports in sorted(GRAPH.items()):
        for imported in sorted(imports):
            here, there = layer_of(module), layer_of(imported)
            if here is None or there is None:
                continue  # reported by test_every_module_has_a_layer
            if LAYERS.index(there) > LAYERS.index(here):
                key = f"upward: {_display(module)} ({here}) imports {_display(imported)} ({there})"
                found[key] = f"{key}: a layer may import only from itself and the layers below ({' -> '.join(LAYERS)})"
    return found


def test_every_module_has_a_layer() -> None:
    missing = sorted(_display(m) for m in MODULES if layer_of(m) is None)
    assert not missing, f"add these modules to LAYER_OF at the top of {Path(__file__).name}: {missing}"


def test_the_graph_is_read() -> None:
    """The reader itself: relative, absolute, function-level and TYPE_CHECKING imports."""
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "from . import history, errors as e\n"
        "from .migration import Migration\n"
        "import nocodo_agents.planning\n"
        "from nocodo_agents.schema.split import split_statements\n"
        "if TYPE_CHECKING:\n"
        "    from .runner import MigrationReport\n"
        "else:\n"
        "    from . import checksum\n"
        "def later():\n"
        "    from .urls import redact\n"
        "class Lazy:\n"
        "    def method(self):\n"
        "        import nocodo_agents\n"
    )
    assert _imported("status", source, is_package=False) == {
        "history", "errors", "migration", "planning", "schema.split", "checksum", "urls", ""
    }, "module- and function-level, relative and absolute; TYPE_CHECKING left out, its else kept"
    assert _imported("dialects.sqlite", "from ..history import HistoryRow\nfrom . import Dialect\n", is_package=False) == {
        "history",
        "dialects",
    }
    assert _imported("dialects", "from .base import Dialect\nfrom . import sqlite\n", is_package=True) == {
        "dialects.base",
        "dialects.sqlite",
    }
    assert layer_of("dialects.mysql") == "dialects" and layer_of("schema.describe_sqlite") == "schema"
    assert layer_of("database.migrations.V1__create_agent_sessions") == "agents"
    assert layer_of("database.migrations") == "api" and layer_of("") == "api"


def test_no_cycle_and_no_upward_import() -> None:
    found = violations()
    assert not found, "import violations:\n" + "\n".join(found.values())


# -- what the dynamic imports may pull in, checked at run time --------------------------------------


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(output.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["planning", "requirement_order", "migration", "migration_set", "loading", "history", "checksum"])
def test_pure_layers_import_no_plugin_machinery(module: str) -> None:
    loaded = _modules_after(f"import nocodo_agents.{module}")
    assert not {"pluggy", "importlib.metadata", "importlib_metadata", "sqlite3"} & loaded
    pure_plan = {"nocodo_agents.requirement_order"} if module == "planning" else set()  # pure too: no I/O, no pluggy
    assert not {m for m in loaded if m.startswith("nocodo_agents.") and layer_of(m[len("nocodo_agents.") :]) != "values"} - {
        f"nocodo_agents.{module}"
    } - pure_plan


def test_loading_the_core_agent_never_imports_the_runner() -> None:
    """``core`` lists nocodo_agents.database.migrations by name; that package's re-exports stay lazy."""
    loaded = _modules_after(
        "from nocodo_agents.discovery import AgentRegistry\n"
        "for migration in AgentRegistry([]).migration_set('core').migrations:\n"
        "    migration.sql('sqlite'), migration.checksum('postgresql')\n"
    )
    assert "nocodo_agents.database.migrations.V3__create_agent_tool_calls" in loaded
    assert not {m for m in loaded if m.startswith("nocodo_agents.") and layer_of(m[len("nocodo_agents.") :]) not in ("values", "agents")} - {
        "nocodo_agents.database",
        "nocodo_agents.database.migrations",
    }
    assert "nocodo_agents.runner" not in loaded and "nocodo_agents.database.store" not in loaded


def test_names_that_moved_are_still_importable_from_where_they_were() -> None:
    from nocodo_agents import checksum as checksum_module
    from nocodo_agents import discovery, migration_set, runner
    from nocodo_agents.database.migrations import MigrationReport, MigrationStep, checksum, run_agent_migrations

    assert run_agent_migrations is runner.run_agent_migrations and checksum is checksum_module.checksum
    assert (MigrationReport, MigrationStep) == (runner.MigrationReport, runner.MigrationStep)
    assert discovery.MigrationSet is migration_set.MigrationSet
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = __import__("nocodo_agents.database.migrations", fromlist=["x"]).nope



def test_the_cached_noop_path_imports_only_builtins_and_sqlite3() -> None:
    """``cli.noop_answer`` answers before anything else of the command is imported.

    Anywhere in it: os, sys, marshal, sqlite3 and the version. At the top of
    ``cli/__init__.py`` and of the package's ``__init__.py``, which the console
    script imports first: nothing else (``typing`` included; ``TYPE_CHECKING`` blocks aside).
    """
    allowed = {"__future__", "os", "sys", "marshal", "sqlite3", "_version"}

    def imports(nodes: list[ast.stmt], everywhere: bool) -> set[str]:
        found: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.add(node.module or "")
            elif everywhere:
                found |= imports([c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)], everywhere)
        return found

    for module, everywhere in (("cli.noop_answer", True), ("cli", False), ("", False)):
        imported = imports(ast.parse(MODULES[module].read_text()).body, everywhere)
        assert imported <= allowed, (module, sorted(imported - allowed))
