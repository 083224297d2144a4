"""What a database dialect offers the runner: locking, atomic work, history I/O.

The runner never branches on a dialect's name; everything that differs
between databases lives behind this interface, one module per database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, ClassVar, FrozenSet, Iterator, List

from ..history import HistoryRow


class Dialect(ABC):
    """One database connection seen through what migrations need.

    ``statements`` counts every statement sent to the server, so tests can
    check how much work a run does without timing it.
    """

    #: The dialect name migrations receive: ``"sqlite"``, ``"postgresql"``, ``"mysql"``.
    name: ClassVar[str]

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
    def ensure_history(self) -> None:
        """Create the history table (refinery's layout plus ``agent``) or add ``agent`` to refinery's."""

    @abstractmethod
    def read_history(self) -> List[HistoryRow]:
        """Every history row, in version order."""

    @abstractmethod
    def insert_history(self, row: HistoryRow) -> None:
        """Record one applied migration."""

    @abstractmethod
    def split_statements(self, sql: str) -> List[str]:
        """Split a migration's SQL text into statements, in order."""

    @abstractmethod
    def execute(self, statement: str) -> None:
        """Run one statement of a migration."""

    @abstractmethod
    def schema_objects(self) -> FrozenSet[str]:
        """The live schema as ``"table t"``, ``"index i"``, ``"column t.c"``... (history table excluded)."""
