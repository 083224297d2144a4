"""Running a command on its full path while catching what a remembered no-op answer needs: its output and its history read.

The command's standard output and error are recorded as they are written
(and written through unchanged), and so are the files it opened and the
directories it listed (an audit hook), and the paths it only looked at
(``os.stat``, ``os.lstat``, ``os.access``, watched while it runs). A ``migrate`` that exits 0, wrote nothing
on standard error, ran without ``-v`` and found nothing to do on a SQLite
file (:func:`~.noop_record.history_read`) is then remembered
(:func:`~.noop_record.record`); anything else is not.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, TextIO

from .noop_answer import cache_directory, cache_key
from .output import Output


class _Recording:
    """A text stream writing through to ``stream`` and keeping what was written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


#: The audit events of a file read, a directory listed or a SQLite file opened, whose path is their first argument.
READ_EVENTS = frozenset(("open", "os.listdir", "os.scandir", "sqlite3.connect"))
#: The audit events of a read no stamp can show (another process, the network): a run raising one is never remembered.
UNSEEN_EVENTS = frozenset(
    ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn",
     "socket.connect", "socket.getaddrinfo", "urllib.Request", "ctypes.dlopen")
)


class _Reads:
    """An audit hook (:func:`sys.addaudithook`) keeping the path of every file opened and directory listed while it is on.

    A migration or a hook may read any file (a data file in a plain
    subdirectory of its package, a file outside every package): what the
    full run read is stamped with the rest.
    """

    def __init__(self) -> None:
        self.paths: dict[str, None] = {}
        self.on = True
        #: Whether the run read what no stamp shows (:data:`UNSEEN_EVENTS`).
        self.unseen = False

    def __call__(self, event: str, args: Any) -> None:
        if not self.on:
            return
        if event in UNSEEN_EVENTS:
            self.unseen = True
            return
        if event not in READ_EVENTS:
            return
        try:
            path = args[0] if args else None
            if path is None:
                path = "."  # os.listdir() and os.scandir() list the working directory
            if isinstance(path, int) or path == ":memory:":
                return  # a file descriptor (opened from a path already seen), or no file
            path = os.fsdecode(os.fspath(path))
            if event == "sqlite3.connect" and path.startswith("file:"):
                path = _uri_path(path)
                if path == ":memory:":
                    return
            self.paths[os.path.abspath(path)] = None
        except Exception:  # an audit hook must never fail the operation it watches
            pass


#: The ``os`` functions that look at a path without opening it (``os.path.exists``, ``isfile``, ``isdir``,
#: ``pathlib.Path.exists`` and ``stat`` call them): they raise no audit event, so they are watched by name.
STAT_FUNCTIONS = ("stat", "lstat", "access")


class _Stats:
    """``os.stat``, ``os.lstat`` and ``os.access`` replaced, while the full run lasts, by functions noting their path in ``reads``.

    A hook that only checks whether a file exists (``os.path.exists(flag)``,
    ``Path(flag).is_file()``) decides which migrations are installed without
    opening anything: the path it looked at is stamped like a file read, so
    that file appearing, changing or going away later is seen. Calls through
    the ``posix`` module itself (the import system's own) are not seen; the
    import system's paths are stamped anyway (``sys.path``, modules, packages).
    """

    def __init__(self, reads: _Reads) -> None:
        self.reads = reads
        self.originals: dict[str, Callable[..., Any]] = {}
        self.pathlib_accessor: Any = None

    def __enter__(self) -> _Stats:
        for name in STAT_FUNCTIONS:
            original = self.originals[name] = getattr(os, name)
            setattr(os, name, self._watching(original))
        import pathlib

        accessor = getattr(pathlib, "_NormalAccessor", None)  # Python < 3.11: pathlib calls os.stat through it
        if accessor is not None and getattr(accessor, "stat", None) is self.originals["stat"]:
            self.pathlib_accessor = accessor
            accessor.stat = staticmethod(os.stat)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self.originals.items():
            setattr(os, name, original)
        if self.pathlib_accessor is not None:
            self.pathlib_accessor.stat = staticmethod(self.originals["stat"])

    def _watching(self, original: Callable[..., Any]) -> Callable[..., Any]:
        reads = self.reads

        def watched(path: Any, *args: Any, **kwargs: Any) -> Any:
            if reads.on and kwargs.get("dir_fd") is None and not _asked_by_nocodo_agents(sys._getframe(1)):
                reads("open", (path,))  # noted exactly as a file opened (descriptors are skipped)
            return original(path, *args, **kwargs)

        watched.__wrapped__ = original  # type: ignore[attr-defined]
        return watched


#: The modules through which a path is looked at on another's behalf (``os.path.exists``, ``Path.is_file``...).
_PATH_MODULES = frozenset(("os", "genericpath", "posixpath", "ntpath", "pathlib"))


def _asked_by_nocodo_agents(frame: Any) -> bool:
    """Whether the first caller outside :data:`_PATH_MODULES` is this package's own code.

    Its own looks (the database's directory, the settings' ``pyproject.toml``
    candidates, migration files, ``sys.path``) are stamped by what they are
    for, or checked by the history read; what a hook or a migration looks at
    is not, and is noted.
    """
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in _PATH_MODULES:
            return bool(module == "nocodo_agents" or module.startswith("nocodo_agents."))
        frame = frame.f_back
    return False


def _uri_path(uri: str) -> str:
    """The file a SQLite ``file:`` URI names (the full run opens the database by one)."""
    from urllib.parse import unquote

    rest = uri[len("file:"):].split("?", 1)[0].split("#", 1)[0]
    if rest.startswith("//"):  # an authority (empty or localhost) before the path
        slash = rest.find("/", 2)
        rest = rest[slash:] if slash >= 0 else ""
    return unquote(rest) or ":memory:"


def run_remembering(argv: list[str], started: int, run: Callable[..., int]) -> int:
    """``run(argv, output, parsed)`` (the full path), remembering its answer if it is a no-op ``migrate`` (``started``: ``time.time_ns()`` at the start)."""
    if "migrate" not in argv or cache_directory() is None:
        return int(run(argv))
    key = cache_key(argv)  # as the command began: what the next command compares
    seen: list[Any] = []

    def parsed(args: Any) -> None:
        if getattr(args, "verbose", 0) == 0:
            args.remember_noop = True
        seen.append(args)

    reads = _Reads()
    sys.addaudithook(reads)  # never removed: turned off once the command is done
    out, err = _Recording(sys.stdout), _Recording(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]  # warnings and logging write through these too
    try:
        with _Stats(reads):
            code = int(run(argv, Output(out=out, err=err), parsed))  # type: ignore[arg-type]
    finally:
        reads.on = False
        sys.stdout, sys.stderr = out.stream, err.stream
    read = getattr(seen[0], "noop_read", None) if seen else None
    if code == 0 and read is not None and not err.written and not reads.unseen:
        from .noop_record import record

        try:
            record(key, started, read, "".join(out.written), tuple(reads.paths))
        except Exception:  # remembering is an optimisation: never a reason to fail a command that succeeded
            pass
    return code


