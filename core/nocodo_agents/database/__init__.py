"""The agents' database: a migrated SQLite file and the operations on its core tables.

:class:`Database` opens (or creates) the file, applies the core migrations
and those of the requested agents, and stores sessions, messages and tool
calls, returned as the frozen records :class:`Session`, :class:`Message` and
:class:`ToolCall`. They live in :mod:`.store` and :mod:`.records`, imported
on first use, so ``import nocodo_agents.database.migrations`` stays cheap
(and the records alone do not load the runner).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .records import Message, Session, ToolCall
    from .store import Database

__all__ = ["Database", "Message", "Session", "ToolCall"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        if name == "Database":
            from . import store

            value = store.Database
        else:
            from . import records

            value = getattr(records, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
