"""Hostile tests of issue 10's import layering: the imports ``test_import_layers`` cannot see.

``test_import_layers`` reads ``import`` statements. A module can also import
by name at run time: ``importlib.import_module("nocodo_agents.x")``,
``__import__``, a ``"nocodo_agents.x:attr"`` reference resolved later (the
dialect registry), a ``_LAZY`` table of a facade's ``__getattr__``, or a
package listed for :func:`~nocodo_agents.plugins.load_migrations` (the core
agent). Here every string naming one of the package's modules is an edge of
the graph too, and must go down the layers like an import; and calling the
import machinery with a computed name is allowed only in the modules that do
so today, each for a reason named below, so a new one is looked at.
"""

from __future__ import annotations

import ast
import re

from test_import_layers import LAYERS, MODULES, _imported, layer_of

#: A string naming one of the package's modules, optionally with ``:attribute``.
#: The bare ``"nocodo_agents"`` is the logger's (and the project's) name everywhere, so it is not counted.
_MODULE_NAME = re.compile(r"nocodo_agents(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?::[A-Za-z_][A-Za-z0-9_.]*)?")

#: Upward edges by name that are known and checked elsewhere: the core agent lists
#: ``nocodo_agents.database.migrations`` (whose V-modules are the core agent's code) for
#: ``load_migrations``; that package's re-exports stay lazy
#: (``test_import_layers.test_loading_the_core_agent_never_imports_the_runner``).
KNOWN_UPWARD_BY_NAME = {("core_plugin", "database.migrations")}

#: The modules that call the import machinery with a name computed at run time, and why.
DYNAMIC_IMPORTERS: dict[str, str] = {
    "": "module __getattr__: the names of its _LAZY table (checked by name here)",
    "errors": "module __getattr__: the error classes' modules of its _MODULE_OF table (checked by name here)",
    "database.migrations": "module __getattr__: the names of its _LAZY table (checked by name here)",
    "cli.parser": "the 'module:attribute' references of its COMMANDS table, one command's module per run (checked by name here)",
    "dialects.registry": "the 'module:attribute' references of its DialectSpec table (checked by name here)",
    "entry_point_scan": "an agent's entry point (what importlib.metadata.EntryPoint.load imports): the agent's code",
    "loading": "an agent's migrations package: the agent's code, not this package's",
    "migration_files": "an agent's V-modules, imported (or imported again) on first use: the agent's code",
    "scaffold_target": "find_spec of the agent package a migration is scaffolded into",
}

_IMPORT_CALLS = {"import_module", "__import__", "find_spec", "reload"}


def _referenced_by_name(source: str) -> set[str]:
    """The package's modules that string constants in ``source`` name (relative to the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if not _MODULE_NAME.fullmatch(node.value):
            continue
        dotted = node.value.partition(":")[0]
        relative = dotted[len("nocodo_agents.") :]
        if relative in MODULES:  # a lock key or logger name that is not a module is not an import
            found.add(relative)
    return found


def _calls_import_machinery(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else function.id if isinstance(function, ast.Name) else None
            if name in _IMPORT_CALLS:
                return True
    return False


def _source(module: str) -> str:
    return MODULES[module].read_text(encoding="utf-8")


def by_name_violations() -> set[tuple[str, str]]:
    """Every (module, module it names) going up the layers, the known ones aside."""
    found = set()
    for module in MODULES:
        for named in _referenced_by_name(_source(module)) - {module}:
            here, there = layer_of(module), layer_of(named)
            if here is None or there is None:
                continue  # test_import_layers.test_every_module_has_a_layer reports it
            if LAYERS.index(there) > LAYERS.index(here) and (module, named) not in KNOWN_UPWARD_BY_NAME:
                found.add((module, named))
    return found


def test_the_reader_sees_imports_by_name() -> None:
    source = (
        "import importlib\n"
        "_LAZY = {'run': 'nocodo_agents.runner', 'x': 'nocodo_agents.cli.parser:build'}\n"
        "def later():\n"
        "    return importlib.import_module('nocodo_agents.engine.apply'), __import__('nocodo_agents.drift')\n"
        "KEY = 'nocodo_agents.migrations'  # not a module: a lock key\n"
        "logger = 'nocodo_agents'  # the logger's name\n"
    )
    assert _referenced_by_name(source) == {"runner", "cli.parser", "engine.apply", "drift"}
    assert _imported("planning", source, is_package=False) == set(), "the statement reader sees none of them"
    assert _calls_import_machinery(source)
    assert not _calls_import_machinery("from . import history\nimport importlib\n")


def test_modules_named_in_strings_go_down_the_layers() -> None:
    found = by_name_violations()
    assert not found, "modules named as strings (imported at run time) above their user's layer: " + ", ".join(
        f"{m or 'nocodo_agents'} ({layer_of(m)}) names {n} ({layer_of(n)})" for m, n in sorted(found)
    )


def test_the_known_upward_name_is_still_there() -> None:
    """Keep KNOWN_UPWARD_BY_NAME honest: drop an entry once the code no longer needs it."""
    for module, named in KNOWN_UPWARD_BY_NAME:
        assert named in _referenced_by_name(_source(module)), f"{module} no longer names {named}: remove it from the list"


def test_only_known_modules_import_by_a_computed_name() -> None:
    """``import_module(name)`` with ``name`` computed escapes both checks: keep such calls where they are reviewed."""
    found = sorted(m or "nocodo_agents" for m in MODULES if _calls_import_machinery(_source(m)) and m not in DYNAMIC_IMPORTERS)
    assert not found, (
        f"these modules call the import machinery (import_module, __import__, find_spec): {found}. Import "
        f"statically, or name the module in a string constant this test checks and add it to DYNAMIC_IMPORTERS"
    )
    stale = sorted(m for m in DYNAMIC_IMPORTERS if not _calls_import_machinery(_source(m)))
    assert not stale, f"no longer import by a computed name: remove from DYNAMIC_IMPORTERS: {stale}"
