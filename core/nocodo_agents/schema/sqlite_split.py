"""Splitting SQLite migrations into statements with SQLite's own completeness rules."""

from __future__ import annotations

import sqlite3

from .lexer import COMMENT, PUNCT, SqlLexError, SqlSyntax, tokens
from .split import SplitError

__all__ = ["split_sqlite_statements"]

_SQLITE_SYNTAX = SqlSyntax.default("sqlite")


def split_sqlite_statements(sql: str) -> list[str]:
    """Split SQL text into complete statements, using SQLite's own tokenizer rules.

    Semicolons inside strings, comments and trigger bodies do not split. A
    piece holding only comments is no statement (as in the other dialects'
    splitter), so a trailing ``-- note`` is not counted or run.
    Text after the last complete statement holding an unterminated string or
    quoted name raises :class:`~nocodo_agents.schema.split.SplitError` (SQLite
    would refuse it; an unterminated comment ends with the text, as in SQLite).
    """
    statements: list[str] = []
    start = 0
    position = sql.find(";")
    while position >= 0:
        candidate = sql[start : position + 1]
        if sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            start = position + 1
        position = sql.find(";", position + 1)
    rest = sql[start:].strip()
    if rest and any(quote in rest for quote in "'\"`["):  # only a string or quoted name can be unterminated
        try:
            for _ in tokens(sql, _SQLITE_SYNTAX, start):
                pass
        except SqlLexError as error:
            raise SplitError(error.offset, sql.count("\n", 0, error.offset) + 1, error.what) from None
    if rest:
        statements.append(rest)
    return [s for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    """Whether ``statement`` (stripped) holds a token other than comments and semicolons.

    Only a statement opening with a comment or a semicolon is lexed: the others start with code.
    """
    if statement[:1] not in ("-", "/", ";"):
        return True
    try:
        for token in tokens(statement, _SQLITE_SYNTAX):
            if token.kind != COMMENT and not (token.kind == PUNCT and statement[token.start] == ";"):
                return True
    except SqlLexError:
        return True
    return False
