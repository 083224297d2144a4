"""Which agents are installed: entry points read without importing any agent's code.

An agent is an entry point in the ``nocodo_agents`` group; :class:`AgentEntry`
records it (and how to import it, later). Setting
``NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point at all.
:func:`sys_path_stamp` is what tells a long-running process that a
distribution was installed or uninstalled since it last scanned.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import core_plugin
from ._version import __version__
from .core_plugin import CORE_AGENT, CORE_DISTRIBUTION
from .entry_point_scan import (
    distribution_from_folder,
    first_malformed_line,
    load_entry_point,
    malformed_line_problem,
    scan_group,
    unreadable_problem,
)
from .hookspecs import ENTRY_POINT_GROUP
from .loading import RACY_NS


def importlib_metadata_module() -> Any:
    """:mod:`importlib.metadata` (the backport before 3.10), imported when needed: it costs about 20 ms."""
    if sys.version_info >= (3, 10):
        from importlib import metadata
    else:  # pragma: no cover - exercised on 3.9 only
        import importlib_metadata as metadata
    return metadata

#: Set (to anything but empty, ``0``, ``false``, ``no`` or ``off``) to load no entry point.
DISABLE_AUTOLOAD_ENV = "NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD"

#: A fingerprint of ``sys.path``: each entry with its directory's modification time (``-1`` if absent).
PathStamp = tuple[tuple[str, int], ...]


def plugin_autoload_disabled() -> bool:
    """Whether :data:`DISABLE_AUTOLOAD_ENV` forbids loading agents from entry points (read each time)."""
    value = os.environ.get(DISABLE_AUTOLOAD_ENV)
    return bool(value) and value.strip().lower() not in ("", "0", "false", "no", "off")


_SEPARATORS = re.compile(r"[-_.]+")


@functools.lru_cache(maxsize=256)
def normalize_agent_name(name: str) -> str:
    """Fold ``-``, ``_`` and ``.`` runs to ``_`` and lowercase: ``Requirements-QnA`` -> ``requirements_qna``.

    Cached: every run folds the same few names several times.
    """
    return _SEPARATORS.sub("_", name).lower()


@dataclass(frozen=True)
class AgentEntry:
    """An installed agent, known by its entry point and not yet imported."""

    name: str
    distribution: str
    version: str
    target: str
    load: Callable[[], object] = field(compare=False, repr=False)


def core_entry() -> AgentEntry:
    """The built-in ``core`` agent, registered like any installed one."""
    return AgentEntry(CORE_AGENT, CORE_DISTRIBUTION, __version__, core_plugin.__name__, lambda: core_plugin)


def installed_agent_entries() -> list[AgentEntry]:
    """The agents registered in the ``nocodo_agents`` entry point group (none imported).

    Read by :func:`~nocodo_agents.entry_point_scan.scan_group` (each
    distribution's ``entry_points.txt`` once, the ``METADATA`` of only the
    distributions providing an agent), else by :mod:`importlib.metadata`
    where the scan cannot be sure to find the same (see that module).
    """
    scanned = scan_group(ENTRY_POINT_GROUP)
    if scanned is not None:
        return [
            AgentEntry(
                name=found.name,
                distribution=found.distribution or "(unknown distribution)",
                version=found.version or "?",
                target=found.value,
                load=functools.partial(load_entry_point, found.name, found.value, ENTRY_POINT_GROUP),
            )
            for found in scanned
        ]
    metadata = importlib_metadata_module()
    try:
        found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except _METADATA_FAILURES as error:
        raise _unreadable_entry_points(metadata, error) from error
    entries = []
    for entry_point in found:
        dist = getattr(entry_point, "dist", None)
        distribution, version = "(unknown distribution)", "?"
        if dist is not None:
            try:
                distribution, version = dist.name, dist.version
            except _METADATA_FAILURES as error:
                raise _unreadable_metadata(dist, error) from error
            if not distribution:  # no METADATA (nor PKG-INFO), or one without a Name: importlib.metadata says None
                raise _unreadable_metadata(dist, None)
        entries.append(
            AgentEntry(
                name=entry_point.name,
                distribution=distribution,
                version=version or "?",
                target=entry_point.value,
                load=entry_point.load,
            )
        )
    return entries


#: What importlib.metadata raises, bare, on a distribution's unreadable or malformed metadata file.
_METADATA_FAILURES = (OSError, ValueError, TypeError, KeyError)


def _folder(dist: Any) -> str | None:
    """The ``*.dist-info``/``*.egg-info`` folder of an importlib.metadata distribution, where it has one."""
    path = getattr(dist, "_path", None)  # PathDistribution's; other kinds keep theirs elsewhere, or nowhere
    return str(path) if path is not None else None


def _unreadable_entry_points(metadata: Any, error: BaseException) -> Exception:
    """The :class:`~nocodo_agents.errors.InstalledMetadataError` for ``error``, raised by ``entry_points()``.

    importlib.metadata does not say which distribution's ``entry_points.txt``
    it failed on: each distribution's is parsed again to find it.
    """
    from .errors import InstalledMetadataError

    try:
        for dist in metadata.distributions():
            try:
                _ = dist.entry_points  # reading it is the check: a broken entry_points.txt raises here
            except _METADATA_FAILURES as failure:
                return _unreadable_file(dist, "entry_points.txt", failure)
    except _METADATA_FAILURES:
        pass
    return InstalledMetadataError(
        distribution=None, problem=f"importlib.metadata could not read the entry points ({type(error).__name__}: {error})"
    )


def _unreadable_metadata(dist: Any, error: BaseException | None) -> Exception:
    """The :class:`~nocodo_agents.errors.InstalledMetadataError` for ``dist``'s ``METADATA``: ``error`` reading it, or (``None``) no name in it."""
    folder = _folder(dist)
    present = [f for f in ("METADATA", "PKG-INFO") if folder is not None and os.path.exists(os.path.join(folder, f))]
    if error is not None and (present or folder is None):
        return _unreadable_file(dist, present[0] if present else "METADATA", error)
    from .errors import InstalledMetadataError

    name, version = distribution_from_folder(folder) if folder is not None else (None, None)
    return InstalledMetadataError(
        distribution=name,
        version=version,
        path=os.path.join(folder, present[0]) if folder is not None and present else folder,
        problem=f"its {present[0]} names no distribution (no Name field)" if present else "it has no METADATA file (nor PKG-INFO)",
    )


def _unreadable_file(dist: Any, file: str, error: BaseException) -> Exception:
    """The :class:`~nocodo_agents.errors.InstalledMetadataError` for ``file`` of ``dist``, whose reading raised ``error``."""
    from .errors import InstalledMetadataError

    folder = _folder(dist)
    path = os.path.join(folder, file) if folder is not None else None
    name: str | None = None
    version: str | None = None
    if file != "METADATA":
        try:
            name, version = dist.name, dist.version
        except _METADATA_FAILURES:
            pass
    if not name and folder is not None:
        name, version = distribution_from_folder(folder)
    problem = unreadable_problem(file, error)
    if file == "entry_points.txt" and not isinstance(error, (OSError, UnicodeDecodeError)):
        try:
            text = dist.read_text(file)
        except _METADATA_FAILURES:
            text = None
        malformed = first_malformed_line(text) if text else None
        if malformed is not None:
            problem = malformed_line_problem(*malformed)
    return InstalledMetadataError(distribution=name, version=version, path=path, problem=problem)


@functools.lru_cache(maxsize=1)
def standard_library_entries() -> frozenset[str]:
    """The ``sys.path`` entries of Python's own standard library, which no installer writes into.

    The directory of :mod:`os` (``lib/python3.X``), its ``lib-dynload`` and
    the ``python3X.zip`` beside it (present on ``sys.path`` even where the
    file is not). Installers (pip, uv, ``installer``) put a distribution and
    its ``*.dist-info`` in the environment's ``purelib``/``platlib``
    (``site-packages``), or in a directory given to them, and an editable
    install adds its directory through a ``.pth`` file there: so a
    distribution appearing or disappearing changes a directory that is not
    one of these. Empty where :mod:`os` has no file (a frozen interpreter).
    """
    os_file = getattr(os, "__file__", None)
    if not os_file:
        return frozenset()
    stdlib = os.path.dirname(os_file)
    version = f"{sys.version_info[0]}{sys.version_info[1]}"
    return frozenset({stdlib, os.path.join(stdlib, "lib-dynload"), os.path.join(os.path.dirname(stdlib), f"python{version}.zip")})


#: The time :func:`sys_path_stamp` gives a standard library entry (not looked at).
UNSTAMPED = 0


def sys_path_stamp() -> PathStamp | None:
    """``sys.path`` with the modification time of each of its directories; ``None`` while one is unsettled.

    Installing or uninstalling a distribution adds or removes its
    ``*.dist-info`` directory (and, for an editable install, a ``.pth`` file)
    in a ``sys.path`` directory, which changes that directory's modification
    time: so the stamp changes exactly when a new scan of the entry points
    could find something else. It costs one ``stat`` per ``sys.path`` entry,
    where a scan reads every distribution's metadata (milliseconds), except
    for the standard library's own entries (:func:`standard_library_entries`),
    which no install changes: they are stamped :data:`UNSTAMPED` unlooked at.

    A directory modified less than :data:`~nocodo_agents.loading.RACY_NS`
    (2 s) ago could be changed again within the same tick of the file
    system's clock (a coarse clock, a file system keeping whole seconds)
    without its time moving: a distribution installed then would never
    change the stamp. So the stamp is ``None`` (no stamp: scan again) until
    every directory has kept its time for that long, as
    :mod:`~nocodo_agents.loading` does for migration directories. That is
    one clock reading per call, no further ``stat``.
    """
    skipped = standard_library_entries()
    stat = os.stat
    settled_before = time.time_ns() - RACY_NS
    stamp = []
    append = stamp.append
    for entry in sys.path:
        if entry in skipped:
            append((entry, UNSTAMPED))
            continue
        try:
            modified = stat(entry or ".").st_mtime_ns
        except OSError:
            append((entry, -1))
            continue
        if modified > settled_before:
            return None
        append((entry, modified))
    return tuple(stamp)
