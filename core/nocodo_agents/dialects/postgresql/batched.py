"""Fewer round trips per migration on PostgreSQL: statements that need no answer in between travel together.

A migration in its own transaction costs, by hand, four round trips (BEGIN,
the statement, the history row, COMMIT). The runner adds the lock and the
guard; sent one by one that was six. Here:

* ``BEGIN``, ``pg_try_advisory_xact_lock`` and the guard go as one message
  (the simple-query protocol runs several statements; in ``READ COMMITTED``
  each statement takes its own snapshot, so the guard, after the lock,
  sees all the previous holder committed). When the lock is held the guard's
  answer is thrown away with the ``ROLLBACK``, and the wait polls as before.
* The history row is held back until the next statement, and when that is
  ``COMMIT`` both go as one message (``INSERT ...; COMMIT``: a failing
  ``INSERT`` skips the ``COMMIT``, the transaction is rolled back, and the
  error is the history table's, as before). Any other statement sends the
  row first, alone, so the order of statements is unchanged.

So a migration costs three round trips for the same six statements.

**The guard in O(1).** Counting and summing the history under the lock on
every migration would read n rows per migration. The guard instead asks
PostgreSQL's transaction ids: its snapshot's ``xmin``/``xmax``
(``txid_current_snapshot()``) and, with the history row, the id this
runner's transaction wrote with (``INSERT ... RETURNING
txid_current_if_assigned()``). If, in the transaction that last confirmed
the history, no other transaction held an id (``xmin = xmax``) and this
runner's was the next one given out (its id = ``xmax``), then a snapshot
whose ``xmax`` is that id + 1 proves that no other transaction wrote
anything since: the history is what this runner confirmed plus what it
wrote. When the previous transaction left that expectation, ``BEGIN``
travels with the snapshot's bounds alone (the full guard, a statement the
server takes a while to plan, follows alone only if they disappoint);
otherwise with the full guard, whose count and sum a ``CASE`` still skips
when the bounds prove nothing changed. On a server other clients
write to, ids move on and the guard counts and sums as before: never a
wrong answer, only a slower one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...history import HistoryRow, is_64_bit_type
from ..history_table import HistoryGuard, HistoryTableMixin
from .lock import BEGIN, TRY_LOCK

#: The guard snapshot's bounds, from the same statement's snapshot.
_SNAPSHOT = "txid_snapshot_xmin(s), txid_snapshot_xmax(s)"


class BatchedWrites(HistoryTableMixin):
    """The part of :class:`~.dialect.PostgreSQLDialect` that sends the apply loop's statements in fewer messages."""

    statements: int
    rows_read: int
    batched_statements: int
    connection: Any

    if TYPE_CHECKING:  # provided by the dialect

        def _cursor(self) -> Any: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        @property
        def history_table(self) -> str: ...

        def version_type_sql(self) -> str: ...

        def transaction_open(self) -> bool: ...

        def _write_history(self, version: int, sql: str, params: Sequence[Any]) -> None: ...

        @property
        def history_insert(self) -> str: ...

    def _init_batched(self) -> None:
        #: The version the next write transaction's guard will ask about, wrapped (``None``: no guard expected).
        self._expected_guard: tuple[int | None] | None = None
        #: The guard row read with this transaction's BEGIN, and the version it asked about.
        self._prefetched: tuple[int | None, tuple[Any, ...]] | None = None
        #: The history row written in this transaction, not sent yet (see :meth:`_flush_history`).
        self._held_row: HistoryRow | None = None
        #: The ``xmax`` a snapshot shows if no other transaction took an id since this runner last confirmed the history.
        self._expected_xmax: int | None = None
        #: This transaction's guard snapshot (``xmin``, ``xmax``), once read.
        self._guard_snapshot: tuple[int, int] | None = None
        #: Bumped whenever another transaction may have written since the last token (see the module's docstring).
        self._generation = 0
        #: The client-side cursor binding the history row's values into the message it travels in, once made.
        self._binder: Any = None

    # -- sending several statements as one message --------------------------------------------------

    def _send(self, sql: str, statements: int) -> list[list[Any]]:
        """Send ``statements`` statements (no parameters: the simple-query protocol) as one message; each one's rows."""
        self.statements += statements
        self.batched_statements += statements - 1
        results: list[list[Any]] = []
        with self._cursor() as cursor:
            cursor.execute(sql, prepare=False)
            while True:
                rows = cursor.fetchall() if cursor.description else []
                self.rows_read += len(rows)
                results.append(rows)
                if not cursor.nextset():
                    break
        return results

    def expect_guard(self, version: int | None) -> None:
        """The next write transaction's first question will be the guard about ``version``: ask it with ``BEGIN``."""
        self._expected_guard = (version,)

    def _guard_sql(self, version: int | None) -> str:
        """The guard (as :meth:`~.history_table.HistoryTable.history_guard`) and its snapshot's bounds, in one statement.

        ``version`` is an ``int`` (or ``None``) written as a literal: this
        statement travels with others, without parameters. The count and
        the sum are skipped when the snapshot proves nobody else wrote.
        """
        table = self.history_table
        expected = -1 if self._expected_xmax is None else int(self._expected_xmax)
        unchanged = f"txid_snapshot_xmax(s) = {expected}"
        asked = "NULL" if version is None else str(int(version))
        return (
            f"SELECT {_SNAPSHOT}, "
            f"CASE WHEN {unchanged} THEN NULL ELSE (SELECT COUNT(*) FROM {table}) END, "
            f"CASE WHEN {unchanged} THEN NULL ELSE (SELECT COALESCE(SUM(version % 4294967296), 0) FROM {table}) END, "
            f"(SELECT COUNT(*) FROM {table} WHERE version = {asked}), {self.version_type_sql()} "
            "FROM txid_current_snapshot() s"
        )

    def _try_lock_now(self) -> bool:
        """One message: ``BEGIN``, the try for the lock and, when expected, the guard. Whether the lock was taken."""
        expected, self._expected_guard = self._expected_guard, None
        if expected is None:
            results = self._send(f"{BEGIN}; {TRY_LOCK}", 2)
        elif self._expected_xmax is not None:
            # Likely nobody else wrote: the snapshot's bounds alone (a statement the server plans in no time); the
            # full guard follows, alone, only if they say otherwise.
            results = self._send(f"{BEGIN}; {TRY_LOCK}; SELECT {_SNAPSHOT}, NULL FROM txid_current_snapshot() s", 3)
        else:
            results = self._send(f"{BEGIN}; {TRY_LOCK}; {self._guard_sql(expected[0])}", 3)
        if not results[1][0][0]:
            self._run("ROLLBACK")
            return False
        if expected is not None:
            self._prefetched = (expected[0], tuple(results[2][0]))
        return True

    def _end_of_transaction(self) -> None:
        """Forget what belonged to one transaction (not :meth:`expect_guard`'s word about the next)."""
        self._prefetched = None
        self._held_row = None
        self._guard_snapshot = None

    # -- the guard ----------------------------------------------------------------------------------

    def change_token(self) -> int | None:
        """The same number as in the transaction that last confirmed the history iff no other transaction took an id since."""
        if self._prefetched is not None:
            xmin, xmax = self._prefetched[1][0], self._prefetched[1][1]
        else:
            xmin, xmax = self._query(f"SELECT {_SNAPSHOT} FROM txid_current_snapshot() s")[0]
        if self._expected_xmax is None or int(xmax) != self._expected_xmax:
            self._generation += 1
        self._expected_xmax = None  # known again once this transaction commits its history row
        self._guard_snapshot = (int(xmin), int(xmax))
        return self._generation

    def history_guard(self, version: int | None) -> HistoryGuard:
        prefetched = self._prefetched
        if prefetched is not None and prefetched[0] == version and len(prefetched[1]) == 6 and prefetched[1][2] is not None:
            self._prefetched = None
            _, _, count, total, recorded, declared = prefetched[1]
            return HistoryGuard(int(count), int(total), bool(int(recorded)), is_64_bit_type(declared))
        return super().history_guard(version)

    # -- the history row, held back until the next statement ------------------------------------------

    def insert_history(self, row: HistoryRow) -> None:
        """Record one applied migration: inside the runner's transaction, sent with the next statement (``COMMIT``: together)."""
        if self._held_row is not None:
            self._flush_history()
        if not self.transaction_open():
            super().insert_history(row)
            return
        self._held_row = row

    def _flush_history(self) -> None:
        """Send the held history row alone (another statement comes next)."""
        row, self._held_row = self._held_row, None
        assert row is not None
        super().insert_history(row)

    def _commit_sql(self) -> tuple[str, int, HistoryRow | None]:
        """``COMMIT``, after the held history row if any (returning this transaction's id): the SQL, its statements, the row."""
        row, self._held_row = self._held_row, None
        if row is None:
            return "COMMIT", 1, None
        if self._binder is None:
            from psycopg import ClientCursor

            self._binder = ClientCursor(self.connection)  # one per run: its adapters are the connection's
        # A trigger returning NULL skips the row without an error: then count(*) is 0 and the division
        # fails, before COMMIT (the rest of the message is not run): never a migration without its row.
        insert = self._binder.mogrify(
            f"WITH written AS ({self.history_insert} RETURNING txid_current_if_assigned() AS xid) "
            "SELECT max(xid), 1 / count(*) FROM written",
            (row.version, row.name, row.applied_on, row.checksum, row.agent),
        )
        return f"{insert}; COMMIT", 2, row

    def _committed_as(self, xid: Any) -> None:
        """This transaction committed with id ``xid``: what the next transaction's snapshot shows if nobody else wrote."""
        snapshot, self._guard_snapshot = self._guard_snapshot, None
        self._expected_xmax = None
        if xid is not None and snapshot is not None and snapshot[0] == snapshot[1] == int(xid):
            self._expected_xmax = int(xid) + 1
