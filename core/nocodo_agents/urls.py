"""Database URLs: parsing, redacting passwords, and opening connections.

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
``sqlite:///:memory:`` or a bare file path open SQLite (query parameters
such as ``?mode=ro`` are passed to SQLite). ``postgresql://user:pw@host:port/db``
opens psycopg 3 (extra ``postgresql``), ``mysql://user:pw@host:port/db``
(also ``mariadb://``) opens PyMySQL (extra ``mysql``).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .errors import DatabaseAccessError, DatabaseUrlError

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
        if self.path == ":memory:":
            return sqlite3.connect(":memory:")
        path = Path(self.path)
        if not create and not path.exists():
            if empty_if_missing:
                return sqlite3.connect(":memory:")
            raise DatabaseAccessError(
                self.path, "the file does not exist. Check the path, or run `nocodo-agents migrate` to create it."
            )
        if create and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        mode = "rwc" if create else "rw"
        query = self.query if "mode=" in self.query else "&".join(q for q in (f"mode={mode}", self.query) if q)
        try:
            return sqlite3.connect(f"file:{quote(str(path))}?{query}", uri=True)
        except sqlite3.Error as error:
            raise DatabaseAccessError(self.path, f"SQLite cannot open it: {error}") from error


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
        try:
            return pymysql.connect(
                host=parts.hostname or "localhost",
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                database=database,
                charset="utf8mb4",
                connect_timeout=10,
            )
        except pymysql.MySQLError as error:
            raise DatabaseAccessError(str(self), f"cannot connect: {redact(str(error))}") from error


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse ``url``; raise :class:`DatabaseUrlError` (its message redacted) if it is unusable."""
    if not url:
        raise DatabaseUrlError("''", "it is empty")
    if "://" not in url:
        return DatabaseUrl(url, "sqlite", url)
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower().split("+", 1)[0]
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise DatabaseUrlError(
                redact(url), "write sqlite:///relative/path.db or sqlite:////absolute/path.db (three or four slashes)"
            )
        location, _, query = rest[1:].partition("?")
        if not location:
            raise DatabaseUrlError(redact(url), "no file path after sqlite:///")
        return DatabaseUrl(url, "sqlite", location, query)
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
        return DatabaseUrl(url, _SERVER_SCHEMES[scheme])
    raise DatabaseUrlError(redact(url), f"unknown scheme {scheme!r}: use sqlite://, postgresql:// or mysql://")
