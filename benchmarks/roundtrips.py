"""Counting round trips at the connection, below any runner: what each migration costs in messages.

PostgreSQL: libpq's own trace of the protocol (``PQtrace``); every simple
``Query`` and every ``Sync`` of the extended protocol is one round trip.
MariaDB: a PyMySQL connection counting each command it sends (every
``COM_QUERY``, ``BEGIN`` and ``COMMIT`` included).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def traced_postgres(connection: Any, counter: list[int]) -> Iterator[None]:
    """Add to ``counter[0]`` the round trips ``connection`` (psycopg 3) makes inside the block."""
    from psycopg import pq

    fd, path = tempfile.mkstemp(prefix="nocodo-bench-pqtrace-")
    try:
        connection.pgconn.trace(fd)
        connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield
        finally:
            connection.pgconn.untrace()
        with open(path, encoding="utf-8", errors="replace") as trace:
            counter[0] += sum(1 for line in trace if line.startswith("F\t") and line.split("\t")[2].strip() in ("Query", "Sync"))
    finally:
        os.close(fd)
        os.remove(path)


def counting_mysql_class() -> Any:
    """A PyMySQL ``Connection`` subclass whose ``commands`` counts the commands sent to the server."""
    import pymysql.connections

    class CountingConnection(pymysql.connections.Connection):  # type: ignore[misc]
        commands = 0

        def _execute_command(self, command: int, sql: Any) -> None:
            self.commands += 1
            super()._execute_command(command, sql)

    return CountingConnection
