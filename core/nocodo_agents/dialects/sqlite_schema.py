"""A flat, normalized description of a SQLite schema, for comparing two schemas.

:func:`describe_sqlite_schema` maps a key naming each schema element to a
text describing it::

    "table agent_sessions"                    -> "table"
    "column agent_sessions.status"            -> "TEXT NOT NULL DEFAULT 'running'"
    "check agent_sessions: status IN (...)"   -> "check"
    "index idx_agent_messages_session_created" -> "ON agent_messages (session_id, created_at)"
    "unique agent_x (a, b)"                   -> "unique"
    "foreign key agent_messages (session_id)" -> "REFERENCES agent_sessions (id) ON UPDATE NO ACTION ON DELETE CASCADE"
    "view v" / "trigger t"                    -> their CREATE statement, normalized

Most facts come from what SQLite reports (``pragma_table_xinfo``,
``pragma_index_list``, ``pragma_index_xinfo``, ``pragma_foreign_key_list``).
What SQLite does not report (CHECK constraints, column collations,
generated-column expressions, AUTOINCREMENT, deferred foreign keys, partial
index conditions) is read from the CREATE statement with a small tokenizer
that skips string literals, quoted identifiers and comments.

Expressions and statements are normalized so that the same schema written
differently describes the same: comments dropped, whitespace canonical,
keywords upper-cased, identifiers unquoted unless they need quoting or are
keywords (then double-quoted), ``==`` written ``=`` and ``<>`` written
``!=``, ``IF NOT EXISTS`` dropped. Identifier case is kept as written.

Names in keys are written bare when they are plain ASCII identifiers and in
double quotes otherwise (``column "my table".x``), so keys parse back
unambiguously: :func:`owning_object` does that to tell which table or view a
key belongs to.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from ..history import HISTORY_TABLE

__all__ = ["describe_sqlite_schema", "owning_object"]

#: SQLite's keywords (https://sqlite.org/lang_keywords.html) plus the words
#: it treats as keywords in context; upper-cased wherever they appear.
_KEYWORDS = frozenset(
    """
    ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE
    BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE
    CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE
    DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE
    EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP
    GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT
    INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING
    NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING
    PRIMARY QUERY RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE
    RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN
    TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL
    WHEN WHERE WINDOW WITH WITHOUT
    FALSE ROWID STORED STRICT TRUE
    """.split()
)

_TOKEN = re.compile(
    r"""
     (?P<space>\s+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<blob>[xX]'[^']*'?)
    |(?P<string>'(?:[^']|'')*'?)
    |(?P<ident>"(?:[^"]|"")*"?|\[[^\]]*\]?|`(?:[^`]|``)*`?)
    |(?P<number>0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
    |(?P<op>\|\||<<|>>|<=|>=|==|!=|<>|->>|->|.)
    """,
    re.VERBOSE | re.DOTALL,
)

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")

#: Operators SQLite treats as the same, written one way.
_SAME_OPERATOR = {"==": "=", "<>": "!="}

#: The words that open a table constraint rather than a column definition.
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})


class _Token(NamedTuple):
    """One SQL token; ``text`` of an ``ident`` is the name without its quotes."""

    kind: str  # "word", "ident", "string", "number" or "op"
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops


def _tokens(sql: str) -> List[_Token]:
    """The tokens of ``sql``, comments and whitespace dropped."""
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "op"
        text = match.group()
        if kind in ("space", "comment"):
            continue
        if kind == "blob":
            kind, text = "string", "X" + text[1:].upper()
        elif kind == "ident":
            closing = {"[": "]"}.get(text[0], text[0])
            inner = text[1:-1] if len(text) > 1 and text.endswith(closing) else text[1:]
            text = inner.replace(closing * 2, closing) if closing != "]" else inner
        tokens.append(_Token(kind, text))
    return tokens


def _key_name(name: str) -> str:
    """``name`` as written in keys: bare when a plain ASCII identifier, else double-quoted."""
    if _PLAIN_NAME.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _canonical(token: _Token) -> str:
    """How one token is written in a normalized expression."""
    if token.kind == "ident":
        if not _PLAIN_NAME.match(token.text) or token.text.upper() in _KEYWORDS:
            return '"' + token.text.replace('"', '""') + '"'
        return token.text  # quoting that changes nothing is dropped
    if token.kind == "word" and token.text.upper() in _KEYWORDS:
        return token.text.upper()
    if token.kind == "op":
        return _SAME_OPERATOR.get(token.text, token.text)
    return token.text


def _is_keyword(token: Optional[_Token]) -> bool:
    return token is not None and token.kind == "word" and token.text.upper() in _KEYWORDS


def _render(tokens: Sequence[_Token]) -> str:
    """Tokens as canonical text: single spaces, none inside parentheses, before commas or around dots.

    A ``(`` directly follows a function or type name (``lower(x)``,
    ``VARCHAR(255)``) and is spaced after a keyword (``IN (...)``); a unary
    sign sticks to its operand (``DEFAULT -1``).
    """
    parts: List[str] = []
    previous: Optional[_Token] = None
    glue = True  # no space before the next token
    for token in tokens:
        call = (
            token.is_op("(")
            and previous is not None
            and previous.kind in ("word", "ident")
            and not _is_keyword(previous)
        )
        if parts and not glue and not (token.is_op(")", ",", ".", ";") or call):
            parts.append(" ")
        parts.append(_canonical(token))
        unary = token.is_op("-", "+") and (
            previous is None or (previous.kind == "op" and previous.text != ")") or _is_keyword(previous)
        )
        glue = token.is_op("(", ".", "~") or unary
        previous = token
    return "".join(parts).rstrip(";").rstrip()


def _normalize(sql: str) -> str:
    """Canonical text of an expression or statement."""
    return _render(_tokens(sql))


def _closing(tokens: Sequence[_Token], opening: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``opening`` (the last token if unbalanced)."""
    depth = 0
    for index in range(opening, len(tokens)):
        if tokens[index].is_op("("):
            depth += 1
        elif tokens[index].is_op(")"):
            depth -= 1
            if depth == 0:
                return index
    return len(tokens) - 1


def _split_commas(tokens: Sequence[_Token]) -> List[List[_Token]]:
    """``tokens`` split at the commas outside parentheses."""
    items: List[List[_Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.is_op("("):
            depth += 1
        elif token.is_op(")"):
            depth -= 1
        if depth == 0 and token.is_op(","):
            items.append([])
        else:
            items[-1].append(token)
    return [item for item in items if item]


def _parenthesised_after(tokens: Sequence[_Token], start: int) -> Tuple[List[_Token], int]:
    """The tokens inside the first ``(...)`` at or after ``start``, and the index after its ``)``."""
    for index in range(start, len(tokens)):
        if tokens[index].is_op("("):
            end = _closing(tokens, index)
            return list(tokens[index + 1 : end]), end + 1
    return [], len(tokens)


def _drop_if_not_exists(tokens: List[_Token]) -> List[_Token]:
    """A CREATE statement's tokens without ``TEMP``/``TEMPORARY`` and ``IF NOT EXISTS``."""
    result = [t for i, t in enumerate(tokens) if not (i == 1 and t.is_word("TEMP", "TEMPORARY"))]
    for index in range(len(result) - 2):
        if result[index].is_word("IF") and result[index + 1].is_word("NOT") and result[index + 2].is_word("EXISTS"):
            return result[:index] + result[index + 3 :]
    return result


def _statement(sql: str) -> str:
    """A view's or trigger's CREATE statement, normalized."""
    return _render(_drop_if_not_exists(_tokens(sql)))


def _name_of(token: _Token) -> Optional[str]:
    return token.text if token.kind in ("word", "ident") else None


def _deferred(clause: Sequence[_Token]) -> bool:
    """Whether a REFERENCES clause is ``DEFERRABLE INITIALLY DEFERRED`` (the only deferred form)."""
    for index, token in enumerate(clause):
        if token.is_word("DEFERRABLE") and not (index > 0 and clause[index - 1].is_word("NOT")):
            rest = clause[index + 1 : index + 3]
            return len(rest) == 2 and rest[0].is_word("INITIALLY") and rest[1].is_word("DEFERRED")
    return False


class _TableText(NamedTuple):
    """What a CREATE TABLE statement says that SQLite's pragmas do not."""

    options: List[str]  # "WITHOUT ROWID", "STRICT"
    checks: List[str]
    collations: Dict[str, str]  # lower-cased column name -> collation
    generated: Dict[str, str]  # lower-cased column name -> expression
    deferred: Set[Tuple[str, ...]]  # lower-cased FK columns of deferred foreign keys
    autoincrement: bool


def _read_table_sql(sql: str) -> _TableText:
    """Parse the parts of a CREATE TABLE statement that SQLite reports nowhere else."""
    tokens = _tokens(sql)
    text = _TableText([], [], {}, {}, set(), any(t.is_word("AUTOINCREMENT") for t in tokens))
    for index, token in enumerate(tokens):
        if token.is_word("CHECK") and index + 1 < len(tokens) and tokens[index + 1].is_op("("):
            text.checks.append(_render(tokens[index + 2 : _closing(tokens, index + 1)]))
    opening = next((i for i, t in enumerate(tokens) if t.is_op("(") or t.is_word("AS")), len(tokens))
    if opening == len(tokens) or not tokens[opening].is_op("("):
        return text  # CREATE TABLE ... AS SELECT: no definitions to read
    closing = _closing(tokens, opening)
    tail = tokens[closing + 1 :]
    if any(t.is_word("WITHOUT") for t in tail):
        text.options.append("WITHOUT ROWID")
    if any(t.is_word("STRICT") for t in tail):
        text.options.append("STRICT")
    for item in _split_commas(tokens[opening + 1 : closing]):
        _read_definition(item, text)
    return text


def _read_definition(item: List[_Token], text: _TableText) -> None:
    """Record the collation, generated expression and deferred FK of one column or table constraint."""
    first = item[0]
    references = next((i for i, t in enumerate(item) if t.is_word("REFERENCES")), None)
    if first.kind == "word" and first.text.upper() in _TABLE_CONSTRAINTS:
        foreign = next((i for i, t in enumerate(item) if t.is_word("FOREIGN")), None)
        if foreign is not None and references is not None and _deferred(item[references:]):
            columns, _ = _parenthesised_after(item, foreign)
            names = [_name_of(column[0]) for column in _split_commas(columns)]
            text.deferred.add(tuple(n.lower() for n in names if n is not None))
        return
    column = (_name_of(first) or "").lower()
    depth = 0
    for index, token in enumerate(item):
        if token.is_op("("):
            depth += 1
        elif token.is_op(")"):
            depth -= 1
        if depth or index + 1 >= len(item):
            continue
        following = item[index + 1]
        if token.is_word("COLLATE") and _name_of(following):
            text.collations[column] = following.text.upper()
        elif token.is_word("AS") and following.is_op("("):
            text.generated[column] = _render(item[index + 2 : _closing(item, index + 1)])
    if references is not None and _deferred(item[references:]):
        text.deferred.add((column,))


def _column_description(
    row: Tuple[int, str, str, int, Optional[str], int, int], primary_columns: int, text: _TableText
) -> str:
    """``TEXT NOT NULL DEFAULT 'x'``... from one ``pragma_table_xinfo`` row."""
    _, name, declared, not_null, default, primary, hidden = row
    parts = []
    if declared:
        parts.append(_normalize(declared).upper())
    collation = text.collations.get(name.lower())
    if collation and collation != "BINARY":
        parts.append(f"COLLATE {collation}")
    if not_null:
        parts.append("NOT NULL")
    if default is not None:
        parts.append(f"DEFAULT {_normalize(default)}")
    if hidden in (2, 3):
        kind = "STORED" if hidden == 3 else "VIRTUAL"
        parts.append(f"AS ({text.generated.get(name.lower(), '?')}) {kind}")
    if primary:
        parts.append("PRIMARY KEY" if primary_columns == 1 else f"PRIMARY KEY ({primary} of {primary_columns})")
        if text.autoincrement and primary_columns == 1:
            parts.append("AUTOINCREMENT")
    return " ".join(parts) or "(no declared type)"


def _index_columns(connection: sqlite3.Connection, index: str, sql: Optional[str]) -> Tuple[str, str]:
    """The column list of an index, ``"a, b DESC, lower(c)"``, and its ``WHERE`` condition."""
    written: List[List[_Token]] = []
    where = ""
    if sql is not None:
        tokens = _tokens(sql)
        on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), len(tokens))
        inside, after = _parenthesised_after(tokens, on)
        written = _split_commas(inside)
        rest = tokens[after:]
        if rest and rest[0].is_word("WHERE"):
            where = _render(rest[1:])
    columns = []
    rows = connection.execute(
        "SELECT seqno, cid, name, desc, coll FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno", (index,)
    ).fetchall()
    for seqno, cid, name, descending, collation in rows:
        if cid == -2 and seqno < len(written):  # an expression: take it from the statement
            expression = list(written[seqno])
            if expression and expression[-1].is_word("ASC", "DESC"):
                expression.pop()
            if len(expression) > 2 and expression[-2].is_word("COLLATE"):
                del expression[-2:]
            column = _render(expression)
        else:
            column = _key_name(name) if name is not None else ("rowid" if cid == -1 else "?")
        if collation and collation.upper() != "BINARY":
            column += f" COLLATE {collation.upper()}"
        if descending:
            column += " DESC"
        columns.append(column)
    return ", ".join(columns), where


def _foreign_keys(
    connection: sqlite3.Connection, table: str, tables: Dict[str, str], text: _TableText
) -> Dict[str, str]:
    """``foreign key`` entries of one table, composite keys grouped by their id."""
    grouped: Dict[int, List[Tuple[str, str, Optional[str], str, str, str]]] = {}
    for fk_id, _, parent, source, target, on_update, on_delete, match in connection.execute(
        "SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete, match "
        "FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        (table,),
    ):
        grouped.setdefault(fk_id, []).append((parent, source, target, on_update, on_delete, match))
    result: Dict[str, str] = {}
    for rows in grouped.values():
        parent = tables.get(rows[0][0].lower(), rows[0][0])
        parent_columns = _columns_by_lower_name(connection, parent) if parent.lower() in tables else {}
        targets: List[Optional[str]] = [r[2] for r in rows]
        if all(t is None for t in targets):  # REFERENCES parent: its primary key, if it exists
            primary_key = "SELECT name FROM pragma_table_info(?) WHERE pk ORDER BY pk"
            targets = [c[0] for c in connection.execute(primary_key, (parent,))]
        sources = [r[1] for r in rows]
        description = f"REFERENCES {_key_name(parent)}"
        if targets:
            names = (parent_columns.get((t or "?").lower(), t or "?") for t in targets)
            description += f" ({', '.join(_key_name(n) for n in names)})"
        _, _, _, on_update, on_delete, match = rows[0]
        description += f" ON UPDATE {on_update} ON DELETE {on_delete}"
        if match and match.upper() != "NONE":
            description += f" MATCH {match}"
        if tuple(s.lower() for s in sources) in text.deferred:
            description += " DEFERRABLE INITIALLY DEFERRED"
        key = f"foreign key {_key_name(table)} ({', '.join(_key_name(s) for s in sources)})"
        result[key] = description if key not in result else " | ".join(sorted((result[key], description)))
    return result


def _columns_by_lower_name(connection: sqlite3.Connection, table: str) -> Dict[str, str]:
    return {
        row[0].lower(): row[0] for row in connection.execute("SELECT name FROM pragma_table_xinfo(?)", (table,))
    }


def _describe_table(
    connection: sqlite3.Connection, table: str, sql: str, tables: Dict[str, str], index_sql: Dict[str, str]
) -> Dict[str, str]:
    """Every entry of one table: itself, its columns, CHECKs, indexes and foreign keys."""
    name = _key_name(table)
    tokens = _tokens(sql)
    if len(tokens) > 1 and tokens[1].is_word("VIRTUAL"):
        using = next((i for i, t in enumerate(tokens) if t.is_word("USING")), len(tokens))
        entries = {f"table {name}": _render([_Token("word", "virtual")] + tokens[using:])}
        try:
            rows = connection.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)).fetchall()
        except sqlite3.Error:  # the module is not loaded here: its columns are unknown
            rows = []
        for row in rows:
            entries[f"column {name}.{_key_name(row[1])}"] = _column_description(row, 0, _read_table_sql(""))
        return entries

    text = _read_table_sql(sql)
    entries = {f"table {name}": " ".join(["table", *text.options])}
    rows = connection.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)).fetchall()
    primary_columns = sum(1 for row in rows if row[5])
    for row in rows:
        entries[f"column {name}.{_key_name(row[1])}"] = _column_description(row, primary_columns, text)
    for check in text.checks:
        entries[f"check {name}: {check}"] = "check"
    for _, index, unique, origin, partial in connection.execute(
        "SELECT seq, name, \"unique\", origin, partial FROM pragma_index_list(?)", (table,)
    ).fetchall():
        if origin == "pk":  # the primary key, already described on its columns
            continue
        columns, where = _index_columns(connection, index, index_sql.get(index))
        if origin == "u":  # sqlite_autoindex_*: named after the table and columns instead
            entries[f"unique {name} ({columns})"] = "unique"
            continue
        description = f"ON {name} ({columns})"
        if unique:
            description += " UNIQUE"
        if partial and where:
            description += f" WHERE {where}"
        entries[f"index {_key_name(index)}"] = description
    entries.update(_foreign_keys(connection, table, tables, text))
    return entries


def describe_sqlite_schema(connection: sqlite3.Connection) -> Dict[str, str]:
    """The main schema of ``connection`` as ``{key: description}``, normalized.

    SQLite's internal objects (``sqlite_%``) and the history table
    ``refinery_schema_history`` (with anything attached to it) are left out.
    Only reads: no statement here starts a transaction.
    """
    rows = connection.execute(
        "SELECT type, name, sql FROM main.sqlite_master "
        "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != ? AND tbl_name != ? ORDER BY type, name",
        (HISTORY_TABLE, HISTORY_TABLE),
    ).fetchall()
    tables = {name.lower(): name for kind, name, _ in rows if kind == "table"}
    index_sql = {name: sql for kind, name, sql in rows if kind == "index" and sql is not None}
    schema: Dict[str, str] = {}
    for kind, name, sql in rows:
        if kind == "table":
            schema.update(_describe_table(connection, name, sql or "", tables, index_sql))
        elif kind in ("view", "trigger"):
            schema[f"{kind} {_key_name(name)}"] = _statement(sql or "")
    return schema


def owning_object(key: str, description: str) -> Optional[str]:
    """The key of the table or view that the entry ``key: description`` belongs to.

    ``"column agent_sessions.status"`` -> ``"table agent_sessions"``; a table
    or view owns itself; an index belongs to the table it is ``ON``; a
    trigger to its table (``"view v"`` for ``INSTEAD OF`` triggers, which
    SQLite only allows on views). ``None`` for a key this module does not
    write.
    """
    kind, _, rest = key.partition(" ")
    if kind in ("table", "view"):
        return key
    if kind == "foreign" and rest.startswith("key "):
        kind, rest = "foreign key", rest[len("key ") :]
    if kind in ("column", "check", "unique", "foreign key"):
        owner = _first_name(_tokens(rest))
        return f"table {_key_name(owner)}" if owner is not None else None
    tokens = _tokens(description)
    on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), None)
    if on is None or kind not in ("index", "trigger"):
        return None
    owner = _first_name(tokens[on + 1 :])
    if owner is None:
        return None
    instead = any(t.is_word("INSTEAD") for t in tokens[:on])
    return f"{'view' if kind == 'trigger' and instead else 'table'} {_key_name(owner)}"


def _first_name(tokens: Sequence[_Token]) -> Optional[str]:
    return _name_of(tokens[0]) if tokens else None
