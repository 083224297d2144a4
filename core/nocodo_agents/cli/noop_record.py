"""Writing a remembered no-op answer, after the full path of ``migrate`` found nothing to do on a SQLite file.

:mod:`.noop_answer` describes what an entry holds and when it is used; this
module gathers it at the end of the full run: the key, the ``stat`` of
everything that run's answer depended on, the history statement and rows it
verified, and its output. An entry is written only where all of that is
known; otherwise, and on any failure to write (a read-only or foreign
directory, a full disk), nothing is written and nothing is said.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from ..agent_entries import standard_library_entries
from ..entry_point_scan import standard_finders_only
from .noop_answer import CWD, PREFIX, SETTLED_NS, SYS_PATH, cache_directory, entry_path, private_directory, stamp

#: How many answers are kept (the least recently written are removed first).
MAX_ENTRIES = 64

Stamp = Optional[tuple[int, int, int, int, int]]


@dataclass(frozen=True)
class HistoryRead:
    """What a no-op ``migrate`` verified: the database file, the statement that read its history, the rows it gave."""

    database: str
    sql: str
    rows: list[Any]
    #: The migration files and directories of the requested agents.
    migration_paths: tuple[str, ...]


def history_read(run: Any, url: Any) -> HistoryRead | None:
    """The history ``run`` (an open :class:`~nocodo_agents.engine.run.Run` on ``url``) judged up to date, if it can be checked again in one statement.

    Only on SQLite (the dialect gives a snapshot: the rows carry main's schema
    version, read with the columns), on a file named without URI parameters
    (the answer opens it plainly), by the path the command line opened (made
    absolute: the working directory is in the key), so that a symlink turned
    to another file is followed as the full path would follow it.
    """
    dialect = run.dialect
    read = getattr(dialect, "last_history_read", None)
    location = getattr(url, "location", None)
    if read is None or location is None or location.parameters or location.in_memory:
        return None
    if dialect.history_snapshot() is None:
        return None
    sql, rows = read
    registry = run.registry
    paths = registry.watched_paths(list(run.requires)) if registry is not None else None
    if paths is None:
        return None
    return HistoryRead(os.path.abspath(location.path), sql, [tuple(row) for row in rows], paths)


def _under(path: str, roots: Iterable[str]) -> str | None:
    """The longest of ``roots`` holding ``path``."""
    best = None
    for root in roots:
        if root and (path == root or path.startswith(root.rstrip(os.sep) + os.sep)) and (best is None or len(root) > len(best)):
            best = root
    return best


def _watched(migration_paths: Iterable[str], sys_path: Iterable[str], opened: Iterable[str] = ()) -> list[str] | None:
    """Every path whose ``stat`` the answer depends on; ``None`` where discovery could read something unseen.

    ``sys_path``: as the run began (the key's), with what was added to it since.
    ``opened``: the files the run opened and the directories it listed (absolute).
    """
    if sys.version_info < (3, 10) or not standard_finders_only():
        return None  # importlib.metadata asks finders of their own: nothing to stat
    skipped = standard_library_entries()
    entries = [entry for entry in dict.fromkeys([*sys_path, *sys.path]) if isinstance(entry, str)]
    roots = [os.path.abspath(entry or ".") for entry in entries]
    paths: dict[str, None] = dict.fromkeys(migration_paths)
    for entry, root in zip(entries, roots):
        if entry in skipped:
            continue
        if os.path.basename(entry).lower().endswith(".egg"):
            return None
        paths[root] = None
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            continue  # a zip file: its stamp changes with anything in it
        except OSError:
            continue  # absent: its stamp says so
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                folder = os.path.join(root, child)
                paths[folder] = None
                for name in ("entry_points.txt", "METADATA", "PKG-INFO"):
                    paths[os.path.join(folder, name)] = None
            elif low.endswith(".pth"):
                paths[os.path.join(root, child)] = None
    standard = {os.path.abspath(entry) for entry in skipped}
    paths.update((path, None) for path in opened if _under(path, roots) not in standard)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.isabs(file) and _under(file, roots) not in standard:
            paths[file] = None
            paths[os.path.dirname(file)] = None
        for directory in getattr(module, "__path__", None) or ():
            if not isinstance(directory, str) or not os.path.isabs(directory) or _under(directory, roots) in standard:
                continue  # the standard library's: changes only with the interpreter (sys.version)
            paths[directory] = None
            try:
                children = os.listdir(directory)
            except OSError:
                continue
            # every file of the package, imported or not: a data file a hook reads is one of them
            paths.update((os.path.join(directory, child), None) for child in children if child != "__pycache__")
    for path in list(paths):
        if not os.path.exists(path):
            paths[_existing_ancestor(path)] = None  # inside a zip file (its stamp changes with its content), or absent
    return list(paths)


def _existing_ancestor(path: str) -> str:
    """The nearest of ``path``'s ancestors that exists (creating what is missing changes it)."""
    parent = os.path.dirname(path)
    while parent != path and not os.path.exists(parent):
        path, parent = parent, os.path.dirname(parent)
    return parent


def record(key: tuple[Any, ...], started: int, read: HistoryRead, stdout: str, opened: Iterable[str] = ()) -> bool:
    """Write the answer for ``key`` (:func:`~.noop_answer.cache_key` as the run began, at ``started``: ``time.time_ns()``), a no-op ``migrate``.

    Nothing is written where a watched path changed less than two seconds
    before ``started`` (or since), ``opened`` among them (the files the run read), where discovery might have read what no
    stamp shows, or where the directory cannot be made private to this user.
    Returns whether the entry was written.
    """
    directory = cache_directory()
    if directory is None:
        return False
    database_files = {read.database + suffix for suffix in ("", "-journal", "-wal", "-shm")}  # checked by its history
    watched = _watched(read.migration_paths, key[SYS_PATH], [path for path in opened if path not in database_files])
    if watched is None:
        return False
    from pathlib import Path

    from .config import project_file_candidates

    # the settings' pyproject.toml ([tool.nocodo-agents]): the one found, and each place looked at before it
    watched += [str(path) for path in project_file_candidates(Path(key[CWD]))]
    limit = started - SETTLED_NS
    stamps: list[tuple[str, Stamp]] = []
    for path in watched:
        found = stamp(path)
        if found is not None and (found[0] >= limit or found[1] >= limit):
            return False  # could still change within one tick of the clock, unseen
        stamps.append((path, found))
    database = stamp(read.database)
    if database is None:
        return False
    entry = {
        "key": key,
        "started": started,
        "stamps": tuple(stamps),
        "database": read.database,
        "identity": database[3:],
        "sql": read.sql,
        "rows": read.rows,
        "stdout": stdout,
    }
    try:
        data = marshal.dumps(entry)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not private_directory(directory):
            return False
        path = entry_path(directory, key)
        temporary = f"{path}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        _prune(directory)
    except (OSError, ValueError):
        return False
    return True


def _prune(directory: str, keep: int = MAX_ENTRIES) -> None:
    """Remove the least recently written entries beyond ``keep`` (and temporary files left by a killed run)."""
    entries = []
    for name in os.listdir(directory):
        if not name.startswith(PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            entries.append((os.stat(path).st_mtime_ns, path))
        except OSError:
            continue
    entries.sort(reverse=True)
    for _, path in entries[keep:]:
        try:
            os.unlink(path)
        except OSError:
            pass
