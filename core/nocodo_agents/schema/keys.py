"""The key grammar every describer writes, and the owner of a key on the servers.

A schema is described as a flat ``{key: description}`` mapping; drift
compares two such mappings key by key (:func:`nocodo_agents.drift.compare_schemas`)
and adoption compares sets of keys (:func:`nocodo_agents.adoption.assess`).
Every dialect writes the same kinds of key::

    table t                 a table                          (owned by itself)
    view v                  a view                           (owned by itself)
    column t.c              a column of table t              (owned by table t)
    index i                 an index, by name, where names are unique per schema: SQLite (its table is
                            in the description), PostgreSQL's objects for adoption
    index t.i               an index of table t: MySQL (it names indexes per table), PostgreSQL's drift
    trigger g               a trigger (its table, or view, is in the description)
    check t: expr           a CHECK constraint of table t
    unique t (a, b)         SQLite: a UNIQUE constraint of table t (its index has no name of its own)
    foreign key t (a, b)    SQLite, MySQL: a foreign key of table t on columns a, b
    constraint t.n          PostgreSQL: constraint n of table t, as pg_get_constraintdef prints it

SQLite writes names bare when they are plain ASCII identifiers and
double-quoted otherwise, so its keys parse back (see
:func:`~nocodo_agents.schema.describe_sqlite.owning_object`); PostgreSQL
writes them as the catalog holds them, and MySQL's describer returns the
owner of each key with it. Adoption compares the kinds ``table``, ``view``,
``column``, ``index`` and ``trigger`` only: the live objects and a replayed
migration's footprint come from the same dialect, so they are keyed alike.
"""

from __future__ import annotations

from typing import Callable, Optional

__all__ = ["ADOPTION_KINDS", "Owner", "table_prefixed_owner"]

#: ``owner(key, description)``: the key of the table or view an entry belongs to, or ``None``.
Owner = Callable[[str, str], Optional[str]]

#: The kinds of key adoption compares.
ADOPTION_KINDS = ("table", "view", "column", "index", "trigger")


def table_prefixed_owner(key: str, description: str) -> str | None:
    """PostgreSQL's owner: ``column t.c``, ``index t.i``, ``constraint t.n`` belong to ``table t``; a table to itself."""
    kind, _, rest = key.partition(" ")
    if kind == "table":
        return key
    table, dot, _ = rest.partition(".")
    return f"table {table}" if dot else None

