"""Foreign keys on SQLite: enforcement is off while migrations run, so what it would have refused is checked after.

With ``PRAGMA foreign_keys`` on, the ``DROP`` of SQLite's documented table
rebuild cascades to every child row; so migrations run with it off (see
:mod:`.sqlite_writes`), and after a migration's statements the rows it left
without their parent are found with ``PRAGMA foreign_key_check``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from ..errors import ForeignKeyViolationError, migration_facts
from .history_table import as_text
from .sqlite_errors import is_busy, is_read_only

if TYPE_CHECKING:  # pragma: no cover
    from ..planning import PlannedMigration

logger = logging.getLogger("nocodo_agents")

#: At most this many violating rows are named in an error.
_VIOLATIONS_SHOWN = 20

Violation = tuple[str, Optional[int], str]


class ForeignKeyCheck:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that checks foreign keys around a migration."""

    name: str
    _writes_prepared: bool
    #: Foreign-key violations before the current migration's first statement that could orphan a
    #: row (``None``: no such statement yet), or the error SQLite gave when asked for them.
    _violations_before: list[Violation] | str | None
    #: Whether a statement starts with ``CREATE``, by its text (each statement is looked at once per run).
    _creates: dict[str, bool]

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _prepare_writes(self) -> None: ...

        def location(self) -> str: ...

    def execute(self, statement: str) -> None:
        if not self._writes_prepared:  # a migration outside a transaction, before any write transaction
            self._prepare_writes()
        # a statement starting with CREATE cannot leave a row without its parent (a new table is empty)
        if self._violations_before is None:
            creates = self._creates.get(statement)
            if creates is None:
                from ..schema.transaction_control import first_word  # writes only: the schema layer is not on the no-op path

                creates = self._creates[statement] = first_word(statement, self.name) == "CREATE"
            if not creates:
                self._violations_before = self._foreign_key_violations()
        self._run(statement)

    def _foreign_key_violations(self) -> list[Violation] | str:
        """Every row of main whose foreign key finds no parent; SQLite's message if it cannot check."""
        try:
            rows = self._query("PRAGMA main.foreign_key_check")
        except sqlite3.OperationalError as error:  # "foreign key mismatch": a key SQLite cannot check
            if is_busy(error) or is_read_only(error):
                raise
            return str(error)
        return [(as_text(table), rowid, as_text(parent)) for table, rowid, parent, _ in rows]

    def check_integrity(self, planned: PlannedMigration, phase: str, rolled_back: bool) -> None:
        """Raise :class:`ForeignKeyViolationError` if the statements left rows without their parent.

        Violations that existed before the migration's first statement that
        could orphan a row (written while enforcement was off) are not its
        doing and are left alone; statements that only CREATE are not checked.
        """
        before, self._violations_before = self._violations_before, None
        if before is None:
            return
        after = self._foreign_key_violations()
        if isinstance(after, str):
            if after == before:
                logger.warning("foreign keys of %s cannot be checked (%s); not checked after V%s", self.location(), after, planned.version)
                return
            raise ForeignKeyViolationError(
                **migration_facts(planned),
                violations=[],
                total=0,
                rolled_back=rolled_back,
                phase=phase,
                detail=f"SQLite cannot check its foreign keys any more ({after})",
            )
        new = new_violations([] if isinstance(before, str) else before, after)
        if new:
            raise ForeignKeyViolationError(
                **migration_facts(planned),
                violations=new[:_VIOLATIONS_SHOWN],
                total=len(new),
                rolled_back=rolled_back,
                phase=phase,
            )


def new_violations(before: list[Violation], after: list[Violation]) -> list[Violation]:
    """The violations of ``after`` that ``before`` does not account for.

    Counted per (child table, parent table), because a rebuilt table's rows
    may get new rowids; within a group that grew, rows seen before are
    listed last.
    """
    counted_before = Counter((table, parent) for table, _, parent in before)
    seen_before = set(before)
    grown: dict[tuple[str, str], int] = {}
    for key, count in Counter((table, parent) for table, _, parent in after).items():
        if count > counted_before.get(key, 0):
            grown[key] = count - counted_before.get(key, 0)
    new: list[Violation] = []
    for key, extra in grown.items():
        rows = sorted((v for v in after if (v[0], v[2]) == key), key=lambda v: v in seen_before)
        new.extend(rows[:extra])
    return new
