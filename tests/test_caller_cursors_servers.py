"""The caller's row factory or cursor class never reaches the runner, on every path (real servers).

psycopg's ``row_factory`` (``dict_row``...) and ``cursor_factory``
(``ClientCursor``, ``RawCursor``, whose placeholders are ``$1``), PyMySQL's
``cursorclass`` (``DictCursor``, ``SSCursor``, ``SSDictCursor``): status, dry
runs, migrate, verify, repair, rollback, adoption, baseline, ``--fake`` and
resolve all read and write with the runner's own tuple cursors, and the
caller's choice is still set afterwards. (The command line opens its own
connections, with the drivers' defaults: there is no caller's cursor class
to meet there.)
"""

from __future__ import annotations

import uuid

import psycopg
import pymysql
import pytest
from caller_paths import exercise_every_path
from psycopg import rows


def _pg_raw(connection: psycopg.Connection):
    def raw(sql: str) -> None:
        with psycopg.Cursor(connection) as cursor:
            cursor.execute(sql)
        connection.commit()

    return raw


@pytest.mark.parametrize(
    "row_factory, cursor_factory",
    [
        (rows.dict_row, None),
        (rows.namedtuple_row, None),
        (None, psycopg.RawCursor),
        (None, psycopg.ClientCursor),
        (rows.dict_row, psycopg.RawCursor),
    ],
    ids=["dict_row", "namedtuple_row", "RawCursor", "ClientCursor", "dict_row+RawCursor"],
)
def test_postgresql_every_path_uses_its_own_cursors(postgres_server, agent_package, row_factory, cursor_factory) -> None:
    name = f"cursors_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    connection = psycopg.connect(postgres_server.dsn(name))
    try:
        if row_factory is not None:
            connection.row_factory = row_factory
        if cursor_factory is not None:
            connection.cursor_factory = cursor_factory
        exercise_every_path(connection, _pg_raw(connection), agent_package, journalled=False)
        assert connection.row_factory is (row_factory or rows.tuple_row)
        assert connection.cursor_factory is (cursor_factory or psycopg.Cursor)
        assert connection.autocommit is False
    finally:
        connection.close()


@pytest.mark.parametrize(
    "cursorclass",
    [pymysql.cursors.DictCursor, pymysql.cursors.SSCursor, pymysql.cursors.SSDictCursor],
    ids=["DictCursor", "SSCursor", "SSDictCursor"],
)
def test_mariadb_every_path_uses_its_own_cursors(mariadb_server, agent_package, cursorclass) -> None:
    name = f"cursors_{uuid.uuid4().hex[:10]}"
    mariadb_server.create_database(name)
    connection = pymysql.connect(
        host=mariadb_server.host, port=mariadb_server.port, user=mariadb_server.user, password="", database=name,
        cursorclass=cursorclass,
    )

    def raw(sql: str) -> None:
        with connection.cursor(pymysql.cursors.Cursor) as cursor:
            cursor.execute(sql)
        connection.commit()

    try:
        exercise_every_path(connection, raw, agent_package, journalled=True)
        assert connection.cursorclass is cursorclass
        assert connection.get_autocommit() is False
    finally:
        connection.close()
