"""The one process-wide state of nocodo-agents: the registry of installed agents, scanned again only when the environment changed.

:meth:`~nocodo_agents.discovery.AgentRegistry.installed` returns what
:class:`InstalledRegistry` holds; :meth:`~nocodo_agents.discovery.AgentRegistry.clear_installed`
empties it.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

from .agent_entries import PathStamp, plugin_autoload_disabled, sys_path_stamp

#: The registry kept (:class:`~nocodo_agents.discovery.AgentRegistry`).
R = TypeVar("R")


class InstalledRegistry(Generic[R]):
    """The registry :meth:`AgentRegistry.installed` returns (built by the ``scan`` given to :meth:`get`).

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
        self._scanned: tuple[PathStamp | None, R] | None = None
        self._core_only: R | None = None
        #: Whether this process scanned before (kept by :meth:`clear`): every later scan invalidates import caches.
        self._scanned_before = False

    def get(self, scan: Callable[[], R]) -> R:
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
