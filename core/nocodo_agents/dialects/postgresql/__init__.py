"""PostgreSQL through psycopg 3.

DDL is transactional, so each migration and its history row commit
together: a failure leaves nothing behind. For the run the connection is in
autocommit mode and every unit of work is an explicit ``BEGIN`` ... ``COMMIT``
whose first act is taking the advisory lock: the lock is taken before the
history table is created or read, is released by the commit itself, and
lives inside one transaction, so it works behind PgBouncer in transaction
pooling mode (a session-level lock would not). How it is waited for (without
holding a snapshot a ``CREATE INDEX CONCURRENTLY`` would wait for) and how it
is held across a ``transactional = False`` migration (by a second, idle
connection) is :mod:`nocodo_agents.dialects.postgresql.lock`; after such a
migration, an index left invalid stops it from being recorded. Statements are
sent with ``prepare=False`` so no server-side prepared statement outlives its
transaction (PgBouncer again). A session whose
``session_replication_role`` is not ``origin`` (which switches off foreign-key
enforcement and ON DELETE actions) or whose ``standard_conforming_strings`` is
off gets them set back to the defaults with ``SET LOCAL`` in each write
transaction.

Schema drift is computed by replaying the applied migrations in a scratch
schema inside a transaction that is rolled back.

Modules: :mod:`.dialect` (the class: session, transactions, statements),
:mod:`.history_shape` (where the history table lives and its shape, read
from ``pg_catalog``), :mod:`.batched` (the apply loop's statements in fewer
messages), :mod:`.integrity` (deferred constraint checks, invalid indexes),
:mod:`.lock` (the advisory lock and its guard connection),
:mod:`.session_settings` (the caller's session checked and put back),
:mod:`.errors` (psycopg's errors as named ones).
"""

from __future__ import annotations

from .dialect import PostgreSQLDialect

__all__ = ["PostgreSQLDialect"]
