"""Reading SQLite's SQL text for the describer: what a CREATE statement says, and a normalizer.

What SQLite does not report through its pragmas (CHECK constraints, column
collations, generated-column expressions, AUTOINCREMENT, deferred foreign
keys, partial index conditions) is read from the CREATE statement's tokens
(:func:`~.sqlite_tokens.sql_tokens`, the one lexer's with SQLite's rules).
:func:`render` writes tokens back in a canonical form, so that the
same schema written differently describes the same: comments dropped,
whitespace canonical, keywords upper-cased, identifiers unquoted unless they
need quoting or are keywords (then double-quoted), ``==`` written ``=`` and
``<>`` written ``!=``, ``IF NOT EXISTS`` dropped. Identifier case is kept as
written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from .sqlite_tokens import Token, sql_tokens

__all__ = [
    "TableText",
    "Token",
    "key_name",
    "matching_paren",
    "name_of",
    "normalize",
    "normalized_statement",
    "parenthesised_after",
    "read_table_sql",
    "render",
    "split_commas",
    "sql_tokens",
]

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

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")

#: Operators SQLite treats as the same, written one way.
_SAME_OPERATOR = {"==": "=", "<>": "!="}

#: The words that open a table constraint rather than a column definition.
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})


def key_name(name: str) -> str:
    """``name`` as written in keys: bare when a plain ASCII identifier, else double-quoted."""
    if _PLAIN_NAME.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _canonical(token: Token) -> str:
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


def _is_keyword(token: Token | None) -> bool:
    return token is not None and token.kind == "word" and token.text.upper() in _KEYWORDS


def render(tokens: Sequence[Token]) -> str:
    """Tokens as canonical text: single spaces, none inside parentheses, before commas or around dots.

    A ``(`` directly follows a function or type name (``lower(x)``,
    ``VARCHAR(255)``) and is spaced after a keyword (``IN (...)``); a unary
    sign sticks to its operand (``DEFAULT -1``).
    """
    parts: list[str] = []
    previous: Token | None = None
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


def normalize(sql: str) -> str:
    """Canonical text of an expression or statement."""
    return render(sql_tokens(sql))


def matching_paren(tokens: Sequence[Token], opening: int) -> int:
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


def split_commas(tokens: Sequence[Token]) -> list[list[Token]]:
    """``tokens`` split at the commas outside parentheses."""
    items: list[list[Token]] = [[]]
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


def parenthesised_after(tokens: Sequence[Token], start: int) -> tuple[list[Token], int]:
    """The tokens inside the first ``(...)`` at or after ``start``, and the index after its ``)``."""
    for index in range(start, len(tokens)):
        if tokens[index].is_op("("):
            end = matching_paren(tokens, index)
            return list(tokens[index + 1 : end]), end + 1
    return [], len(tokens)


def _drop_if_not_exists(tokens: list[Token]) -> list[Token]:
    """A CREATE statement's tokens without ``TEMP``/``TEMPORARY`` and ``IF NOT EXISTS``."""
    result = [t for i, t in enumerate(tokens) if not (i == 1 and t.is_word("TEMP", "TEMPORARY"))]
    for index in range(len(result) - 2):
        if result[index].is_word("IF") and result[index + 1].is_word("NOT") and result[index + 2].is_word("EXISTS"):
            return result[:index] + result[index + 3 :]
    return result


def normalized_statement(sql: str) -> str:
    """A view's or trigger's CREATE statement, normalized."""
    return render(_drop_if_not_exists(sql_tokens(sql)))


def name_of(token: Token) -> str | None:
    return token.text if token.kind in ("word", "ident") else None


def _deferred(clause: Sequence[Token]) -> bool:
    """Whether a REFERENCES clause is ``DEFERRABLE INITIALLY DEFERRED`` (the only deferred form)."""
    for index, token in enumerate(clause):
        if token.is_word("DEFERRABLE") and not (index > 0 and clause[index - 1].is_word("NOT")):
            rest = clause[index + 1 : index + 3]
            return len(rest) == 2 and rest[0].is_word("INITIALLY") and rest[1].is_word("DEFERRED")
    return False


class TableText(NamedTuple):
    """What a CREATE TABLE statement says that SQLite's pragmas do not."""

    options: list[str]  # "WITHOUT ROWID", "STRICT"
    checks: list[str]
    collations: dict[str, str]  # lower-cased column name -> collation
    generated: dict[str, str]  # lower-cased column name -> expression
    deferred: set[tuple[str, ...]]  # lower-cased FK columns of deferred foreign keys
    autoincrement: bool


def read_table_sql(sql: str) -> TableText:
    """Parse the parts of a CREATE TABLE statement that SQLite reports nowhere else."""
    tokens = sql_tokens(sql)
    text = TableText([], [], {}, {}, set(), any(t.is_word("AUTOINCREMENT") for t in tokens))
    for index, token in enumerate(tokens):
        if token.is_word("CHECK") and index + 1 < len(tokens) and tokens[index + 1].is_op("("):
            text.checks.append(render(tokens[index + 2 : matching_paren(tokens, index + 1)]))
    opening = next((i for i, t in enumerate(tokens) if t.is_op("(") or t.is_word("AS")), len(tokens))
    if opening == len(tokens) or not tokens[opening].is_op("("):
        return text  # CREATE TABLE ... AS SELECT: no definitions to read
    closing = matching_paren(tokens, opening)
    tail = tokens[closing + 1 :]
    if any(t.is_word("WITHOUT") for t in tail):
        text.options.append("WITHOUT ROWID")
    if any(t.is_word("STRICT") for t in tail):
        text.options.append("STRICT")
    for item in split_commas(tokens[opening + 1 : closing]):
        _read_definition(item, text)
    return text


def _read_definition(item: list[Token], text: TableText) -> None:
    """Record the collation, generated expression and deferred FK of one column or table constraint."""
    first = item[0]
    references = next((i for i, t in enumerate(item) if t.is_word("REFERENCES")), None)
    if first.kind == "word" and first.text.upper() in _TABLE_CONSTRAINTS:
        foreign = next((i for i, t in enumerate(item) if t.is_word("FOREIGN")), None)
        if foreign is not None and references is not None and _deferred(item[references:]):
            columns, _ = parenthesised_after(item, foreign)
            names = [name_of(column[0]) for column in split_commas(columns)]
            text.deferred.add(tuple(n.lower() for n in names if n is not None))
        return
    column = (name_of(first) or "").lower()
    depth = 0
    for index, token in enumerate(item):
        if token.is_op("("):
            depth += 1
        elif token.is_op(")"):
            depth -= 1
        if depth or index + 1 >= len(item):
            continue
        following = item[index + 1]
        if token.is_word("COLLATE") and name_of(following):
            text.collations[column] = following.text.upper()
        elif token.is_word("AS") and following.is_op("("):
            text.generated[column] = render(item[index + 2 : matching_paren(item, index + 1)])
    if references is not None and _deferred(item[references:]):
        text.deferred.add((column,))
