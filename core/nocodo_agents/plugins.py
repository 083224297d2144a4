"""What agent plugin authors import.

::

    from nocodo_agents.plugins import hookimpl, load_migrations

    @hookimpl
    def nocodo_agents_migrations():
        return load_migrations("my_agent_pkg.migrations")

``Connection`` and ``DBAPIConnection`` (:mod:`nocodo_agents.connection`) type the
connections an agent's own code takes, as its store does in
``examples/third_party_agent``; they are imported on first use.
"""

from .hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl, hookspec
from .loading import load_migrations
from .migration import Migration, dialect_sql

TYPE_CHECKING = False  # not typing's: this module is imported with every agent, and needs typing only for a checker
if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection, DBAPIConnection

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "Connection",
    "DBAPIConnection",
    "Migration",
    "hookimpl",
    "dialect_sql",
    "hookspec",
    "load_migrations",
]


def __getattr__(name: str) -> object:
    if name in ("Connection", "DBAPIConnection"):
        from . import connection

        value: object = getattr(connection, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
