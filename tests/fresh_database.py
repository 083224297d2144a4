"""One fresh database where DDL is transactional (a SQLite file, or a database on the private PostgreSQL server), and reading it back.

For fixtures parametrised with ``"sqlite"`` and ``"postgresql"`` whose tests
open several connections to the same database (two runners, a runner and an
observer): :func:`connect_to_fresh_database` creates the database and returns
a function opening a new connection to it at each call.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable, List, Tuple


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


def query(conn: Any, sql: str) -> List[Tuple[Any, ...]]:
    """The rows of ``sql`` as tuples; the read transaction is committed, so ``conn`` holds no snapshot or lock after it."""
    cursor = conn.cursor()
    cursor.execute(sql)
    rows = [tuple(row) for row in cursor.fetchall()]
    conn.commit()
    return rows


def versions(conn: Any) -> List[int]:
    """The versions the history holds, in order."""
    return [int(row[0]) for row in query(conn, "SELECT version FROM refinery_schema_history ORDER BY version")]
