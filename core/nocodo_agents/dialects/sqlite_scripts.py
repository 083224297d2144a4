"""SQLite: a migration whose statements need no check between them, sent with its transaction in one ``executescript`` call.

The per-statement path (:mod:`nocodo_agents.execution`) sends ``BEGIN
IMMEDIATE``, the guard, each statement, the history row and ``COMMIT`` one
call at a time, and checks after each statement that the transaction is still
open (and, before a statement that may orphan a row, reads the foreign-key
violations). A migration made only of ``CREATE`` statements with no ``;``
inside them (:meth:`ScriptedWrites.script_body`) needs none of those checks
(a ``CREATE`` cannot end a transaction or leave a row without its parent,
and a statement with no ``;`` is one statement whatever a splitter thinks),
so it is sent as one script (:meth:`ScriptedWrites.commit_script`):

``BEGIN IMMEDIATE; <guard>; <statements>; <history row(s)>; COMMIT;``

The guard fails the script unless ``PRAGMA data_version`` still says what it
said when the run last confirmed the history under the lock (nobody else
committed since: :meth:`~nocodo_agents.dialects.Dialect.change_token`). On
any failure nothing of the script remains (the transaction is rolled back
if SQLite left it open) and :meth:`~ScriptedWrites.commit_script` answers
``False``: the caller then runs the same migration through the
per-statement path, which waits for the lock, guards in full, names a failing
statement and raises its named error as always. A script whose ``COMMIT``
did not run (a trailing comment swallowing the end) is rolled back and
declined too.

Python 3.11's ``executescript`` commits a transaction already open before
running the script, so a script is only sent when none is (never the
caller's: the runner refuses a connection inside a transaction).
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence


if TYPE_CHECKING:  # pragma: no cover
    from .history_writes import HistoryValues

logger = logging.getLogger("nocodo_agents")

#: The function the guard statement calls; registered on the connection by the first script of a session.
GUARD_FUNCTION = "nocodo_agents_unchanged"


class ChangedMeanwhile(Exception):
    """Raised inside SQLite by the guard function: another connection committed since the run last looked."""


def _text(value: str) -> str:
    """``value`` as an SQL string literal (SQLite knows no escape but the doubled quote)."""
    return "'" + value.replace("'", "''") + "'"


def _unchanged(current: Any, expected: Any) -> int:
    if current != expected:
        raise ChangedMeanwhile(f"data_version {current}, expected {expected}")
    return 1


class ScriptedWrites:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that sends a migration and its transaction as one script."""

    connection: sqlite3.Connection
    statements: int
    batched_statements: int
    _writes_prepared: bool
    _busy_ms: Optional[int]
    _waits_unset: bool
    #: Whether this session registered :data:`GUARD_FUNCTION` on the connection.
    _guard_ready: bool = False
    #: The statements :meth:`_run` sent since :meth:`recording_writes` began (``None``: not recording).
    _recorded: Optional[List[Optional[str]]] = None

    if TYPE_CHECKING:  # provided by the dialect

        def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None: ...

        def _set_busy_timeout(self, seconds: float) -> None: ...

        @property
        def history_table(self) -> str: ...

    @contextmanager
    def recording_writes(self) -> Iterator[Optional[List[Optional[str]]]]:
        """Collect what :meth:`_run` sends inside (``None`` for a statement with parameters: not to be sent again as text)."""
        recorded: List[Optional[str]] = []
        self._recorded = recorded
        try:
            yield recorded
        finally:
            self._recorded = None

    def script_body(self, statements: Sequence[str]) -> Optional[str]:
        """``statements`` joined into a script's middle if each is one ``CREATE`` with no ``;`` inside it, else ``None``.

        Joined by ``"\\n;\\n"``, so a statement's trailing ``--`` comment ends
        at the newline. Pure: the caller may remember the answer by the text.
        """
        from ..schema.transaction_control import first_word  # writes only: the schema layer is not on the no-op path

        for statement in statements:
            inner = statement.rstrip()
            if inner.endswith(";"):
                inner = inner[:-1]
            if ";" in inner or first_word(statement, "sqlite") != "CREATE":
                return None
        return "\n;\n".join(statements)

    def commit_script(self, prelude: Sequence[str], body: str, count: int, rows: Sequence["HistoryValues"], token: int) -> bool:
        """Send ``BEGIN IMMEDIATE``, the guard, ``prelude``, ``body`` (``count`` statements), ``rows`` and ``COMMIT`` in one call.

        ``True``: all of it committed. ``False``: nothing of it remains (the
        write lock was busy, the guard found that another connection committed
        since ``token`` was read, a statement or a row failed, or ``COMMIT``
        met readers): the caller runs the same work through the
        per-statement path. Counted as the statements sent, in one round trip.
        """
        connection = self.connection
        if connection.in_transaction or not self._writes_prepared:
            return False
        if not self._guard_ready:
            connection.create_function(GUARD_FUNCTION, 2, _unchanged)
            self._guard_ready = True
        self._waits_unset = False
        self._set_busy_timeout(0)  # as write_transaction: a busy lock is waited for by the per-statement path, logged
        try:
            script = "\n".join(
                [
                    f"BEGIN IMMEDIATE;\nSELECT {GUARD_FUNCTION}(data_version, {int(token)}) FROM pragma_data_version;",
                    *(f"{statement}\n;" for statement in prelude),
                    body,
                    ";",
                    *(self._literal_insert(values) for values in rows),
                    "COMMIT;",
                ]
            )
            sent = 3 + len(prelude) + count + len(rows)
            self.statements += sent
            self.batched_statements += sent - 1
            connection.executescript(script)
        except Exception as error:
            logger.debug("one-script path declined (%s: %s): the per-statement path runs it", type(error).__name__, error)
            self._roll_back_script()
            return False
        except BaseException:
            self._roll_back_script()
            raise
        finally:
            self._waits_unset = self._busy_ms == 0
        if connection.in_transaction:  # the end of the script never ran (a comment swallowed it)
            logger.debug("one-script path declined (its COMMIT did not run): the per-statement path runs it")
            self._roll_back_script()
            return False
        return True

    def _literal_insert(self, values: "HistoryValues") -> str:
        """The history row's ``INSERT`` with its values written out (as :meth:`history_insert_sql`, which shows it to people)."""
        version, name, applied_on, checksum, agent = values
        return (
            f"INSERT INTO {self.history_table} (version, name, applied_on, checksum, agent) VALUES ({int(version)}, "
            f"{_text(name)}, {_text(applied_on)}, {_text(checksum)}, {'NULL' if agent is None else _text(agent)});"
        )

    def _roll_back_script(self) -> None:
        """Roll back what a failed script left open (nothing if SQLite rolled it back itself)."""
        if self.connection.in_transaction:
            waits_unset, self._waits_unset = self._waits_unset, False
            try:
                self._run("ROLLBACK")
            finally:
                self._waits_unset = waits_unset
