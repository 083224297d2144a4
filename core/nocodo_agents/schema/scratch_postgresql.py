"""PostgreSQL's scratch: a schema of its own inside a transaction that is rolled back.

The replay runs on the caller's connection in ``BEGIN`` ... ``ROLLBACK``
(inside a unit of work of the runner's, a savepoint instead, so its
transaction and lock stay), in a fresh schema ``nocodo_scratch_<random>``
that ``SET LOCAL search_path`` makes current, with standard strings as
migrations run. Nothing of it outlives the rollback. A ``transactional =
False`` migration is replayed in the transaction too, without the keyword
``CONCURRENTLY`` (same schema effect; removed where the lexer reads it as a
word, never inside a string, comment or quoted name). Statements that only
change rows are left out: they cannot change a schema, and a sequence they
advance would stay advanced after the rollback.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from ..adoption import Footprint
from ..planning import PlannedMigration
from .code_words import first_word
from .compare import DriftReport, compare_schemas
from .describe_postgresql import describe_postgresql, postgresql_objects
from .keys import table_prefixed_owner
from .lexer import WORD, SqlLexError, SqlSyntax, tokens
from .query import Query
from .replay import Touched, footprints, replay
from .touched import touched_names

__all__ = ["PostgreSQLAccess", "postgresql_drift", "postgresql_footprints", "without_concurrently"]

#: Statements that only change rows, never a schema: left out of the replay. Replayed inside the
#: rolled-back transaction they could still act outside it: a sequence a row's default advanced
#: (``nextval``) stays advanced after the rollback, so a migration writing to a table of the live
#: schema by name would leave gaps in its ids at every ``verify``; ``COPY ... PROGRAM`` runs a
#: command on the server. What a data migration touches is read from its text (:mod:`.touched`).
_ROW_CHANGES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "TRUNCATE"})


@dataclass(frozen=True)
class PostgreSQLAccess:
    """What the replay needs of the dialect's connection: its statements, its splitter, and whether a transaction is open."""

    query: Query
    run: Callable[..., Any]
    split: Callable[[str], list[str]]
    in_transaction: bool


class PostgreSQLScratch:
    """A :class:`~.replay.Scratch` in the schema ``name``, current for the transaction."""

    failures = (Exception,)  # whatever the driver raises for a replayed statement

    def __init__(self, access: PostgreSQLAccess, name: str) -> None:
        self.access = access
        self.name = name
        self.where = f"a scratch schema ({name}, rolled back)"

    def statements(self, planned: PlannedMigration) -> list[str]:
        sql = planned.sql("postgresql")
        if not planned.migration.transactional:  # replayed in a transaction: same schema effect
            sql = without_concurrently(sql)
        return self.access.split(sql)

    def execute(self, statement: str) -> None:
        if first_word(statement, "postgresql") in _ROW_CHANGES:
            return  # changes rows only (see _ROW_CHANGES)
        self.access.run(statement)

    def describe(self) -> dict[str, str]:
        return describe_postgresql(self.access.query, self.name)

    def objects(self) -> frozenset[str]:
        return postgresql_objects(self.access.query)  # current_schema() is the scratch schema

    def mark(self) -> None:
        self.access.run("SAVEPOINT nocodo_footprint")

    def undo(self) -> bool:
        self.access.run("ROLLBACK TO SAVEPOINT nocodo_footprint")
        self.access.run("RELEASE SAVEPOINT nocodo_footprint")
        return True

    def release(self) -> bool:
        self.access.run("RELEASE SAVEPOINT nocodo_footprint")
        return True

    @contextmanager
    def watch(self, statements: list[str]) -> Iterator[Touched]:
        names = touched_names(statements, "postgresql")
        yield Touched(None if names is None else set(names))


@contextmanager
def postgresql_scratch(access: PostgreSQLAccess) -> Iterator[PostgreSQLScratch]:
    """A scratch schema, current until the transaction (or savepoint) holding it is rolled back."""
    name = f"nocodo_scratch_{secrets.token_hex(6)}"
    access.run("SAVEPOINT nocodo_scratch" if access.in_transaction else "BEGIN")
    try:
        access.run(f"CREATE SCHEMA {name}")
        # replayed as migrations run: standard strings (set back for each write), whatever the caller's session says
        access.run(f"SET LOCAL search_path TO {name}; SET LOCAL standard_conforming_strings = on")
        yield PostgreSQLScratch(access, name)
    finally:
        if access.in_transaction:
            access.run("ROLLBACK TO SAVEPOINT nocodo_scratch")
            access.run("RELEASE SAVEPOINT nocodo_scratch")
        else:
            access.run("ROLLBACK")


def postgresql_drift(access: PostgreSQLAccess, applied: Sequence[PlannedMigration]) -> DriftReport:
    """The live schema (``current_schema()``) compared with ``applied`` replayed in a scratch schema."""
    live_schema = access.query("SELECT current_schema()", ())[0][0]
    live = describe_postgresql(access.query, live_schema)
    with postgresql_scratch(access) as scratch:
        expected = replay(scratch, applied)
    return compare_schemas(expected, live, owner=table_prefixed_owner)


def postgresql_footprints(access: PostgreSQLAccess, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
    """What each of ``pending`` creates and touches, its PostgreSQL SQL replayed in a scratch schema."""
    with postgresql_scratch(access) as scratch:
        return footprints(scratch, pending)


def without_concurrently(sql: str) -> str:
    """``sql`` without the keyword ``CONCURRENTLY`` (as a word only: strings, comments and quoted names are kept)."""
    cut: list[Sequence[int]] = []
    try:
        for token in tokens(sql, SqlSyntax.default("postgresql")):
            if token.kind == WORD and sql[token.start : token.end].upper() == "CONCURRENTLY":
                cut.append((token.start, token.end))
    except SqlLexError:
        return sql  # the splitter says what is wrong with it
    for start, end in reversed(cut):
        sql = sql[:start] + sql[end:]
    return sql
