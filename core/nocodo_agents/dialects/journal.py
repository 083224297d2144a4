"""The statement journal a dialect keeps when its DDL commits implicitly, and the no-op one the others have.

A dialect whose DDL is transactional (SQLite, PostgreSQL) needs no journal:
a failing migration leaves nothing behind. MySQL's does (see
:mod:`nocodo_agents.dialects.mysql.journal`): each statement is recorded as
it runs, so a migration stopped part-way is known to the next run.
The runner talks to ``dialect.journal`` the same way on every dialect.
"""

from __future__ import annotations

from ..history import UnfinishedMigration

__all__ = ["Journal", "UnfinishedMigration"]


class Journal:
    """No journal: what a dialect with transactional DDL has (every method does nothing, sends nothing)."""

    def unfinished(self) -> UnfinishedMigration | None:
        """A migration an earlier run stopped part-way through, if the journal holds one."""
        return None

    def start(self, version: int, name: str, agent: str, statements: int, direction: str = "migration") -> None:
        """A migration (``direction="migration"``) or its rollback (``"rollback"``) of ``statements`` statements is about to run."""

    def statement(self, version: int, index: int) -> None:
        """Statement ``index`` (from 0) of ``version`` is about to run."""

    def failed(self, version: int, index: int, error: BaseException) -> None:
        """Statement ``index`` of ``version`` failed: keep the entry so the next run refuses to go on."""

    def done(self, version: int) -> None:
        """``version`` ran completely and its history row is written (deleted, for a rollback): drop its entry."""

    def clear(self, version: int) -> None:
        """Forget the entry of ``version`` (the operator resolved it)."""

    def hint(self) -> str:
        """What a failure of the current unit of work leaves in the journal, for messages (``""``: nothing)."""
        return ""
