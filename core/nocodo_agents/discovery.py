"""Which agents are installed, and loading the migrations of those requested.

Agents are found through entry points in the ``nocodo_agents`` group without
importing them; an agent's code is imported only when it is requested, and a
failure to import or to answer the hook (an exception, or ``sys.exit()``)
becomes a :class:`PluginLoadError` naming the agent and its distribution.

Setting ``NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point at
all: only ``core`` and plugins registered in-process
(:meth:`AgentRegistry.from_plugins`), for locked-down deployments.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pluggy

from . import core_plugin, hookspecs
from ._version import __version__
from .core_plugin import CORE_AGENT, CORE_DISTRIBUTION
from .errors import DuplicateAgentError, PluginLoadError, UnknownAgentError
from .faults import PLUGIN_FAULTS, describe_fault
from .migration import Migration
from .migration_set import MigrationSet  # re-exported: its home was here

if sys.version_info >= (3, 10):
    from importlib import metadata as importlib_metadata
else:  # pragma: no cover - exercised on 3.9 only
    import importlib_metadata

HOOK_NAME = "nocodo_agents_migrations"

#: Set (to anything but empty, ``0``, ``false``, ``no`` or ``off``) to load no entry point.
DISABLE_AUTOLOAD_ENV = "NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD"


def plugin_autoload_disabled() -> bool:
    """Whether :data:`DISABLE_AUTOLOAD_ENV` forbids loading agents from entry points (read each time)."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def normalize_agent_name(name: str) -> str:
    """Fold ``-``, ``_`` and ``.`` runs to ``_`` and lowercase: ``Requirements-QnA`` -> ``requirements_qna``."""
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass(frozen=True)
class AgentEntry:
    """An installed agent, known by its entry point and not yet imported."""

    name: str
    distribution: str
    version: str
    target: str
    load: Callable[[], object] = field(compare=False, repr=False)


def _core_entry() -> AgentEntry:
    return AgentEntry(CORE_AGENT, CORE_DISTRIBUTION, __version__, core_plugin.__name__, lambda: core_plugin)


def installed_agent_entries() -> List[AgentEntry]:
    """The agents registered in the ``nocodo_agents`` entry point group (none imported)."""
    entries = []
    for entry_point in importlib_metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        dist = getattr(entry_point, "dist", None)
        entries.append(
            AgentEntry(
                name=entry_point.name,
                distribution=dist.name if dist is not None else "(unknown distribution)",
                version=dist.version if dist is not None else "?",
                target=entry_point.value,
                load=entry_point.load,
            )
        )
    return entries


def _path_stamp() -> Tuple[Tuple[str, int], ...]:
    stamp = []
    for entry in sys.path:
        try:
            stamp.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            stamp.append((entry, -1))
    return tuple(stamp)


_installed_cache: Dict[str, Tuple[Tuple[Tuple[str, int], ...], "AgentRegistry"]] = {}
_installed_lock = threading.Lock()


def _install_hint(agent: str) -> str:
    dashed = normalize_agent_name(agent).replace("_", "-")
    try:
        extras = importlib_metadata.metadata(CORE_DISTRIBUTION).get_all("Provides-Extra") or []
    except importlib_metadata.PackageNotFoundError:
        extras = []
    if dashed in extras:
        return f"pip install 'nocodo-agents[{dashed}]'"
    return f"pip install nocodo-agents-{dashed} (or the distribution that provides agent {agent!r})"


class AgentRegistry:
    """The installed agents (always including ``core``) and their lazily loaded migrations.

    Build it with :meth:`installed` (what the runner uses by default: the
    entry points, scanned once per process), :meth:`from_entry_points` or
    :meth:`from_plugins` (for tests and applications that register plugin
    objects directly). Each agent is imported and asked for its migrations at
    most once per registry. ``autoload_disabled`` records that entry points
    were left out on purpose (:data:`DISABLE_AUTOLOAD_ENV`), for messages.
    """

    def __init__(self, entries: Iterable[AgentEntry], *, autoload_disabled: bool = False) -> None:
        self.autoload_disabled = autoload_disabled
        self._entries: Dict[str, List[AgentEntry]] = {}
        for entry in [_core_entry(), *entries]:
            self._entries.setdefault(normalize_agent_name(entry.name), []).append(entry)
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._loaded: Dict[str, MigrationSet] = {}
        self._lock = threading.RLock()  # one registry may serve several threads

    @classmethod
    def from_entry_points(cls) -> "AgentRegistry":
        """The agents installed in this environment, scanned now (only ``core`` if autoload is disabled)."""
        if plugin_autoload_disabled():
            return cls([], autoload_disabled=True)
        return cls(installed_agent_entries())

    @classmethod
    def installed(cls) -> "AgentRegistry":
        """The agents installed in this environment, scanned once per process.

        The scan is repeated when ``sys.path`` or the modification time of
        any of its directories changes, as installing or uninstalling a
        distribution does, so a long-running process sees new agents. With
        :data:`DISABLE_AUTOLOAD_ENV` set (checked at every call) it holds
        only ``core``.
        """
        if plugin_autoload_disabled():
            with _installed_lock:
                core_only = _installed_cache.get("autoload_disabled")
                if core_only is None:
                    core_only = _installed_cache["autoload_disabled"] = ((), cls.from_entry_points())
                return core_only[1]
        stamp = _path_stamp()
        with _installed_lock:
            cached = _installed_cache.get("registry")
            if cached is None or cached[0] != stamp:
                cached = _installed_cache["registry"] = (stamp, cls.from_entry_points())
            return cached[1]

    @classmethod
    def from_plugins(cls, plugins: Mapping[str, object], distribution: str = "(registered in-process)") -> "AgentRegistry":
        """Agents given as ``{name: plugin object}`` instead of entry points."""
        def loader(plugin: object) -> Callable[[], object]:
            return lambda: plugin

        return cls(AgentEntry(name, distribution, "0", repr(plugin), loader(plugin)) for name, plugin in plugins.items())

    def agent_names(self) -> List[str]:
        """Every installed agent's name, ``core`` first."""
        return sorted(self._entries, key=lambda name: (name != CORE_AGENT, name))

    def entry(self, agent: str) -> AgentEntry:
        """The one installed entry for ``agent``; raises if it is unknown or registered twice."""
        key = normalize_agent_name(agent)
        entries = self._entries.get(key)
        if not entries:
            raise UnknownAgentError(
                agent, self.agent_names(), _install_hint(agent), autoload_disabled=self.autoload_disabled
            )
        if len(entries) > 1:
            raise DuplicateAgentError(key, [e.distribution for e in entries])
        return entries[0]

    def migration_set(self, agent: str) -> MigrationSet:
        """Import ``agent`` (once) and return the migrations its hook contributes."""
        entry = self.entry(agent)
        key = normalize_agent_name(entry.name)
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is None:
                loaded = self._loaded[key] = self._load(key, entry)
            return loaded

    def requested_sets(self, agents: Optional[Sequence[str]]) -> List[MigrationSet]:
        """``core`` plus the requested agents (every installed one for ``None``)."""
        if isinstance(agents, str):
            raise TypeError("agents= takes a list of agent names, not a single string")
        names = self.agent_names() if agents is None else [CORE_AGENT, *agents]
        seen: Dict[str, MigrationSet] = {}
        for name in names:
            key = normalize_agent_name(name)
            if key not in seen:
                seen[key] = self.migration_set(name)
        return list(seen.values())

    def _load(self, key: str, entry: AgentEntry) -> MigrationSet:
        try:
            plugin = entry.load()
        except PLUGIN_FAULTS as error:
            raise PluginLoadError(key, entry.distribution, f"importing {entry.target} {describe_fault(error)}") from error
        try:
            self.plugin_manager.register(plugin, name=key)
        except PLUGIN_FAULTS as error:
            cause = describe_fault(error) if isinstance(error, SystemExit) else str(error)
            raise PluginLoadError(key, entry.distribution, f"{entry.target} is not a valid plugin: {cause}") from error
        try:
            migrations = self._call_hook(plugin, key, entry)
        except PluginLoadError:
            self.plugin_manager.unregister(plugin)
            raise
        return MigrationSet(key, entry.distribution, entry.version, tuple(migrations))

    def _call_hook(self, plugin: object, key: str, entry: AgentEntry) -> List[Migration]:
        """Ask one registered plugin for its migrations and check what it returns."""
        target = entry.target

        def fail(cause: str) -> PluginLoadError:
            return PluginLoadError(key, entry.distribution, cause)

        implementers = [c.name for c in self.plugin_manager.get_hookcallers(plugin) or []]
        if HOOK_NAME not in implementers:
            raise fail(
                f"{target} implements no @hookimpl {HOOK_NAME}(); add one returning "
                f"load_migrations('<your package>.migrations')"
            )
        others = [p for _, p in self.plugin_manager.list_name_plugin() if p is not plugin]
        call = self.plugin_manager.subset_hook_caller(HOOK_NAME, remove_plugins=others)
        try:
            results = call()
        except PLUGIN_FAULTS as error:
            raise fail(f"its {HOOK_NAME}() hook {describe_fault(error)}") from error
        if not results:
            raise fail(f"its {HOOK_NAME}() hook returned None, expected a list of Migration")
        migrations: List[Migration] = []
        for result in results:
            if not isinstance(result, (list, tuple)):
                raise fail(f"its {HOOK_NAME}() hook returned {type(result).__name__}, expected a list of Migration")
            for item in result:
                if not isinstance(item, Migration):
                    raise fail(
                        f"its {HOOK_NAME}() hook returned a list holding {item!r} "
                        f"({type(item).__name__}), expected only Migration objects"
                    )
                migrations.append(item)
        return migrations
