"""What a connection is, for a type checker: :data:`Connection`, the ``conn`` every public operation takes.

Every function that works on a database (:func:`~nocodo_agents.run_agent_migrations`,
:func:`~nocodo_agents.status.migration_status`, the operations of :mod:`nocodo_agents.lifecycle`,
the checks of :mod:`nocodo_agents.testing`...) takes an open connection of a supported driver:
``sqlite3.Connection``, ``psycopg.Connection`` (psycopg 3) or PyMySQL's ``Connection``, or a
SQLAlchemy ``Engine`` or ``Connection`` using one of them. :data:`Connection` says so to a type
checker, so ``run_agent_migrations(42)`` is an error before it runs::

    from nocodo_agents import Connection

    def migrate(conn: Connection) -> None:
        run_agent_migrations(conn, agents=["my_agent"])

It is written as protocols of what the library uses of each kind of object, not as a union of
the drivers' classes, and it imports no driver: a project that installs one driver (psycopg,
say) has no ``pymysql`` for its type checker to read, and a union naming ``pymysql``'s class
would turn into ``Any`` there and accept everything. The protocols need no driver installed.
Which driver a connection belongs to is decided at run time from its class; another object
that looks like a connection (a psycopg 2 connection) passes the type check and is refused
then with :class:`~nocodo_agents.ConnectionStateError`.
"""

from __future__ import annotations

from typing import Any, Protocol, Union

__all__ = ["Connection", "DBAPIConnection", "SQLAlchemyConnection", "SQLAlchemyEngine"]


class DBAPIConnection(Protocol):
    """An open DB-API (PEP 249) connection: ``sqlite3.Connection``, ``psycopg.Connection`` or ``pymysql.connections.Connection``."""

    def cursor(self) -> Any: ...

    def commit(self) -> object: ...

    def rollback(self) -> object: ...

    def close(self) -> object: ...


class SQLAlchemyEngine(Protocol):
    """A SQLAlchemy ``Engine``: one of its pooled connections is borrowed for the call and given back."""

    def raw_connection(self) -> Any: ...


class SQLAlchemyConnection(Protocol):
    """A SQLAlchemy ``Connection``: the DB-API connection it holds is used (``conn.connection.dbapi_connection``)."""

    @property
    def connection(self) -> Any: ...

    def exec_driver_sql(self, statement: str) -> Any: ...


Connection = Union[DBAPIConnection, SQLAlchemyEngine, SQLAlchemyConnection]
"""What ``conn`` may be: an open ``sqlite3``, psycopg 3 or PyMySQL connection, or a SQLAlchemy ``Engine``/``Connection`` using one.

Protocols, not the drivers' classes: type checking needs no driver installed, and never accepts
everything when one is missing (see :mod:`nocodo_agents.connection`).
"""
