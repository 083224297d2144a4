"""SQLite: a migration whose statements need no check between them, sent with its transaction's start in one ``executescript`` call.

The per-statement path (:mod:`nocodo_agents.execution`) sends ``BEGIN
IMMEDIATE``, the guard, each statement, the history row and ``COMMIT`` one
call at a time, and checks after each statement that the transaction is still
open (and, before a statement that may orphan a row, reads the foreign-key
violations). A migration made only of ``CREATE`` statements with no ``;``
and no ``/*`` inside them (:meth:`ScriptedWrites.script_body`) needs none of
those checks (a ``CREATE`` cannot end a transaction or leave a row without its
parent; a statement with no ``;`` is one statement whatever a splitter thinks;
without ``/*`` no comment left open can swallow what follows it), so
:meth:`ScriptedWrites.commit_script` sends it as one script:

``BEGIN IMMEDIATE; <statements>; <history row(s), values written out>;``

then, in the transaction the script left open, reads ``PRAGMA data_version``
(the O(1) guard: another connection committed since the run last looked
under the lock if it changed; nobody can commit while the write lock is
held, so reading it after the statements is reading it at ``BEGIN``) and
commits through the write transaction's own ``COMMIT`` (readers holding it
up are waited for, logged, within the lock timeout). On any failure before
``COMMIT`` nothing of it remains (the transaction is rolled back if SQLite
left it open) and :meth:`~ScriptedWrites.commit_script` answers ``False``:
the caller then runs the same work through the per-statement path, which
waits for a busy lock, guards in full, names a failing statement and raises
its named error as always.

Python 3.11's ``executescript`` commits a transaction already open before
running the script, so a script is only sent when none is (never the
caller's: the runner refuses a connection inside a transaction).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .history_writes import HistoryValues

logger = logging.getLogger("nocodo_agents")


#: ``schema.transaction_control.first_word``, imported on first use (the no-op path never needs it).
_first_word: Callable[[str, str], str] | None = None


class _Declined(Exception):
    """Raised inside the script's transaction to roll it back: the per-statement path runs the work instead."""


def _text(value: str) -> str:
    """``value`` as an SQL string literal (SQLite knows no escape but the doubled quote)."""
    return "'" + value.replace("'", "''") + "'"


class ScriptedWrites:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that sends a migration with its transaction's start as one script."""

    connection: sqlite3.Connection
    statements: int
    batched_statements: int
    _writes_prepared: bool
    _waits_unset: bool
    #: The busy timeout (ms) this session last set on the connection (``None``: not known).
    _busy_ms: int | None
    #: The statements :meth:`_run` sent since :meth:`recording_writes` began (``None``: not recording).
    _recorded: list[str | None] | None = None

    if TYPE_CHECKING:  # provided by the dialect

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _set_busy_timeout(self, seconds: float) -> None: ...

        @contextmanager
        def _ending_transaction(self) -> Iterator[None]: ...

        def change_token(self) -> int | None: ...

        @property
        def history_table(self) -> str: ...

    @contextmanager
    def recording_writes(self) -> Iterator[list[str | None] | None]:
        """Collect what :meth:`_run` sends inside (``None`` for a statement with parameters: not to be sent again as text)."""
        recorded: list[str | None] = []
        self._recorded = recorded
        try:
            yield recorded
        finally:
            self._recorded = None

    def script_body(self, statements: Sequence[str]) -> str | None:
        """``statements`` joined into a script's middle if each is one ``CREATE`` with no ``;`` or ``/*`` inside it, else ``None``.

        Joined by ``"\\n;\\n"``, so a statement's trailing ``--`` comment ends
        at the newline. Pure: the caller may remember the answer by the text.
        """
        global _first_word
        if _first_word is None:
            from ..schema.transaction_control import first_word  # writes only: the schema layer is not on the no-op path

            _first_word = first_word
        for statement in statements:
            inner = statement.rstrip()
            if inner.endswith(";"):
                inner = inner[:-1]
            if ";" in inner or "/*" in inner or _first_word(statement, "sqlite") != "CREATE":
                return None
        return "\n;\n".join(statements)

    def commit_script(self, prelude: Sequence[str], body: str, count: int, rows: Sequence[HistoryValues], token: int) -> bool:
        """Send ``BEGIN IMMEDIATE``, ``prelude``, ``body`` (``count`` statements) and ``rows`` in one call; guard; commit.

        ``True``: all of it committed. ``False``: nothing of it remains (the
        write lock was busy, a statement or a row failed, or ``data_version``
        says another connection committed since ``token`` was read): the
        caller runs the same work through the per-statement path. The
        script's statements are counted as sent in one round trip; the guard
        and ``COMMIT`` are a statement (and a round trip) each.
        """
        connection = self.connection
        if connection.in_transaction or not self._writes_prepared:
            return False
        self._waits_unset = False
        self._set_busy_timeout(0)  # as write_transaction: a busy lock is waited for by the per-statement path, logged
        changes = connection.total_changes
        try:
            script = "\n".join(
                [
                    "BEGIN IMMEDIATE;",
                    *(f"{statement}\n;" for statement in prelude),
                    body,
                    ";",
                    *(self._literal_insert(values) for values in rows),
                ]
            )
            sent = 1 + len(prelude) + count + len(rows)
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
        try:
            with self._ending_transaction():  # COMMIT as write_transaction commits; ROLLBACK on any error
                if not connection.in_transaction or connection.total_changes - changes < len(rows):
                    raise _Declined("the script did not run to its end")  # never seen: each of its statements is plain
                if self.change_token() != token:
                    raise _Declined("another connection committed since the run last looked")
        except _Declined as declined:
            logger.debug("one-script path declined (%s): the per-statement path runs it", declined)
            return False
        return True

    def _literal_insert(self, values: HistoryValues) -> str:
        """The history row's ``INSERT`` with its values written out (as :meth:`history_insert_sql`, which shows it to people)."""
        version, name, applied_on, checksum, agent = values
        return (
            f"INSERT INTO {self.history_table} (version, name, applied_on, checksum, agent) VALUES ({int(version)}, "
            f"{_text(name)}, {_text(applied_on)}, {_text(checksum)}, {'NULL' if agent is None else _text(agent)});"
        )

    def _roll_back_script(self) -> None:
        """Roll back what a failed script left open (nothing if SQLite rolled it back itself, or it never began)."""
        self._waits_unset = False
        try:
            if self.connection.in_transaction:
                self._run("ROLLBACK")
        finally:
            self._waits_unset = self._busy_ms == 0  # as after write_transaction
