"""The registry of agents: loading the migrations of those requested, and the process-wide cache.

Agents are found through entry points (:mod:`.agent_entries`) without
importing them; an agent's code is imported only when it is requested, and a
failure to import or to answer the hook (an exception, or ``sys.exit()``)
becomes a :class:`PluginLoadError` naming the agent and its distribution.

Setting ``NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point at
all: only ``core`` and plugins registered in-process
(:meth:`AgentRegistry.from_plugins`), for locked-down deployments.

The only process-wide state of nocodo-agents lives here: the registry
:meth:`AgentRegistry.installed` returns (see :class:`_InstalledRegistry`),
dropped by :meth:`AgentRegistry.clear_installed`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pluggy

from . import hookspecs
from .agent_entries import (
    DISABLE_AUTOLOAD_ENV,
    AgentEntry,
    PathStamp,
    core_entry,
    install_hint,
    installed_agent_entries,
    normalize_agent_name,
    plugin_autoload_disabled,
    required_agent_install_hint,
    sys_path_stamp,
)
from .core_plugin import CORE_AGENT
from .errors import (
    DuplicateAgentError,
    InvalidArgumentTypeError,
    PluginLoadError,
    RequiredAgentMissingError,
    UnknownAgentError,
)
from .faults import PLUGIN_FAULTS, describe_fault
from .loading import DirectoryStamp, directories_changed
from .migration import Migration
from .migration_set import MigrationSet

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

HOOK_NAME = "nocodo_agents_migrations"
#: The optional hook naming the agents an agent requires.
REQUIRES_HOOK_NAME = "nocodo_agents_requires"


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
        self._entries: Dict[str, List[AgentEntry]] = {}
        for entry in [core_entry(), *entries]:
            self._entries.setdefault(normalize_agent_name(entry.name), []).append(entry)
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._loaded: Dict[str, _Loaded] = {}
        #: requested_sets' answers: requested agents -> (the sets, the directories and files of all of them).
        self._requested: Dict[Optional[Tuple[str, ...]], Tuple[Tuple[MigrationSet, ...], DirectoryStamp]] = {}
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
                loaded = self._loaded[key] = self._ask(loaded.plugin, key, entry)
            return loaded

    def watched_paths(self, agents: Iterable[str]) -> Optional[Tuple[str, ...]]:
        """The directories and migration files ``agents``' migrations were listed from; ``None`` if one is not loaded here.

        For the command line's remembered no-op answers
        (:mod:`~nocodo_agents.cli.noop_record`): a change to any of them can change an answer.
        """
        paths: Dict[str, None] = {}
        with self._lock:
            for agent in agents:
                loaded = self._loaded.get(normalize_agent_name(agent))
                if loaded is None:
                    return None
                paths.update((path, None) for path, _ in loaded.directories)
        return tuple(paths)

    def requested_sets(self, agents: Optional[Sequence[str]]) -> List[MigrationSet]:
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
            key: Optional[Tuple[str, ...]] = None if agents is None else tuple(agents)
            known = self._requested.get(key)
        except TypeError:  # a name that is not hashable: not kept (looking it up names the problem)
            return self._look_up_sets(agents)[0]
        if known is not None and not directories_changed(known[1]):
            return list(known[0])
        sets, stamps = self._look_up_sets(agents)
        self._requested[key] = (tuple(sets), stamps)
        return sets

    def _look_up_sets(self, agents: Optional[Sequence[str]]) -> Tuple[List[MigrationSet], DirectoryStamp]:
        """:meth:`requested_sets`, looked up set by set; with the directories and files of all of them."""
        names = self.agent_names() if agents is None else [CORE_AGENT, *agents]
        seen: Dict[str, MigrationSet] = {}
        stamps: List[Tuple[str, int]] = []
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
        try:
            plugin = entry.load()
        except PLUGIN_FAULTS as error:
            raise PluginLoadError(
                agent=key,
                distribution=entry.distribution,
                cause=f"importing {entry.target} {describe_fault(error)}",
            ) from error
        try:
            self.plugin_manager.register(plugin, name=key)
        except PLUGIN_FAULTS as error:
            cause = describe_fault(error) if isinstance(error, SystemExit) else str(error)
            raise PluginLoadError(
                agent=key,
                distribution=entry.distribution,
                cause=f"{entry.target} is not a valid plugin: {cause}",
            ) from error
        try:
            return self._ask(plugin, key, entry)
        except PluginLoadError:
            self.plugin_manager.unregister(plugin)
            raise

    def _ask(self, plugin: object, key: str, entry: AgentEntry) -> _Loaded:
        """Call the registered plugin's hooks: its migration set (with what it requires) and the directories it listed."""
        results = self._call_hook(plugin, key, entry)
        migrations = [m for result in results for m in result]
        directories = tuple(
            d for result in results for d in (*getattr(result, "directories", ()), *getattr(result, "files", ()))
        )
        requires = self._call_requires_hook(plugin, key, entry)
        migration_set = MigrationSet(key, entry.distribution, entry.version, tuple(migrations), requires)
        return _Loaded(plugin, migration_set, directories)

    def _call_requires_hook(self, plugin: object, key: str, entry: AgentEntry) -> Tuple[str, ...]:
        """The agents ``plugin``'s optional ``nocodo_agents_requires()`` names, folded, each once (none without the hook)."""

        def fail(cause: str) -> PluginLoadError:
            return PluginLoadError(agent=key, distribution=entry.distribution, cause=cause)

        implementers = [c.name for c in self.plugin_manager.get_hookcallers(plugin) or []]
        if REQUIRES_HOOK_NAME not in implementers:
            return ()
        others = [p for _, p in self.plugin_manager.list_name_plugin() if p is not plugin]
        call = self.plugin_manager.subset_hook_caller(REQUIRES_HOOK_NAME, remove_plugins=others)
        try:
            results = call()
        except PLUGIN_FAULTS as error:
            raise fail(f"its {REQUIRES_HOOK_NAME}() hook {describe_fault(error)}") from error
        required: Dict[str, None] = {}
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

    def _call_hook(self, plugin: object, key: str, entry: AgentEntry) -> List[Sequence[Migration]]:
        """Ask one registered plugin for its migrations and check what it returns (its lists, as returned)."""
        target = entry.target

        def fail(cause: str) -> PluginLoadError:
            return PluginLoadError(agent=key, distribution=entry.distribution, cause=cause)

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


def requirement_graph(sets: Iterable[MigrationSet]) -> Dict[str, Tuple[str, ...]]:
    """Each set's agent -> the agents it requires directly: those it declares, and ``core`` for every other agent."""
    graph: Dict[str, Tuple[str, ...]] = {}
    for migration_set in sets:
        implied = () if migration_set.agent == CORE_AGENT or CORE_AGENT in migration_set.requires else (CORE_AGENT,)
        graph[migration_set.agent] = (*migration_set.requires, *implied)
    return graph


class _InstalledRegistry:
    """The registry :meth:`AgentRegistry.installed` returns: the one process-wide state of nocodo-agents.

    It holds the registry built from the scanned entry points, keyed on
    :func:`~nocodo_agents.agent_entries.sys_path_stamp` (scanning costs
    milliseconds, the stamp one ``stat`` per ``sys.path`` entry; no stamp while
    a ``sys.path`` directory was modified within the last two seconds, so it is
    scanned again at every call until then), and, apart,
    the ``core``-only registry used while :data:`DISABLE_AUTOLOAD_ENV` is set
    (checked at every call, so switching it back finds the scanned registry
    unchanged). Each registry re-lists an agent's migrations when their
    directories change (:meth:`AgentRegistry.migration_set`).
    :meth:`AgentRegistry.clear_installed` empties both.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scanned: Optional[Tuple[Optional[PathStamp], AgentRegistry]] = None
        self._core_only: Optional[AgentRegistry] = None
        #: Whether this process scanned before (kept by :meth:`clear`): every later scan invalidates import caches.
        self._scanned_before = False

    def get(self, scan: Callable[[], AgentRegistry]) -> AgentRegistry:
        """The cached registry, ``scan()``-ed again if the environment changed."""
        if plugin_autoload_disabled():
            with self._lock:
                if self._core_only is None:
                    self._core_only = scan()
                return self._core_only
        stamp = sys_path_stamp()
        scanned = self._scanned  # read without the lock: replaced whole, never changed in place
        if stamp is not None and scanned is not None and scanned[0] == stamp:
            return scanned[1]
        with self._lock:
            if stamp is None or self._scanned is None or self._scanned[0] != stamp:
                if self._scanned_before:
                    # The import system lists a directory again only when its time moves: an agent
                    # installed within the tick of its last listing could be found but not imported.
                    from importlib import invalidate_caches

                    invalidate_caches()
                self._scanned = (stamp, scan())
                self._scanned_before = True
            return self._scanned[1]

    def clear(self) -> None:
        """Forget both registries."""
        with self._lock:
            self._scanned = None
            self._core_only = None


_INSTALLED = _InstalledRegistry()
