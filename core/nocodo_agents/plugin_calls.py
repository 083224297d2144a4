"""Importing one agent's plugin and calling its hooks, every fault of the plugin a :class:`PluginLoadError`.

:class:`~nocodo_agents.discovery.AgentRegistry` keeps the plugins; this
module does what it asks of one: import and register it (:func:`load_plugin`),
then call its ``nocodo_agents_migrations`` hook and its optional
``nocodo_agents_requires`` hook, alone, and check what they return
(:func:`ask_plugin`). A plugin that fails to import, raises, calls
``sys.exit()`` or returns something else than documented is named, with its
distribution, in the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import pluggy

from .agent_entries import AgentEntry, normalize_agent_name
from .errors import PluginLoadError
from .faults import PLUGIN_FAULTS, describe_fault
from .loading import DirectoryStamp
from .migration import Migration
from .migration_set import MigrationSet

HOOK_NAME = "nocodo_agents_migrations"
#: The optional hook naming the agents an agent requires.
REQUIRES_HOOK_NAME = "nocodo_agents_requires"


class PluginAnswer(NamedTuple):
    """What one plugin's hooks answered: its migration set (with what it requires) and the directories and files listed."""

    migration_set: MigrationSet
    directories: DirectoryStamp


def load_plugin(manager: pluggy.PluginManager, key: str, entry: AgentEntry) -> object:
    """Import ``entry``'s plugin and register it in ``manager`` as ``key``."""
    try:
        plugin = entry.load()
    except PLUGIN_FAULTS as error:
        raise PluginLoadError(
            agent=key,
            distribution=entry.distribution,
            cause=f"importing {entry.target} {describe_fault(error)}",
        ) from error
    try:
        manager.register(plugin, name=key)
    except PLUGIN_FAULTS as error:
        cause = describe_fault(error) if isinstance(error, SystemExit) else str(error)
        raise PluginLoadError(
            agent=key,
            distribution=entry.distribution,
            cause=f"{entry.target} is not a valid plugin: {cause}",
        ) from error
    return plugin


def ask_plugin(manager: pluggy.PluginManager, plugin: object, key: str, entry: AgentEntry) -> PluginAnswer:
    """Call the registered plugin's hooks: its migration set (with what it requires) and the directories it listed."""
    results = _call_hook(manager, plugin, key, entry)
    migrations = [m for result in results for m in result]
    directories = tuple(
        d for result in results for d in (*getattr(result, "directories", ()), *getattr(result, "files", ()))
    )
    requires = _call_requires_hook(manager, plugin, key, entry)
    migration_set = MigrationSet(key, entry.distribution, entry.version, tuple(migrations), requires)
    return PluginAnswer(migration_set, directories)


def _implements(manager: pluggy.PluginManager, plugin: object, hook: str) -> bool:
    """Whether ``plugin`` has a ``@hookimpl`` of ``hook``."""
    return hook in [c.name for c in manager.get_hookcallers(plugin) or []]


def _call_alone(manager: pluggy.PluginManager, plugin: object, hook: str, fail: Callable[[str], PluginLoadError]) -> list[Any]:
    """``plugin``'s ``hook`` called in isolation (no other registered plugin answers); a fault becomes ``fail(...)``."""
    others = [p for _, p in manager.list_name_plugin() if p is not plugin]
    call = manager.subset_hook_caller(hook, remove_plugins=others)
    try:
        results: list[Any] = call()
    except PLUGIN_FAULTS as error:
        raise fail(f"its {hook}() hook {describe_fault(error)}") from error
    return results


def _call_requires_hook(manager: pluggy.PluginManager, plugin: object, key: str, entry: AgentEntry) -> tuple[str, ...]:
    """The agents ``plugin``'s optional ``nocodo_agents_requires()`` names, folded, each once (none without the hook)."""

    def fail(cause: str) -> PluginLoadError:
        return PluginLoadError(agent=key, distribution=entry.distribution, cause=cause)

    if not _implements(manager, plugin, REQUIRES_HOOK_NAME):
        return ()
    results = _call_alone(manager, plugin, REQUIRES_HOOK_NAME, fail)
    required: dict[str, None] = {}
    for result in results or [None]:
        if not isinstance(result, (list, tuple)):
            raise fail(f"its {REQUIRES_HOOK_NAME}() hook returned {type(result).__name__}, expected a list of agent names")
        for name in result:
            if not isinstance(name, str) or not normalize_agent_name(name).strip("_"):
                raise fail(
                    f"its {REQUIRES_HOOK_NAME}() hook returned a list holding {name!r}, expected only agent names "
                    f"(non-empty strings)"
                )
            folded = normalize_agent_name(name)
            if folded == key:
                raise fail(f"its {REQUIRES_HOOK_NAME}() hook names the agent itself ({name!r}); an agent cannot require itself")
            required[folded] = None
    return tuple(required)


def _call_hook(manager: pluggy.PluginManager, plugin: object, key: str, entry: AgentEntry) -> list[Sequence[Migration]]:
    """Ask one registered plugin for its migrations and check what it returns (its lists, as returned)."""
    target = entry.target

    def fail(cause: str) -> PluginLoadError:
        return PluginLoadError(agent=key, distribution=entry.distribution, cause=cause)

    if not _implements(manager, plugin, HOOK_NAME):
        raise fail(
            f"{target} implements no @hookimpl {HOOK_NAME}(); add one returning "
            f"load_migrations('<your package>.migrations')"
        )
    results = _call_alone(manager, plugin, HOOK_NAME, fail)
    if not results:
        raise fail(f"its {HOOK_NAME}() hook returned None, expected a list of Migration")
    for result in results:
        if not isinstance(result, (list, tuple)):
            raise fail(f"its {HOOK_NAME}() hook returned {type(result).__name__}, expected a list of Migration")
        for item in result:
            if not isinstance(item, Migration):
                raise fail(
                    f"its {HOOK_NAME}() hook returned a list holding {item!r} "
                    f"({type(item).__name__}), expected only Migration objects"
                )
    return results
