"""Where a SQLite database is, and opening it without surprises.

A SQLite location is a file path, ``:memory:``, or a SQLite URI
(``file:path?mode=ro``), optionally followed by ``?`` and SQLite URI
parameters (``agents.db?mode=ro&cache=shared``). The path is taken
literally (``%``, ``#`` and spaces are part of the file name) except in a
``file:`` URI, which SQLite percent-decodes. A leading ``~`` is the home
directory. Parameters SQLite does not know, values it does not accept, and
names holding a NUL byte or starting or ending with whitespace are refused
(:class:`~nocodo_agents.DatabaseUrlError`) rather than creating a file
nobody meant.

Opening checks before SQLite touches anything: a directory, something
that is not a regular file, or a file whose first bytes are not SQLite's
header is refused (:class:`~nocodo_agents.DatabaseAccessError`, naming the
path and what to do), so no command ever creates, migrates or alters it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote

from .errors import DatabaseAccessError, DatabaseUrlError

if TYPE_CHECKING:  # pragma: no cover
    from .urls import DatabaseUrl

#: The first 16 bytes of every SQLite database file (https://sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"

_BOOLEAN = frozenset({"0", "1", "true", "false", "yes", "no", "on", "off"})
#: SQLite's URI parameters (https://sqlite.org/uri.html) and the values each takes (``None``: any).
#: ``uri`` is SQLAlchemy's switch for the same URIs, accepted and ignored.
_PARAMETERS: dict[str, frozenset[str] | None] = {
    "mode": frozenset({"ro", "rw", "rwc", "memory"}),
    "cache": frozenset({"shared", "private"}),
    "immutable": _BOOLEAN,
    "nolock": _BOOLEAN,
    "psow": _BOOLEAN,
    "vfs": None,
    "modeof": None,
    "uri": _BOOLEAN,
}

MEMORY = ":memory:"


class MissingFileStandIn(sqlite3.Connection):
    """The empty in-memory database that stands in for a SQLite file that does not exist yet.

    ``connect(..., empty_if_missing=True)`` returns one, so a command that
    only reads (``status``, a dry run) can say what would happen without
    creating the file, and can tell its user that the file does not exist.
    """


@dataclass(frozen=True)
class SqliteLocation:
    """A parsed SQLite location: ``path`` (or ``:memory:``) and its URI ``parameters``, in order."""

    path: str
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def mode(self) -> str | None:
        """The ``mode=`` parameter, if given."""
        return dict(self.parameters).get("mode")

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY or self.mode == "memory"

    def _uri(self, mode: str | None = None) -> str:
        parameters = [(k, v) for k, v in self.parameters if k != "uri"]
        if mode is not None and self.mode is None:
            parameters.insert(0, ("mode", mode))
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in parameters)
        path = MEMORY if self.path == MEMORY else quote(self.path)
        return f"file:{path}" + (f"?{query}" if query else "")

    def connect(self, shown: str, *, create: bool, empty_if_missing: bool = False) -> sqlite3.Connection:
        """Open the database; ``shown`` names it in errors.

        ``create=False``, or ``mode=ro``/``mode=rw``, refuses a file that does
        not exist (or with ``empty_if_missing=True`` stands in an empty
        in-memory database for it, creating nothing). An existing path must
        be a SQLite database file; a missing one's directories are created
        only when the file will be.
        """
        if self.in_memory:
            return _open(self._uri(), shown)
        path = Path(self.path)
        creating = create and self.mode in (None, "rwc")
        if _check_existing(path, shown):
            return _open(self._uri("rw"), shown)
        if not creating:
            if empty_if_missing:
                return sqlite3.connect(MEMORY, factory=MissingFileStandIn)
            if self.mode in ("ro", "rw"):
                raise DatabaseAccessError(
                    database=shown,
                    problem=f"the file does not exist (mode={self.mode} never creates one). Check the path.",
                )
            raise DatabaseAccessError(
                database=shown,
                problem="the file does not exist. Check the path, or run the migrations to create it (the command line's migrate).",
                missing=True,
            )
        _make_parent(path, shown)
        return _open(self._uri("rwc"), shown)


def parse_sqlite_location(text: str, shown: str) -> SqliteLocation:
    """Parse a SQLite location (see the module docstring); ``shown`` names it in errors."""
    if "\x00" in text:
        raise DatabaseUrlError(url=shown, problem="it holds a NUL character")
    if text.startswith("file:"):
        text = text.partition("#")[0]  # a URI's fragment, which SQLite ignores
    location, question, query = text.partition("?")
    if location.startswith("file:"):
        location = _file_uri_path(location[len("file:"):], shown)
    if not location:
        raise DatabaseUrlError(url=shown, problem="no file path is given" + (" before '?'" if question else ""))
    if location != location.strip():
        raise DatabaseUrlError(
            url=shown, problem=f"the file path {location!r} begins or ends with whitespace: remove it (or check the quoting)"
        )
    if location.startswith("~"):
        location = os.path.expanduser(location)
    return SqliteLocation(location, _parameters(query, shown) if question else ())


def _file_uri_path(rest: str, shown: str) -> str:
    """The file path of a ``file:`` URI's remainder (fragment already dropped): authority checked, percent-decoded."""
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if authority not in ("", "localhost"):
            raise DatabaseUrlError(url=shown, problem=f"a file: URI names no host other than localhost, not {authority!r}")
        rest = slash + path
    return unquote(rest)


def _parameters(query: str, shown: str) -> tuple[tuple[str, str], ...]:
    if not query:
        raise DatabaseUrlError(url=shown, problem="nothing follows '?': remove it, or add parameters such as ?mode=ro")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise DatabaseUrlError(url=shown, problem=f"its parameters {query!r} are not name=value pairs joined by '&'") from None
    seen = set()
    for name, value in pairs:
        if name not in _PARAMETERS:
            known = ", ".join(sorted(_PARAMETERS))
            raise DatabaseUrlError(
                url=shown, problem=f"unknown SQLite URI parameter {name!r} (known: {known}); SQLite would ignore it silently"
            )
        allowed = _PARAMETERS[name]
        if allowed is not None and value.lower() not in allowed:
            raise DatabaseUrlError(url=shown, problem=f"{name}={value!r} is not one of {', '.join(sorted(allowed))}")
        if name in seen:
            raise DatabaseUrlError(url=shown, problem=f"the parameter {name!r} is given twice")
        seen.add(name)
    return tuple((name, value.lower() if _PARAMETERS[name] is not None else value) for name, value in pairs)


def _check_existing(path: Path, shown: str) -> bool:
    """True if ``path`` exists and is a SQLite database file (or empty); raise if it exists and is not."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    except NotADirectoryError as error:
        raise DatabaseAccessError(
            database=shown,
            problem="part of its path is a file, not a directory: check the path",
        ) from error
    except OSError as error:
        raise DatabaseAccessError(database=shown, problem=f"cannot look at it: {error.strerror or error}") from error
    if stat.S_ISDIR(mode):
        raise DatabaseAccessError(
            database=shown,
            problem=f"it is a directory, not a database file. Name a file, for example {path / 'nocodo-agents.db'}",
        )
    if not stat.S_ISREG(mode):
        raise DatabaseAccessError(
            database=shown,
            problem="it is not a regular file (a device, pipe or socket): name a database file",
        )
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise DatabaseAccessError(database=shown, problem=f"cannot read it: {error.strerror or error}") from error
    if header and header != SQLITE_HEADER:
        raise DatabaseAccessError(
            database=shown,
            problem="it is not a SQLite database (the file does not start with SQLite's header). Nothing was "
            "changed. Check the path, or move that file away",
        )
    return True


def _make_parent(path: Path, shown: str) -> None:
    parent = path.parent
    if parent.is_dir():
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = "part of that path is a file" if isinstance(error, (FileExistsError, NotADirectoryError)) else error.strerror or str(error)
        raise DatabaseAccessError(database=shown, problem=f"cannot create its directory {parent}: {problem}") from error


def _open(uri: str, shown: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as error:
        raise DatabaseAccessError(database=shown, problem=f"SQLite cannot open it: {error}") from error


def parse_sqlite_url(url: str, scheme: str, rest: str) -> DatabaseUrl:
    """A ``sqlite://`` URL, a ``file:`` URI or a bare path (``scheme`` ``""``) as a checked :class:`DatabaseUrl`."""
    from .urls import DatabaseUrl, redact

    if scheme in ("", "file"):
        text = url  # a file path or a SQLite file: URI
    elif not rest:
        text = MEMORY  # SQLAlchemy's spelling of an in-memory database
    elif not rest.startswith("/"):
        raise DatabaseUrlError(
            url=redact(url), problem="write sqlite:///relative/path.db or sqlite:////absolute/path.db (three or four slashes)"
        )
    else:
        text = rest[1:]
    location = parse_sqlite_location(text, redact(url))
    return DatabaseUrl(url, "sqlite", location.path, text.partition("?")[2], location)


def open_sqlite_url(database_url: DatabaseUrl, *, create: bool, empty_if_missing: bool) -> sqlite3.Connection:
    """Open the SQLite database ``database_url`` names (see :meth:`SqliteLocation.connect`)."""
    location = database_url.location if database_url.location is not None else SqliteLocation(database_url.path)
    shown = str(database_url) if database_url.path in database_url.url else f"{database_url} (file {database_url.path})"
    return location.connect(shown, create=create, empty_if_missing=empty_if_missing)
