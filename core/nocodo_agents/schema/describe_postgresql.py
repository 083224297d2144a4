"""A PostgreSQL schema described for drift and adoption, from the catalogs.

A describer takes ``query(sql, params) -> rows``, the dialect's way to send
one statement, never the dialect itself. Keys follow :mod:`.keys`:
``table t``, ``column t.c``, ``index t.i``, ``constraint t.n`` for drift;
``table t``, ``view v``, ``column t.c``, ``index i``, ``trigger g`` for
adoption (index names are unique per schema, and a migration's ``DROP
INDEX i`` names no table). The history table, and what is attached to it,
is left out.
"""

from __future__ import annotations

from ..history import HISTORY_TABLE
from .query import Query

__all__ = ["describe_postgresql", "postgresql_objects"]

#: Tables of ours that are not part of any agent's schema.
_BOOKKEEPING = (HISTORY_TABLE,)


def describe_postgresql(query: Query, schema: str) -> dict[str, str]:
    """Tables, columns, indexes and constraints of ``schema`` as flat ``{key: description}``."""
    described: dict[str, str] = {}
    for table, column, kind, not_null, default, identity in query(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), a.attidentity "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
        (schema,),
    ):
        if table in _BOOKKEEPING:
            continue
        described[f"table {table}"] = "table"
        parts = [kind.upper()]
        if not_null:
            parts.append("NOT NULL")
        if default is not None:
            parts.append(f"DEFAULT {default}")
        if identity:
            parts.append("GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") + " AS IDENTITY")
        described[f"column {table}.{column}"] = " ".join(parts)
    for table, index, definition in query(
        "SELECT t.relname, i.relname, replace(pg_get_indexdef(i.oid), quote_ident(n.nspname) || '.', '') FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s",
        (schema,),
    ):
        if table not in _BOOKKEEPING:
            described[f"index {table}.{index}"] = definition
    for table, constraint, definition in query(
        "SELECT t.relname, con.conname, replace(pg_get_constraintdef(con.oid), quote_ident(n.nspname) || '.', '') "
        "FROM pg_constraint con "
        "JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = %s",
        (schema,),
    ):
        if table not in _BOOKKEEPING:
            described[f"constraint {table}.{constraint}"] = definition
    return described


def postgresql_objects(query: Query) -> frozenset[str]:
    """Tables, views, columns, indexes and triggers of ``current_schema()``, as adoption compares them."""
    objects = set()
    for name, kind in query(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema() AND table_name != %s",
        (HISTORY_TABLE,),
    ):
        objects.add(f"{'view' if kind == 'VIEW' else 'table'} {name}")
    for table, column in query(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name != %s",
        (HISTORY_TABLE,),
    ):
        objects.add(f"column {table}.{column}")
    for (index,) in query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()", ()):
        objects.add(f"index {index}")
    for (trigger,) in query(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND NOT t.tgisinternal",
        (),
    ):
        objects.add(f"trigger {trigger}")
    return frozenset(objects)
