"""What agent plugin authors import.

::

    from nocodo_agents.plugins import hookimpl, load_migrations

    @hookimpl
    def nocodo_agents_migrations():
        return load_migrations("my_agent_pkg.migrations")
"""

from .hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl, hookspec
from .loading import load_migrations
from .migration import Migration, dialect_sql

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "Migration", "hookimpl", "dialect_sql", "hookspec", "load_migrations"]
