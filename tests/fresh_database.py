"""A fresh database for one test (a SQLite file, or a database on the private PostgreSQL or MariaDB server), and reading it back.

For fixtures parametrised by dialect (``"sqlite"``, ``"postgresql"``, and
``"mysql"`` or ``"mariadb"`` for MariaDB), each in one of the shapes tests use:
:func:`connect_to_fresh_database` (SQLite or PostgreSQL: a function opening a
new connection to the one database at each call, for tests with several
connections), :func:`open_fresh_database` (``(dialect, connection)``, closed
after the test) and :func:`fresh_database_url` (the URL the console script
takes).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable


def connect_to_fresh_database(request: Any, tmp_path: Path, name: str) -> Callable[[], Any]:
    """For ``request.param`` ``"sqlite"`` (file ``tmp_path/name.sqlite``) or ``"postgresql"`` (a new database named after ``name``):
    a function opening a new connection to that one database each time it is called."""
    if request.param == "sqlite":
        path = tmp_path / f"{name}.sqlite"
        return lambda: sqlite3.connect(path)
    import psycopg

    server = request.getfixturevalue("postgres_server")
    database = f"{name}_{uuid.uuid4().hex[:12]}"
    server.create_database(database)
    return lambda: psycopg.connect(server.dsn(database))


def open_fresh_database(request: Any, tmp_path: Path, name: str) -> Iterator[tuple[str, Any]]:
    """``(dialect, a connection to a fresh database)``, closed after the test unless the test closed it: use it as
    ``yield from open_fresh_database(request, tmp_path, name)`` in the fixture. SQLite: the file ``tmp_path/name.sqlite``;
    PostgreSQL: a new database named after ``name``; MariaDB: the ``mariadb_database`` fixture's (dropped after the test)."""
    if request.param == "sqlite":
        dialect, connection = "sqlite", sqlite3.connect(tmp_path / f"{name}.sqlite")
    elif request.param == "postgresql":
        import psycopg

        server = request.getfixturevalue("postgres_server")
        database = f"{name}_{uuid.uuid4().hex[:12]}"
        server.create_database(database)
        dialect, connection = "postgresql", psycopg.connect(server.dsn(database))
    else:
        server = request.getfixturevalue("mariadb_server")
        dialect, connection = "mysql", server.connect(request.getfixturevalue("mariadb_database"))
    yield dialect, connection
    if getattr(connection, "open", True):  # PyMySQL's close() raises once the test closed it itself
        connection.close()


def fresh_database_url(request: Any, tmp_path: Path, name: str, sqlite_file: str = "cli.sqlite") -> str:
    """The URL of a fresh database for the console script: ``tmp_path/sqlite_file`` on SQLite, else a new database named after ``name``."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / sqlite_file}"
    server = request.getfixturevalue("postgres_server" if request.param == "postgresql" else "mariadb_server")
    database = f"{name}_{uuid.uuid4().hex[:12]}"
    server.create_database(database)
    return server.url(database)


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` as tuples; the read transaction is committed, so ``conn`` holds no snapshot or lock after it."""
    cursor = conn.cursor()
    cursor.execute(sql)
    rows = [tuple(row) for row in cursor.fetchall()]
    conn.commit()
    return rows


def versions(conn: Any) -> list[int]:
    """The versions the history holds, in order."""
    return [int(row[0]) for row in query(conn, "SELECT version FROM refinery_schema_history ORDER BY version")]
