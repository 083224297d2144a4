"""Database URLs: parsing, redacting passwords, and opening connections.

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
``sqlite:///:memory:`` (also ``sqlite://``), a SQLite ``file:`` URI or a
bare file path open SQLite; SQLite URI parameters such as ``?mode=ro`` are
passed to SQLite in every form (see :mod:`nocodo_agents.sqlite_location`).
``postgresql://user:pw@host:port/db`` opens psycopg 3 (extra ``postgresql``),
``mysql://user:pw@host:port/db`` (also ``mariadb://``) opens PyMySQL (extra
``mysql``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from .errors import DatabaseAccessError, DatabaseUrlError
from .sqlite_location import MEMORY, SqliteLocation, parse_sqlite_location

_SERVER_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


_SECRET_PARAMETER = re.compile(r"(?i)(\b(?:password|passwd|pwd|pass|sslpassword)=)[^&;#\s]*")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print or log.

    Everything between ``://`` and the last ``@`` is taken as the user
    information (so a password holding ``/``, ``?``, ``#`` or ``@`` is hidden
    whole), and ``password=`` style query parameters are masked too.
    """
    if "://" not in url:
        return _SECRET_PARAMETER.sub(r"\1***", url)
    scheme, rest = url.split("://", 1)
    userinfo, at, host_and_path = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host_and_path}"
    return scheme + "://" + _SECRET_PARAMETER.sub(r"\1***", rest)


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed database URL; ``str()`` never shows the password."""

    url: str
    dialect: str
    path: str = ""
    query: str = ""
    #: SQLite only: the parsed location (path and URI parameters).
    location: Optional[SqliteLocation] = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"DatabaseUrl({redact(self.url)!r}, dialect={self.dialect!r})"

    def connect(self, *, create: bool, empty_if_missing: bool = False) -> Any:
        """Open a DB-API connection.

        ``create=False`` refuses a SQLite file that does not exist, or with
        ``empty_if_missing=True`` stands in an empty in-memory database for it
        (a dry run of a database not created yet, creating nothing).
        """
        if self.dialect == "postgresql":
            return self._connect_postgresql()
        if self.dialect == "mysql":
            return self._connect_mysql()
        location = self.location if self.location is not None else SqliteLocation(self.path)
        shown = str(self) if self.path in self.url else f"{self} (file {self.path})"
        return location.connect(shown, create=create, empty_if_missing=empty_if_missing)

    def _connect_postgresql(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise DatabaseUrlError(str(self), "PostgreSQL needs psycopg: pip install 'nocodo-agents[postgresql]'") from None
        parts = urlsplit(self.url)
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))
        try:
            return psycopg.connect(conninfo, connect_timeout=10)
        except psycopg.Error as error:
            raise DatabaseAccessError(str(self), f"cannot connect: {redact(str(error)).strip()}") from error

    def _connect_mysql(self) -> Any:
        try:
            import pymysql
        except ImportError:
            raise DatabaseUrlError(str(self), "MySQL and MariaDB need PyMySQL: pip install 'nocodo-agents[mysql]'") from None
        parts = urlsplit(self.url)
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise DatabaseUrlError(str(self), "name the database: mysql://user:password@host:port/DATABASE")
        options: Dict[str, Any] = {"connect_timeout": 10}
        options.update(mysql_options(self.url))
        try:
            return pymysql.connect(
                host=parts.hostname or "localhost",
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                database=database,
                charset="utf8mb4",
                **options,
            )
        except pymysql.MySQLError as error:
            raise DatabaseAccessError(str(self), f"cannot connect: {redact(str(error))}") from error


#: The query parameters a mysql:// URL takes, passed to PyMySQL, and how each value is read.
_MYSQL_PARAMETERS: Dict[str, Callable[[str], Any]] = {
    "unix_socket": str,
    "ssl_ca": str,
    "ssl_cert": str,
    "ssl_key": str,
    "ssl_verify_cert": lambda value: _flag(value),
    "ssl_verify_identity": lambda value: _flag(value),
    "ssl_disabled": lambda value: _flag(value),
    "connect_timeout": lambda value: _seconds(value),
    "read_timeout": lambda value: _seconds(value),
    "write_timeout": lambda value: _seconds(value),
}


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _seconds(value: str) -> int:
    number = int(value)
    if not 0 < number <= 31536000:
        raise ValueError("expected a whole number of seconds, 1 or more")
    return number


def mysql_options(url: str) -> Dict[str, Any]:
    """The PyMySQL options of a mysql:// URL's query; raise :class:`DatabaseUrlError` for any other parameter.

    PyMySQL takes no URL, so a parameter not listed here would otherwise be
    dropped without a word (``?sslmode=require`` connecting without TLS).
    """
    query = urlsplit(url).query
    options: Dict[str, Any] = {}
    if not query:
        return options
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise DatabaseUrlError(redact(url), "its query is not name=value pairs joined by '&'") from None
    for name, value in pairs:
        read = _MYSQL_PARAMETERS.get(name)
        if read is None:
            known = ", ".join(sorted(_MYSQL_PARAMETERS))
            raise DatabaseUrlError(redact(url), f"unknown parameter {name!r} for MySQL/MariaDB (known: {known})")
        if name in options:
            raise DatabaseUrlError(redact(url), f"the parameter {name!r} is given twice")
        try:
            options[name] = read(value)
        except ValueError as error:
            raise DatabaseUrlError(redact(url), f"{name}={value!r}: {error}") from None
    return options


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse ``url``; raise :class:`DatabaseUrlError` (its message redacted) if it is unusable."""
    if not url.strip():
        raise DatabaseUrlError(repr(url), "it is empty")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower().split("+", 1)[0]
    if not separator or scheme == "file":
        return _sqlite_url(url, url)  # a file path or a SQLite file: URI
    if scheme == "sqlite":
        if not rest:
            return _sqlite_url(url, MEMORY)  # SQLAlchemy's spelling of an in-memory database
        if not rest.startswith("/"):
            raise DatabaseUrlError(
                redact(url), "write sqlite:///relative/path.db or sqlite:////absolute/path.db (three or four slashes)"
            )
        return _sqlite_url(url, rest[1:])
    if scheme in _SERVER_SCHEMES:
        ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
        if ends and rest.rfind("@") > min(ends):
            raise DatabaseUrlError(
                redact(url),
                "its user information holds an unencoded '/', '?' or '#': percent-encode them in the "
                "password (%2F, %3F, %23)",
            )
        try:
            urlsplit(url).port  # validates the port
        except ValueError as error:
            raise DatabaseUrlError(redact(url), str(error)) from error
        if _SERVER_SCHEMES[scheme] == "mysql":
            mysql_options(url)  # refuse a parameter PyMySQL would never see, before connecting
        return DatabaseUrl(url, _SERVER_SCHEMES[scheme])
    raise DatabaseUrlError(redact(url), f"unknown scheme {scheme!r}: use sqlite://, postgresql:// or mysql://")


def _sqlite_url(url: str, location_text: str) -> DatabaseUrl:
    location = parse_sqlite_location(location_text, redact(url))
    return DatabaseUrl(url, "sqlite", location.path, location_text.partition("?")[2], location)
