"""Whether a statement can leave deferred constraint checks pending (PostgreSQL).

A ``DEFERRABLE INITIALLY DEFERRED`` foreign key (or unique constraint, or
constraint trigger) queues its check when a row changes and runs it at
``COMMIT``; the runner fires them at the end of each migration instead
(``SET CONSTRAINTS ALL IMMEDIATE``), so a violation names the migration.
Only statements that change rows queue such checks. :func:`queues_no_checks`
recognises the DDL that cannot, read as plain words; everything else counts
as able to, so the check is skipped only where it could find nothing.
"""

from __future__ import annotations

from .code_words import PLAIN_SQL, code_words

__all__ = ["queues_no_checks"]

#: Statements (first two words) that create or drop objects without changing a row of any table:
#: a new table is empty, an index build reads rows, a sequence or type holds none.
_ROWLESS = frozenset(
    {
        ("CREATE", "TABLE"), ("CREATE", "INDEX"), ("CREATE", "UNIQUE"), ("CREATE", "SEQUENCE"), ("CREATE", "TYPE"),
        ("CREATE", "VIEW"), ("CREATE", "SCHEMA"), ("COMMENT", "ON"), ("DROP", "INDEX"), ("DROP", "VIEW"),
        ("DROP", "SEQUENCE"), ("DROP", "TYPE"),
    }
)
#: Words that may make one of those statements run a query (``CREATE TABLE ... AS SELECT f()``,
#: a view's query is not run, but is kept out for simplicity), whose functions could change rows.
_QUERYING = frozenset({"AS", "SELECT", "EXECUTE", "WITH", "VALUES"})


def queues_no_checks(statement: str) -> bool:
    """Whether ``statement`` certainly changes no row (so it queues no deferred constraint check).

    Plain text only (no string, comment or dollar quote: :data:`~.code_words.PLAIN_SQL`),
    opening with one of the row-less DDL statements, and holding no word that
    could make it run a query. ``False`` means "it may", never "it does".
    """
    if not PLAIN_SQL.match(statement):
        return False
    words = [word.upper() for word in code_words(statement, "postgresql")]
    if tuple(words[:2]) not in _ROWLESS:
        return False
    return not any(word in _QUERYING for word in words[2:])
