"""A MySQL or MariaDB database described for drift and adoption, from ``information_schema``.

A describer takes ``query(sql, params) -> rows``, the dialect's way to send
one statement, never the dialect itself. Keys follow :mod:`.keys`; indexes
are ``index t.i`` because MySQL names them per table (two tables may each
have an index ``i``), for drift and adoption alike. The history and journal
tables are left out. Definitions are shown as the server prints them, with
the database's own name taken out, so a scratch database's schema compares
with the live one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from ..history import BOOKKEEPING_TABLES, as_text
from .keys import ADOPTION_KINDS
from .query import Query

__all__ = ["describe_mysql", "mysql_objects"]

#: ER_UNKNOWN_TABLE, ER_BAD_FIELD_ERROR: a server too old to report CHECK constraints.
_NO_CHECKS_REPORTED = (1109, 1054)


def _server_code(error: BaseException) -> int | None:
    """The server's error code of a driver error (PyMySQL's first argument), if it has one."""
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def mysql_objects(query: Query, database: str, mariadb: bool) -> frozenset[str]:
    """Tables, views, triggers, indexes (``index t.i``) and table columns of ``database``, as adoption compares them."""
    described, _ = describe_mysql(query, database, mariadb)
    return frozenset(key for key in described if key.partition(" ")[0] in ADOPTION_KINDS)


def describe_mysql(query: Query, database: str, mariadb: bool) -> tuple[dict[str, str], dict[str, str]]:
    """``database``'s schema as flat ``{key: description}``, and the owning table or view of each key.

    Keys follow :mod:`.keys`: ``table t``, ``view v``,
    ``column t.c``, ``foreign key t (c)``, ``check t: expr``,
    ``trigger g``; indexes are ``index t.i``, because MySQL names them
    per table (two tables may each have an index ``i``). The history and
    journal tables are left out.
    """
    described: dict[str, str] = {}
    owners: dict[str, str] = {}

    def put(key: str, description: str, owner: str) -> None:
        described[key] = description
        owners[key] = owner

    qualifier = "`" + database.replace("`", "``") + "`."  # how the server names the database in definitions
    tables: set[str] = set()
    for table, kind in query(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,)
    ):
        table = as_text(table)
        if table in BOOKKEEPING_TABLES:
            continue
        if as_text(kind) == "VIEW":
            continue  # views come with their definitions below
        tables.add(table)
        put(f"table {table}", "table", f"table {table}")
    for row in query(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_KEY "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (database,),
    ):
        table = as_text(row[0])
        if table in tables:
            put(f"column {table}.{as_text(row[1])}", _column_description(row), f"table {table}")
    _describe_indexes(query, database, tables, put)
    _describe_foreign_keys(query, database, tables, put)
    _describe_checks(query, database, mariadb, tables, put)
    for name, definition in query(
        "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s", (database,)
    ):
        put(f"view {as_text(name)}", as_text(definition).replace(qualifier, ""), f"view {as_text(name)}")
    for name, event, table, timing, statement in query(
        "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_STATEMENT "
        "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
        (database,),
    ):
        if as_text(table) in BOOKKEEPING_TABLES:
            continue
        body = as_text(statement).replace(qualifier, "")
        put(
            f"trigger {as_text(name)}",
            f"{as_text(timing)} {as_text(event)} ON {as_text(table)} FOR EACH ROW {body}",
            f"table {as_text(table)}",
        )
    return described, owners

def _describe_indexes(query: Query, database: str, tables: set[str], put: Callable[[str, str, str], None]) -> None:
    """Every index but the primary key: ``[UNIQUE ]ON t (c1, c2(10) DESC)[ USING type]``."""
    indexes: dict[tuple[str, str], list[str]] = {}
    details: dict[tuple[str, str], tuple[bool, str]] = {}
    for table, index, non_unique, column, sub_part, collation, index_type in query(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, INDEX_TYPE "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND INDEX_NAME != 'PRIMARY' "
        "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        (database,),
    ):
        table, index = as_text(table), as_text(index)
        if table not in tables:
            continue
        part = "(expression)" if column is None else as_text(column)
        if sub_part is not None:
            part += f"({int(sub_part)})"
        if collation is not None and as_text(collation) == "D":
            part += " DESC"
        indexes.setdefault((table, index), []).append(part)
        details[(table, index)] = (not int(non_unique), as_text(index_type))
    for (table, index), columns in indexes.items():
        unique, index_type = details[(table, index)]
        key = f"index {table}.{index}"
        using = "" if index_type == "BTREE" else f" USING {index_type}"
        put(key, f"{'UNIQUE ' if unique else ''}ON {table} ({', '.join(columns)}){using}", f"table {table}")

def _describe_foreign_keys(query: Query, database: str, tables: set[str], put: Callable[[str, str, str], None]) -> None:
    """``foreign key t (c)`` -> ``REFERENCES r (rc) ON UPDATE ... ON DELETE ...``."""
    keys: dict[tuple[str, str], list[Sequence[Any]]] = {}
    for row in query(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, "
        "k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
        "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.CONSTRAINT_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        (database,),
    ):
        if as_text(row[0]) in tables:
            keys.setdefault((as_text(row[0]), as_text(row[1])), []).append(row)
    for (table, _), rows in keys.items():
        columns = ", ".join(as_text(r[2]) for r in rows)
        referenced_schema, referenced = as_text(rows[0][3]), as_text(rows[0][4])
        if referenced_schema != database:
            referenced = f"{referenced_schema}.{referenced}"
        referenced_columns = ", ".join(as_text(r[5]) for r in rows)
        put(
            f"foreign key {table} ({columns})",
            f"REFERENCES {referenced} ({referenced_columns}) ON UPDATE {as_text(rows[0][6])} ON DELETE {as_text(rows[0][7])}",
            f"table {table}",
        )

def _describe_checks(query: Query, database: str, mariadb: bool, tables: set[str], put: Callable[[str, str, str], None]) -> None:
    """``check t: expr``, as the server prints the expression (MariaDB 10.2+, MySQL 8.0.16+)."""
    if mariadb:
        sql = (  # MariaDB names checks per table (a column's check after the column)
            "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = %s"
        )
    else:  # MySQL has no TABLE_NAME there; its check names are unique per database
        sql = (
            "SELECT t.TABLE_NAME, c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS c "
            "JOIN information_schema.TABLE_CONSTRAINTS t ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA "
            "AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND t.CONSTRAINT_TYPE = 'CHECK' "
            "WHERE c.CONSTRAINT_SCHEMA = %s"
        )
    try:
        rows = query(sql, (database,))
    except Exception as error:  # the driver's error, told by the server's code
        if _server_code(error) not in _NO_CHECKS_REPORTED:
            raise
        return  # a server too old to report CHECK constraints (it does not enforce them either)
    for table, clause in rows:
        if as_text(table) in tables:
            put(f"check {as_text(table)}: {as_text(clause)}", "check", f"table {as_text(table)}")




def _column_description(row: Sequence[Any]) -> str:
    """``bigint(20) NOT NULL DEFAULT 0 AUTO_INCREMENT PRIMARY KEY`` from an information_schema.COLUMNS row."""
    _, _, column_type, nullable, default, extra, column_key = row
    parts = [as_text(column_type)]
    if as_text(nullable) == "NO":
        parts.append("NOT NULL")
    if default is not None:
        parts.append(f"DEFAULT {as_text(default)}")
    if extra:
        parts.append(as_text(extra).upper())
    if column_key is not None and as_text(column_key) == "PRI":
        parts.append("PRIMARY KEY")
    return " ".join(parts)
