"""The registry of agents: loading the migrations of those requested, and the process-wide cache.

Agents are found through entry points (:mod:`.agent_entries`) without
importing them; an agent's code is imported only when it is requested, and a
failure to import or to answer the hook (an exception, or ``sys.exit()``)
becomes a :class:`PluginLoadError` naming the agent and its distribution.

Setting ``NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point at
all: only ``core`` and plugins registered in-process
(:meth:`AgentRegistry.from_plugins`), for locked-down deployments.

The only process-wide state of nocodo-agents lives here: the registry
:meth:`AgentRegistry.installed` returns (see :class:`~nocodo_agents.installed_registry.InstalledRegistry`),
dropped by :meth:`AgentRegistry.clear_installed`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

import pluggy

from . import hookspecs
from .agent_entries import (
    DISABLE_AUTOLOAD_ENV,
    AgentEntry,
    core_entry,
    installed_agent_entries,
    normalize_agent_name,
    plugin_autoload_disabled,
)
from .core_plugin import CORE_AGENT
from .errors import (
    DuplicateAgentError,
    InvalidArgumentTypeError,
    PluginLoadError,
    RequiredAgentMissingError,
    UnknownAgentError,
)
from .install_hints import install_hint, required_agent_install_hint
from .installed_registry import InstalledRegistry
from .loading import DirectoryStamp, directories_changed
from .migration_set import MigrationSet
from .plugin_calls import HOOK_NAME, REQUIRES_HOOK_NAME, ask_plugin, load_plugin

__all__ = [
    "DISABLE_AUTOLOAD_ENV",
    "HOOK_NAME",
    "REQUIRES_HOOK_NAME",
    "AgentEntry",
    "AgentRegistry",
    "MigrationSet",
    "installed_agent_entries",
    "normalize_agent_name",
    "plugin_autoload_disabled",
    "requirement_graph",
]


@dataclass(frozen=True)
class _Loaded:
    """One agent's migrations as a registry holds them: the plugin, its set, the directories listed and files found."""

    plugin: object
    migration_set: MigrationSet
    directories: DirectoryStamp


class AgentRegistry:
    """The installed agents (always including ``core``) and their lazily loaded migrations.

    Build it with :meth:`installed` (what the runner uses by default: the
    entry points, scanned once per process), :meth:`from_entry_points` or
    :meth:`from_plugins` (for tests and applications that register plugin
    objects directly). Each agent is imported once per registry and asked
    for its migrations once, and again only when a directory its
    :func:`~nocodo_agents.plugins.load_migrations` listed, or one of the
    migration files it found, has changed (a migration file added, removed,
    renamed or edited, as while developing an agent installed in editable
    mode). ``autoload_disabled`` records that entry
    points were left out on purpose (:data:`DISABLE_AUTOLOAD_ENV`), for
    messages.
    """

    def __init__(self, entries: Iterable[AgentEntry], *, autoload_disabled: bool = False) -> None:
        self.autoload_disabled = autoload_disabled
        self._entries: dict[str, list[AgentEntry]] = {}
        for entry in [core_entry(), *entries]:
            self._entries.setdefault(normalize_agent_name(entry.name), []).append(entry)
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._loaded: dict[str, _Loaded] = {}
        #: requested_sets' answers: requested agents -> (the sets, the directories and files of all of them).
        self._requested: dict[tuple[str, ...] | None, tuple[tuple[MigrationSet, ...], DirectoryStamp]] = {}
        self._lock = threading.RLock()  # one registry may serve several threads

    @classmethod
    def from_entry_points(cls) -> AgentRegistry:
        """The agents installed in this environment, scanned now (only ``core`` if autoload is disabled)."""
        if plugin_autoload_disabled():
            return cls([], autoload_disabled=True)
        return cls(installed_agent_entries())

    @classmethod
    def installed(cls) -> AgentRegistry:
        """The agents installed in this environment, scanned once per process.

        The scan is repeated when ``sys.path`` or the modification time of
        any of its directories changes, as installing or uninstalling a
        distribution does, so a long-running process sees new agents; and at
        every call while one of those directories was modified less than two
        seconds ago (a change within the same tick of the file system's clock
        would not move its time). Each such scan makes the import system list
        its directories again (:func:`importlib.invalidate_caches`). With
        :data:`DISABLE_AUTOLOAD_ENV` set (checked at every call) it holds
        only ``core``. :meth:`clear_installed` drops it.
        """
        return _INSTALLED.get(cls.from_entry_points)

    @staticmethod
    def clear_installed() -> None:
        """Forget the registry :meth:`installed` returns: the next call scans the entry points again.

        For a process that changed its environment in a way the scan's
        fingerprint does not see, and for tests.
        """
        _INSTALLED.clear()

    @classmethod
    def from_plugins(cls, plugins: Mapping[str, object], distribution: str = "(registered in-process)") -> AgentRegistry:
        """Agents given as ``{name: plugin object}`` instead of entry points."""
        def loader(plugin: object) -> Callable[[], object]:
            return lambda: plugin

        return cls(AgentEntry(name, distribution, "0", repr(plugin), loader(plugin)) for name, plugin in plugins.items())

    def agent_names(self) -> list[str]:
        """Every installed agent's name, ``core`` first."""
        return sorted(self._entries, key=lambda name: (name != CORE_AGENT, name))

    def entry(self, agent: str) -> AgentEntry:
        """The one installed entry for ``agent``; raises if it is unknown or registered twice."""
        key = normalize_agent_name(agent)
        entries = self._entries.get(key)
        if not entries:
            raise UnknownAgentError(
                agent=agent,
                installed=self.agent_names(),
                install_hint=install_hint(agent),
                autoload_disabled=self.autoload_disabled
            )
        if len(entries) > 1:
            raise DuplicateAgentError(agent=key, distributions=[e.distribution for e in entries])
        return entries[0]

    def migration_set(self, agent: str) -> MigrationSet:
        """Import ``agent`` (once) and return the migrations its hook contributes.

        The hook is asked again when a directory its migrations were listed
        from, or one of their files, has changed since (one ``stat`` per
        directory and per file at each call).
        """
        return self._current(agent).migration_set

    def _current(self, agent: str) -> _Loaded:
        """``agent``'s plugin, migration set and directories: loaded once, asked again when its directories changed."""
        entry = self.entry(agent)
        key = normalize_agent_name(entry.name)
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is None:
                loaded = self._loaded[key] = self._load(key, entry)
            elif directories_changed(loaded.directories):
                loaded = self._loaded[key] = _Loaded(loaded.plugin, *ask_plugin(self.plugin_manager, loaded.plugin, key, entry))
            return loaded

    def watched_paths(self, agents: Iterable[str]) -> tuple[str, ...] | None:
        """The directories and migration files ``agents``' migrations were listed from; ``None`` if one is not loaded here.

        For the command line's remembered no-op answers
        (:mod:`~nocodo_agents.cli.noop_record`): a change to any of them can change an answer.
        """
        paths: dict[str, None] = {}
        with self._lock:
            for agent in agents:
                loaded = self._loaded.get(normalize_agent_name(agent))
                if loaded is None:
                    return None
                paths.update((path, None) for path, _ in loaded.directories)
        return tuple(paths)

    def requested_sets(self, agents: Sequence[str] | None) -> list[MigrationSet]:
        """``core``, the requested agents (every installed one for ``None``) and what they require, transitively.

        Only those agents are imported. A required agent that is not
        installed raises :class:`RequiredAgentMissingError` naming the agent
        requiring it (an unknown *requested* agent: :class:`UnknownAgentError`).
        The answer for the same ``agents`` is kept with the directories and
        files of every set in it, and given again while none of them changed
        (one ``stat`` each, as :meth:`migration_set` costs); on any change
        each set is looked up again.
        """
        if isinstance(agents, str):
            raise InvalidArgumentTypeError(
                argument="agents=",
                value=agents,
                expected=f"a list of agent names (for one: agents=[{agents!r}])",
            )
        try:
            key: tuple[str, ...] | None = None if agents is None else tuple(agents)
            known = self._requested.get(key)
        except TypeError:  # a name that is not hashable: not kept (looking it up names the problem)
            return self._look_up_sets(agents)[0]
        if known is not None and not directories_changed(known[1]):
            return list(known[0])
        sets, stamps = self._look_up_sets(agents)
        self._requested[key] = (tuple(sets), stamps)
        return sets

    def _look_up_sets(self, agents: Sequence[str] | None) -> tuple[list[MigrationSet], DirectoryStamp]:
        """:meth:`requested_sets`, looked up set by set; with the directories and files of all of them."""
        names = self.agent_names() if agents is None else [CORE_AGENT, *agents]
        seen: dict[str, MigrationSet] = {}
        stamps: list[tuple[str, int]] = []
        for name in names:
            key = normalize_agent_name(name)
            if key not in seen:
                loaded = self._current(name)
                seen[key] = loaded.migration_set
                stamps.extend(loaded.directories)
        queue = list(seen.values())
        while queue:
            requiring = queue.pop(0)
            for required in requiring.requires:
                if required not in seen:
                    loaded = self._required(required, requiring)
                    seen[required] = loaded.migration_set
                    stamps.extend(loaded.directories)
                    queue.append(seen[required])
        return list(seen.values()), tuple(stamps)

    def _required(self, agent: str, requiring: MigrationSet) -> _Loaded:
        """The migrations of ``agent``, which ``requiring`` requires; :class:`RequiredAgentMissingError` if not installed."""
        if not self._entries.get(agent):
            hint, guessed = required_agent_install_hint(agent, requiring.distribution)
            raise RequiredAgentMissingError(
                agent=agent,
                required_by=requiring.agent,
                distribution=requiring.distribution,
                install_hint=hint,
                guessed=guessed,
                autoload_disabled=self.autoload_disabled,
            )
        try:
            return self._current(agent)
        except PluginLoadError as error:
            if error.required_by is not None:
                raise
            raise PluginLoadError(
                agent=error.agent, distribution=error.distribution, cause=error.cause,
                required_by=(requiring.agent, requiring.distribution),
            ) from error


    def _load(self, key: str, entry: AgentEntry) -> _Loaded:
        """Import and register the agent's plugin, then ask it for its migrations."""
        plugin = load_plugin(self.plugin_manager, key, entry)
        try:
            return _Loaded(plugin, *ask_plugin(self.plugin_manager, plugin, key, entry))
        except PluginLoadError:
            self.plugin_manager.unregister(plugin)
            raise


def requirement_graph(sets: Iterable[MigrationSet]) -> dict[str, tuple[str, ...]]:
    """Each set's agent -> the agents it requires directly: those it declares, and ``core`` for every other agent."""
    graph: dict[str, tuple[str, ...]] = {}
    for migration_set in sets:
        implied = () if migration_set.agent == CORE_AGENT or CORE_AGENT in migration_set.requires else (CORE_AGENT,)
        graph[migration_set.agent] = (*migration_set.requires, *implied)
    return graph


#: The registry :meth:`AgentRegistry.installed` returns.
_INSTALLED: InstalledRegistry[AgentRegistry] = InstalledRegistry()
