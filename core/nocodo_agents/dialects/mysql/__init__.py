"""MySQL 8 and MariaDB 10.x through PyMySQL.

What MySQL guarantees, and what it does not
-------------------------------------------
MySQL's DDL is not transactional: every ``CREATE``/``ALTER``/``DROP`` commits
the open transaction before and after itself. A migration of several
statements therefore cannot be undone when one of them fails, and the
statements before the failing one stay applied. (MySQL 8 at least makes each
DDL statement atomic on its own; MariaDB does for most.) What this module
does instead:

* **One runner at a time.** :meth:`MySQLDialect.session` takes a
  session-level ``GET_LOCK`` named after the database
  (:func:`migration_lock_name`) before the history table is created or read,
  and holds it for the whole run; ``RELEASE_LOCK`` gives it back. The server
  frees it by itself when the connection ends, so a runner that dies does
  not block the others (one that hangs holds it until the server's
  ``wait_timeout``).
* **Transactions where they work.** The connection reads in autocommit mode
  (its own setting is restored afterwards) and writes with autocommit off,
  switched once for a run's consecutive units of work: the server opens a
  unit's transaction at its first statement, and again at the first one
  after something inside commits it (a DDL statement, a journal write), so
  the bookkeeping that follows (the history row and the removal of the
  journal entry, the rows ``baseline`` writes) still commits as one, and no
  ``START TRANSACTION`` is sent.
* **Foreign keys enforced.** Before a session's first write,
  ``foreign_key_checks`` is switched on if the caller's connection had it
  off (and switched back at the end): with checks off, InnoDB would let a
  migration DROP a referenced table and would skip ``ON DELETE CASCADE``,
  leaving child rows without their parent.
* **A statement journal.** Before a migration's first statement a row goes
  into ``nocodo_agents_migration_journal`` (created on demand) and before
  each statement its index is recorded, each write committed immediately.
  A failing statement records its index and error; the row is deleted in
  the transaction that writes the migration's history row. Because DDL
  commits anyway, a migration's DML statements are committed one by one as
  well (each journal write commits what ran before it): no part of a MySQL
  migration is rolled back.

What a failure or a crash leaves behind
---------------------------------------
* A statement fails: the statements before it are applied, it is not
  (MySQL undoes a failed statement), the journal row names it and its error,
  and :class:`~nocodo_agents.MigrationFailedError` says so (``rolled_back``
  is false).
* The process dies or loses its connection after the journal row was
  committed and before the history row: the row is left with
  ``failed_statement`` NULL and ``next_statement = k``. Statements before
  ``k`` are applied; statement ``k`` may or may not be (a DDL statement the
  server received may have completed; uncommitted DML is rolled back with
  the connection). Any row present when a run holds the lock is such a
  leftover, because only the lock holder writes the journal.
* Before the journal row is committed nothing of the migration ran; after
  the history row is committed the journal row is gone with it (one
  transaction): both leave a consistent database.

Either kind of leftover stops every later run with
:class:`~nocodo_agents.IncompleteMigrationError` until an operator brings the
schema by hand to the migration fully applied or fully absent and runs
``nocodo-agents resolve V --applied`` or ``nocodo-agents resolve V --absent``
(:func:`~nocodo_agents.lifecycle.resolve_unfinished`).

Rollbacks (``rollback()`` SQL) are journalled the same way, the row's
``direction`` saying ``rollback`` (``NULL``, as rows written before the
column existed have, means ``migration``): a rollback that fails part-way
keeps its history row and its earlier statements applied, and stops every
later run until ``resolve V --applied`` (the migration stays applied: its
history row is kept) or ``resolve V --absent`` (the rollback is complete:
its history row is deleted, with the journal row, in one transaction). A
journal table made before ``direction`` existed gets the column (nullable,
so older runners keep working with it) when the lock holder first writes it.

The bookkeeping tables are created ``ENGINE=InnoDB DEFAULT CHARSET=utf8mb4``
whatever the server's defaults: the history row and the journal's removal
can only commit together in a transactional engine, and the journal must
store any error text. A history table found in another engine (MyISAM, Aria,
MEMORY...) is refused before anything is written
(:class:`~nocodo_agents.BookkeepingTableError`, naming the ``ALTER TABLE``);
a journal an earlier release made with the server's defaults is converted
under the lock. The journal is read in the same statement as the history
(:meth:`~.bookkeeping.BookkeepingTables._history_rows`), so every command that reads the history
sees an unfinished migration or rollback, even one whose version is recorded.

Schema drift is computed by replaying the applied migrations in a scratch
database (``nocodo_scratch_<random>``, with the live database's character
set and collation) on the same server and connection, then dropping it. The
replay runs in the scratch database only as far as the migrations use
unqualified names, as they should; one that names a database explicitly
would reach that database.

Modules: :mod:`.dialect` (the class: statements and transactions),
:mod:`.lock` (``GET_LOCK``), :mod:`.connection` (the caller's session
settings, :func:`migration_sql_mode`), :mod:`.journal`, :mod:`.bookkeeping`
(the history and journal tables' engine and character set), :mod:`.errors`
(PyMySQL's errors as named ones).
"""

from __future__ import annotations

from ...history import JOURNAL_TABLE
from .connection import migration_sql_mode
from .dialect import MySQLDialect
from .lock import migration_lock_name

__all__ = ["JOURNAL_TABLE", "MySQLDialect", "migration_lock_name", "migration_sql_mode"]
