"""A fresh, empty database per test: a SQLite file, or a database of its own created on a PostgreSQL or MySQL/MariaDB server.

:func:`fresh_database` is what the pytest plugin's ``nocodo_db_url`` fixture
uses; it works outside pytest too. On a server, the URL given names the server
and a database to connect to while creating the test's database
(``postgresql://user@host:5432/postgres``, ``mysql://root@127.0.0.1:3306/mysql``);
its user needs the right to create and drop databases. The test's database is
named ``nocodo_test_<12 hex digits>`` and dropped when the ``with`` block ends,
however it ends. A connection the test left open does not keep it: PostgreSQL
drops it ``WITH (FORCE)`` (from PostgreSQL 13 on); on MySQL/MariaDB the
connections still using it are ended first (a transaction one of them holds
would keep ``DROP DATABASE`` waiting for ``lock_wait_timeout``, a year by
default), and the drop waits :data:`DROP_LOCK_WAIT` seconds at most for any
other before it fails, naming the database left behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import DatabaseAccessError, MigrationError
from ..urls import DatabaseUrl, hide_secrets, parse_database_url, redact

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import DBAPIConnection

__all__ = ["SQLITE_FILE_NAME", "fresh_database", "server_url_for"]

#: The file a test's SQLite database is, in the directory given to :func:`fresh_database`.
SQLITE_FILE_NAME = "nocodo-test.db"
#: MySQL/MariaDB: the most seconds dropping a test's database waits for a lock another connection holds on it.
DROP_LOCK_WAIT = 30


def server_url_for(url: str, database: str) -> str:
    """``url`` (a ``postgresql://`` or ``mysql://`` URL) naming ``database`` instead of its own; user, host and query kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _quoted(dialect: str, name: str) -> str:
    """``name`` (letters, digits and ``_`` only: made here) quoted as an identifier of ``dialect``."""
    return f'"{name}"' if dialect == "postgresql" else f"`{name}`"


def _execute(parsed: DatabaseUrl, connection: DBAPIConnection, statement: str, what_to_do: str) -> None:
    """Run ``statement``; a driver's error becomes :class:`DatabaseAccessError` saying what to do."""
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
    except MigrationError:
        raise
    except Exception as error:  # the driver's own error class: psycopg.Error, pymysql.MySQLError
        raise DatabaseAccessError(
            database=redact(parsed.url), problem=f"{statement} failed ({hide_secrets(str(error), parsed.url)}): {what_to_do}"
        ) from None


def _admin(parsed: DatabaseUrl) -> Any:
    """A connection to the server of ``parsed`` (psycopg's or PyMySQL's: its own attributes are used)."""
    connection: Any = parsed.connect(create=False)
    if parsed.dialect == "postgresql":
        connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return connection


def _end_mysql_connections(parsed: DatabaseUrl, connection: Any, name: str) -> None:
    """End the connections (those the URL's user may see and end) whose current database is ``name``."""
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()", (name,))
        threads = [int(row[0]) for row in cursor.fetchall()]
    finally:
        cursor.close()
    for thread in threads:
        try:
            _execute(parsed, connection, f"KILL CONNECTION {thread}", "")
        except DatabaseAccessError:
            pass  # ended meanwhile, or another user's: the drop's bounded wait says so if it still holds a lock


def _drop(parsed: DatabaseUrl, name: str) -> None:
    connection = _admin(parsed)
    left = f"the test database {name} is left on the server: drop it by hand"
    try:
        statement = f"DROP DATABASE IF EXISTS {_quoted(parsed.dialect, name)}"
        if parsed.dialect == "postgresql" and connection.info.server_version >= 130000:
            statement += " WITH (FORCE)"  # a connection the test left open would keep it otherwise
        if parsed.dialect == "mysql":
            _end_mysql_connections(parsed, connection, name)
            _execute(parsed, connection, f"SET SESSION lock_wait_timeout = {DROP_LOCK_WAIT}", left)
            left = f"another connection still holds a lock on it (one the test opened as another user?); {left}"
        _execute(parsed, connection, statement, left)
    finally:
        connection.close()


@contextmanager
def fresh_database(url: str | None, directory: os.PathLike[str] | str) -> Iterator[str]:
    """The URL of a new, empty database, removed when the block ends (even on an error).

    ``url`` ``None`` or a SQLite URL: a new SQLite file in ``directory`` (a
    directory of its own per test, as pytest's ``tmp_path``; the URL's own
    path is not used, so that tests never share a file). A PostgreSQL or
    MySQL/MariaDB URL: a database of its own is created on that server and
    the URL naming it is given; it is dropped afterwards. A malformed URL
    raises :class:`~nocodo_agents.DatabaseUrlError`, a server refusing the
    connection the driver's error as the library names it.
    """
    if url is None or parse_database_url(url).dialect == "sqlite":
        yield f"sqlite:///{os.path.join(os.path.abspath(os.fspath(directory)), SQLITE_FILE_NAME)}"
        return
    parsed = parse_database_url(url)
    name = f"nocodo_test_{uuid.uuid4().hex[:12]}"
    connection = _admin(parsed)
    try:
        _execute(
            parsed,
            connection,
            f"CREATE DATABASE {_quoted(parsed.dialect, name)}",
            "the URL's user needs the right to create and drop databases (PostgreSQL: CREATEDB; MySQL/MariaDB: "
            "CREATE and DROP on *.*), or test against SQLite (no --nocodo-db-url)",
        )
    finally:
        connection.close()
    try:
        yield server_url_for(url, name)
    finally:
        _drop(parsed, name)
