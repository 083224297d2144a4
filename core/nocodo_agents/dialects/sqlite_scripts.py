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
sends ``COMMIT``. These two go as plain calls on the connection, their
statements prepared once per connection: a guard inside the script (an
error raised from ``pragma_data_version``) would be prepared anew for every
script, costing more than the two calls. On any failure before ``COMMIT``
nothing of it remains (the transaction is rolled back if SQLite left it
open) and :meth:`~ScriptedWrites.commit_script` answers ``False``: the caller
then runs the same work through the per-statement path, which waits for a
busy lock, guards in full, names a failing statement and raises its named
error as always. A ``COMMIT`` refused because readers hold the file
(rollback-journal mode) is not answered so: it is sent again once they
finished, as the per-statement path's is (logged, within the lock timeout),
and the migration does not run again.

Python 3.11's ``executescript`` commits a transaction already open before
running the script, so a script is only sent when none is (never the
caller's: the runner refuses a connection inside a transaction).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .sqlite_errors import is_busy

if TYPE_CHECKING:  # pragma: no cover
    from .base import ScriptParts
    from .history_writes import HistoryValues

logger = logging.getLogger("nocodo_agents")


#: ``schema.transaction_control.first_word``, imported on first use (the no-op path never needs it).
_first_word: Callable[[str, str], str] | None = None


def _text(value: str) -> str:
    """``value`` as an SQL string literal (SQLite knows no escape but the doubled quote)."""
    return "'" + _quoted(value) + "'"


def _quoted(value: str) -> str:
    """``value`` as it goes between an SQL string literal's quotes."""
    return value.replace("'", "''")


class ScriptedWrites:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that sends a migration with its transaction's start as one script."""

    connection: sqlite3.Connection
    statements: int
    batched_statements: int
    rows_read: int
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
        def _ending_transaction(self, readers_met: bool = False) -> Iterator[None]: ...


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
        caller runs the same work through the per-statement path. A
        ``COMMIT`` that met readers (rollback-journal mode) waits for them as
        :meth:`write_transaction`'s does (logged, within the lock timeout).
        The script's statements are counted as sent in one round trip; the
        guard and ``COMMIT`` are a statement (and a round trip) each.
        """
        script = "\n".join(
            ["BEGIN IMMEDIATE;", *(f"{statement}\n;" for statement in prelude), body, ";", *(self._literal_insert(values) for values in rows)]
        )
        return self._send_script(script, 1 + len(prelude) + count + len(rows), token, [values[0] for values in rows])

    def migration_script(self, body: str, count: int, version: int, name: str, checksum: str, agent: str | None) -> ScriptParts:
        """One migration's script for :meth:`commit_scripts`: its text before and after its history row's ``applied_on``, its statement count."""
        before, after = self._insert_around_applied_on(version, name, checksum, agent)
        return f"BEGIN IMMEDIATE;\n{body}\n;\n{before}", after, count + 2

    def commit_scripts(self, scripts: Sequence[ScriptParts], token: int, clock: Callable[[], str], durations: list[float]) -> None:
        """:meth:`commit_script` for each of ``scripts`` (:meth:`migration_script`'s) in turn, its ``applied_on`` read from ``clock``.

        Stops at the first that did not commit (nothing of it remains). The
        duration (ms) of each that committed is appended to ``durations`` as
        it commits, so the caller learns what committed even if an error ends
        the loop.
        """
        for before, after, count in scripts:
            started = perf_counter()
            if not self._send_script(before + _quoted(clock()) + after, count, token, None):
                return
            durations.append((perf_counter() - started) * 1000)

    def _send_script(self, script: str, count: int, token: int, versions: Sequence[int] | None) -> bool:
        """Send ``script`` (``BEGIN IMMEDIATE``, ``count - 1`` statements more, ending with the history rows of ``versions``), check, guard, commit.

        ``versions``: ``None`` for one row, written by the script's last statement.

        See :meth:`commit_script`. The check: the history rows were written
        (a trigger answering ``RAISE(IGNORE)`` makes an ``INSERT`` write
        nothing and raise nothing); if not, the script is rolled back and the
        per-statement path names the version in its :class:`~nocodo_agents.HistoryTableError`.
        """
        connection = self.connection
        if connection.in_transaction or not self._writes_prepared:
            return False
        self._waits_unset = False
        if self._busy_ms != 0:
            self._set_busy_timeout(0)  # as write_transaction: a busy lock is waited for by the per-statement path, logged
        self.statements += count + 3
        self.batched_statements += count - 1
        self.rows_read += 2  # the check's and the guard's
        try:
            connection.executescript(script)
        except Exception as error:
            logger.debug("one-script path declined (%s: %s): the per-statement path runs it", type(error).__name__, error)
            self._roll_back_script()
            return False
        except BaseException:
            self._roll_back_script()
            raise
        try:
            if self._rows_missing(versions):
                logger.debug("one-script path declined (a history row was not written): the per-statement path names it")
                self._roll_back_script()
                return False
            # The guard: nobody can commit while this transaction holds the write lock, so this is data_version at BEGIN.
            if connection.execute("PRAGMA data_version").fetchone()[0] != token:
                logger.debug("one-script path declined (another connection committed since the run last looked)")
                self._roll_back_script()
                return False
            connection.execute("COMMIT")
        except Exception as error:
            readers_met = is_busy(error) and connection.in_transaction
            with self._ending_transaction(readers_met=readers_met):  # as write_transaction ends: ROLLBACK, or COMMIT once readers left
                if not readers_met:
                    raise
            return True
        except BaseException:
            self._roll_back_script()
            raise
        self._waits_unset = self._busy_ms == 0  # as after write_transaction
        return True

    def _rows_missing(self, versions: Sequence[int] | None) -> bool:
        """Whether the script's history rows (``None``: one, its last statement's) are not all written (one statement).

        One row: ``changes()``, the rows the last ``INSERT`` wrote itself (its
        triggers' not counted). Several: the history is asked for them.
        """
        if versions is None or len(versions) == 1:
            return bool(self.connection.execute("SELECT changes()").fetchone()[0] != 1)
        listed = ", ".join(str(int(version)) for version in versions)
        return bool(self.connection.execute(f"SELECT count(*) FROM {self.history_table} WHERE version IN ({listed})").fetchone()[0] != len(versions))

    def _literal_insert(self, values: HistoryValues) -> str:
        """The history row's ``INSERT`` with its values written out (as :meth:`history_insert_sql`, which shows it to people)."""
        version, name, applied_on, checksum, agent = values
        before, after = self._insert_around_applied_on(version, name, checksum, agent)
        return before + _quoted(applied_on) + after

    def _insert_around_applied_on(self, version: int, name: str, checksum: str, agent: str | None) -> tuple[str, str]:
        """A history row's ``INSERT``, values written out, before and after the text of its ``applied_on`` (inside its quotes)."""
        return (
            f"INSERT INTO {self.history_table} (version, name, applied_on, checksum, agent) VALUES ({int(version)}, {_text(name)}, '",
            f"', {_text(checksum)}, {'NULL' if agent is None else _text(agent)});",
        )

    def _roll_back_script(self) -> None:
        """Roll back what a failed script left open (nothing if SQLite rolled it back itself, or it never began)."""
        self._waits_unset = False
        try:
            if self.connection.in_transaction:
                self._run("ROLLBACK")
        finally:
            self._waits_unset = self._busy_ms == 0  # as after write_transaction
