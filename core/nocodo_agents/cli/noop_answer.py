"""The command line's remembered no-op answers: ``migrate`` on an up-to-date SQLite file, answered from disk.

``nocodo-agents migrate`` usually finds nothing to do. Answering that the
full way imports pluggy, argparse, the agents and every migration module to
checksum it; this module answers it from an entry that the full path wrote
(:mod:`.noop_record`) the last time it found the same command a no-op, after
checking that nothing its answer depended on has changed:

- the key: the interpreter (``sys.executable``, ``sys.version``,
  ``sys.prefix``, ``sys.flags``, its ``-W`` and ``-X`` options), ``sys.path``, the working directory, the
  exact command line, the whole environment (a migration or a hook may read
  any variable), and the version of nocodo-agents;
- the ``stat`` (modification and change times, size, inode, device) of every
  ``sys.path`` directory, of every module file the full run had imported
  outside the standard library (nocodo-agents, pluggy, the agents and their
  migration modules, whatever those import) and its directory, of every file
  in an imported package's directory (data files), of a zip file for what is in it, of every
  migration file and directory the agents' migrations were listed from, and
  of the ``*.dist-info``/``*.egg-info`` folders, their ``entry_points.txt``
  and ``METADATA``, and the ``.pth`` files, where installed agents are found,
  of every file the full run opened, directory it listed and other
  SQLite file it connected to (:mod:`.noop_capture`'s audit hook),
  and of the command line's settings file: each ``pyproject.toml`` looked for from
  the working directory upward, up to the one found (``[tool.nocodo-agents]``);
- the database: the file the command line names (a path without URI
  parameters), the same file (device and inode) as then, and its history read
  again with the very statement the full run read it with (the rows and
  main's schema version, which SQLite changes at any change of a table's
  definition), equal to the rows that run verified and found complete.

Everything equal: the remembered output is printed and the exit code is 0,
with one statement sent. Any doubt at all (no entry, an unreadable or
truncated one, another key, a ``stat`` that differs, a file modified within
two seconds before the full run that wrote it began, a database error, an
entry or directory not owned by this user or writable by others) and the
command takes its full path, which writes the entry again.

This module runs before anything else of the command: it imports only
:mod:`os`, :mod:`sys` and :mod:`marshal` (builtins), and :mod:`sqlite3` once
an entry was found.

Where: ``$NOCODO_AGENTS_CACHE_DIR``, else ``$XDG_CACHE_HOME/nocodo-agents``,
else ``~/.cache/nocodo-agents``. ``NOCODO_AGENTS_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import marshal
import os
import sys

from .._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

#: Set (to anything but empty, ``0``, ``false``, ``no`` or ``off``) to neither read nor write remembered answers.
NO_CACHE_ENV = "NOCODO_AGENTS_NO_CACHE"
#: Where the answers are kept, if set.
CACHE_DIR_ENV = "NOCODO_AGENTS_CACHE_DIR"
#: The format of an entry; an entry of another format is never read.
FORMAT = 1
#: Entry files are named ``<PREFIX><hash>.marshal``.
PREFIX = "migrate-noop-"
#: How long before the full run began a stamped file must have last changed (ns): a change within
#: the same tick of a coarse file-system clock would not move its times.
SETTLED_NS = 2_000_000_000


def _off(value: str | None) -> bool:
    return not value or value.strip().lower() in ("0", "false", "no", "off")


def cache_directory() -> str | None:
    """Where the answers are kept, or ``None`` where they are not (turned off, or no user id to check owners by)."""
    environ = os.environ
    if not _off(environ.get(NO_CACHE_ENV)) or not hasattr(os, "getuid"):
        return None
    given = environ.get(CACHE_DIR_ENV)
    if given:
        return os.path.abspath(given)
    base = environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        home = os.path.expanduser("~")
        if home == "~" or not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "nocodo-agents")


def private_directory(path: str) -> bool:
    """Whether ``path`` is a directory owned by this user that no one else can write into."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    return (status.st_mode & 0o170000) == 0o040000 and status.st_uid == os.getuid() and not status.st_mode & 0o022


#: Where :func:`cache_key` holds ``sys.path``, the executable, the working directory and the command line.
SYS_PATH, EXECUTABLE, CWD, ARGV = 6, 2, 7, 8


def cache_key(argv: list[str]) -> tuple[Any, ...]:
    """Everything outside the files and the database that the answer of ``argv`` depends on (see the module's docstring)."""
    # the whole environment: a migration or a hook may read any variable (and HOME says where ``~`` is)
    variables = tuple(sorted(os.environ.items()))
    return (
        FORMAT,
        __version__,
        sys.executable,
        sys.version,
        sys.prefix,
        tuple(sys.flags),
        tuple(sys.path),
        os.getcwd(),
        tuple(argv),
        variables,
        tuple(sys.warnoptions),  # -W: a warning printed, or not
        tuple(sorted((str(name), str(value)) for name, value in sys._xoptions.items())),  # -X
    )


def entry_path(directory: str, key: tuple[Any, ...]) -> str:
    """The file holding the answer for ``key``: named by a hash (FNV-1a, 32-bit) of its command line and working directory."""
    value = 0x811C9DC5
    for byte in repr((key[EXECUTABLE], key[CWD], key[ARGV])).encode("utf-8", "surrogatepass"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return os.path.join(directory, f"{PREFIX}{value:08x}.marshal")


def stamp(path: str) -> tuple[int, int, int, int, int] | None:
    """``path``'s modification and change times (ns), size, inode and device; ``None`` if it does not exist."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino, status.st_dev)


#: The largest entry read (bytes); a larger file is no entry.
MAX_ENTRY_BYTES = 64 * 1024 * 1024


def _read_entry(path: str) -> Any:
    """The entry in ``path`` if it is a regular file of this user's, else ``None``.

    Opened without waiting (a named pipe would wait for a writer) and without
    following a symbolic link (an entry is written by a rename, never a link).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return None
    try:
        with open(descriptor, "rb") as file:
            status = os.fstat(file.fileno())
            if (status.st_mode & 0o170000) != 0o100000 or status.st_uid != os.getuid() or status.st_size > MAX_ENTRY_BYTES:
                return None
            return marshal.loads(file.read(MAX_ENTRY_BYTES + 1))
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _uri(path: str) -> str:
    """A ``file:`` URI opening the existing file ``path`` for reading and writing (never creating it)."""
    quoted = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{quoted}?mode=rw"


def history_unchanged(database: str, sql: str, rows: list[Any]) -> bool:
    """Whether ``sql`` (the full run's history read) gives ``rows`` again on ``database``; any error: ``False``.

    One statement, with text as bytes, as the full run read it. The file is
    opened without being created, and without waiting for a writer's lock
    (the full path waits, under ``--lock-timeout``).
    """
    import sqlite3

    try:
        connection = sqlite3.connect(_uri(database), uri=True, timeout=0, isolation_level=None)
    except Exception:
        return False
    try:
        connection.text_factory = bytes
        return connection.execute(sql).fetchall() == rows
    except Exception:
        return False
    finally:
        connection.close()


def _settled(stamps: Any, started: int) -> bool:
    """Whether every stamp in ``stamps`` last changed :data:`SETTLED_NS` before ``started``, and each is as it was."""
    limit = started - SETTLED_NS
    for path, recorded in stamps:
        if recorded is not None and (recorded[0] >= limit or recorded[1] >= limit):
            return False
        if stamp(path) != recorded:
            return False
    return True


def replay(argv: list[str]) -> int | None:
    """Answer ``argv`` from its remembered entry if nothing it depended on changed: print its output, return 0.

    ``None``: no such answer (any doubt); the command then runs its full path.
    Only a ``migrate`` is ever remembered (:mod:`.noop_record`).
    """
    if "migrate" not in argv:
        return None
    try:
        directory = cache_directory()
        if directory is None:
            return None
        if not private_directory(directory):
            return None  # checked first: nothing in a directory others can write into is even opened
        key = cache_key(argv)
        entry = _read_entry(entry_path(directory, key))
        if type(entry) is not dict or entry.get("key") != key:
            return None
        database, identity, sql, rows = entry["database"], entry["identity"], entry["sql"], entry["rows"]
        text, started, stamps = entry["stdout"], entry["started"], entry["stamps"]
        if type(text) is not str or type(started) is not int or type(database) is not str or type(sql) is not str:
            return None
        current = stamp(database)
        if current is None or current[3:] != identity or not _settled(stamps, started):
            return None
        if not history_unchanged(database, sql, rows):
            return None
        stdout = sys.stdout
        text.encode(stdout.encoding or "utf-8", stdout.errors or "strict")  # writable as it stands, or the full path answers
    except Exception:  # a malformed entry of any kind: the full path answers
        return None
    if text:
        stdout.write(text)
        stdout.flush()
    return 0
