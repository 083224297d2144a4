"""What a database dialect offers the runner: locking, atomic work, history I/O.

The runner never branches on a dialect's name; everything that differs
between databases lives behind this interface, one module per database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, FrozenSet, Iterator, List, Optional, Sequence

from ..history import HISTORY_TABLE, HistoryRow

if TYPE_CHECKING:  # pragma: no cover
    from ..drift import DriftReport
    from ..planning import PlannedMigration


@dataclass(frozen=True)
class UnfinishedMigration:
    """A journal entry: a migration that stopped part-way (statements before ``failed_index`` ran)."""

    version: int
    name: str
    agent: str
    statements: int
    failed_index: int
    error: str


class Dialect(ABC):
    """One database connection seen through what migrations need.

    ``statements`` counts every statement sent to the server, so tests can
    check how much work a run does without timing it.
    """

    #: The dialect name migrations receive: ``"sqlite"``, ``"postgresql"``, ``"mysql"``.
    name: ClassVar[str]

    #: Whether DDL runs inside transactions, so a failed migration leaves nothing behind.
    #: Dialects without it (MySQL) journal each statement instead: see :meth:`journal_start`.
    transactional_ddl: ClassVar[bool] = True

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.statements = 0

    @abstractmethod
    def ensure_idle(self) -> None:
        """Raise :class:`ConnectionStateError` if the caller has a transaction open."""

    @abstractmethod
    @contextmanager
    def session(self, lock_timeout: float) -> Iterator[None]:
        """Prepare the connection for a run (and take any session-wide lock); undo it afterwards."""

    @abstractmethod
    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """One atomic unit of work holding the write lock: committed on exit, rolled back on error."""

    @abstractmethod
    def history_exists(self) -> bool:
        """Whether ``refinery_schema_history`` exists."""

    @abstractmethod
    def history_setup_sql(self) -> List[str]:
        """The statements :meth:`ensure_history` would run now (none when the table is ready)."""

    @abstractmethod
    def ensure_history(self) -> None:
        """Create the history table (refinery's layout plus ``agent``) or add ``agent`` to refinery's."""

    @abstractmethod
    def read_history(self) -> List[HistoryRow]:
        """Every history row, in version order."""

    @abstractmethod
    def insert_history(self, row: HistoryRow) -> None:
        """Record one applied migration."""

    @abstractmethod
    def update_history(self, row: HistoryRow) -> None:
        """Re-record the name, checksum and agent of an applied version (repair)."""

    @abstractmethod
    def delete_history(self, version: int) -> None:
        """Forget one applied version (rollback)."""

    def history_insert_sql(self, row: HistoryRow) -> str:
        """The statement recording ``row``, with its values written out, for showing to people."""
        values = ", ".join(
            "NULL" if value is None else str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
            for value in (row.version, row.name, row.applied_on, row.checksum, row.agent)
        )
        return f"INSERT INTO {HISTORY_TABLE} (version, name, applied_on, checksum, agent) VALUES ({values});"

    def history_delete_sql(self, version: int) -> str:
        """The statement forgetting ``version``, for showing to people."""
        return f"DELETE FROM {HISTORY_TABLE} WHERE version = {int(version)};"

    # -- statement journal, for dialects whose DDL commits implicitly ---------------------------

    def unfinished(self) -> Optional[UnfinishedMigration]:
        """A migration an earlier run stopped part-way through, if the journal holds one."""
        return None

    def journal_start(self, version: int, name: str, agent: str, statements: int) -> None:
        """A migration of ``statements`` statements is about to run."""

    def journal_statement(self, version: int, index: int) -> None:
        """Statement ``index`` (from 0) of ``version`` is about to run."""

    def journal_failed(self, version: int, index: int, error: BaseException) -> None:
        """Statement ``index`` of ``version`` failed: keep the entry so the next run refuses to go on."""

    def journal_done(self, version: int) -> None:
        """``version`` ran completely and is recorded in history: drop its journal entry."""

    def clear_unfinished(self, version: int) -> None:
        """Forget the journal entry of ``version`` (the operator resolved it)."""

    @abstractmethod
    def split_statements(self, sql: str) -> List[str]:
        """Split a migration's SQL text into statements, in order."""

    @abstractmethod
    def execute(self, statement: str) -> None:
        """Run one statement of a migration."""

    @abstractmethod
    def schema_drift(self, applied: Sequence["PlannedMigration"]) -> "DriftReport":
        """Compare the live schema with what ``applied`` (in version order) produce on a scratch database."""

    @abstractmethod
    def schema_objects(self) -> FrozenSet[str]:
        """The live schema as ``"table t"``, ``"index i"``, ``"column t.c"``... (history table excluded)."""
