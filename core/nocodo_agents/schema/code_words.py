"""A statement's code as words: what the statement checks read, comments and string contents left out.

:func:`code_words` reads a statement with :mod:`.lexer` as the runner has
the server read migrations, so the checks (:mod:`.transaction_control`,
:mod:`.session_state`, :mod:`.touched`) never mistake a string literal or a
comment for code. :func:`qualified_name` reads a name written in parts
(``s.t``, ``"s".t``, ```s`.`t```), however each part is quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from .lexer import COMMENT, EXEC_CLOSE, EXEC_OPEN, STRING, SqlLexError, SqlSyntax, tokens

__all__ = ["code_words", "first_word", "qualified_name", "unquoted"]

_QUOTES = ('"', "`", "[")

#: Text every dialect's lexer reads as bare words and one-character punctuation: no quote, comment,
#: dollar, ``@``, ``#``, ``:``, ``-``, ``/`` or character beyond ASCII. Most migrations' statements are
#: such text, and for it a regular expression gives exactly the lexer's words (see :func:`code_words`).
PLAIN_SQL = re.compile(r"[A-Za-z0-9_ \t\r\n(),.;=<>*+]*\Z")
#: A word of plain text (the lexer's word, restricted to its characters), or one punctuation character.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*|[^ \t\r\n]")
#: A statement opening (after whitespace) with a bare word that whitespace, ``(`` or ``;`` ends:
#: that word is its first token for every dialect's lexer.
_LEADING_WORD = re.compile(r"[ \t\r\n]*([A-Za-z_][A-Za-z0-9_]*)(?=[ \t\r\n(;]|\Z)")


def first_word(statement: str, dialect: str) -> str:
    """The statement's first word, upper-cased, after whitespace and comments (``""`` if none)."""
    leading = _LEADING_WORD.match(statement)
    if leading is not None:
        return leading.group(1).upper()
    for token in code_words(statement, dialect, limit=1):
        return token.upper()
    return ""


def code_words(sql: str, dialect: str, limit: int | None = None) -> Iterator[str]:
    """Words, quoted identifiers (with their quotes), ``'`` for a string, and punctuation; comments skipped.

    Read by :mod:`nocodo_agents.schema.lexer` as the runner has the server
    read migrations, the text of every MySQL executable comment counting as
    code. The body of a PostgreSQL dollar quote is read as code too (a
    ``DO $$ ... $$`` block runs it). Text that does not lex to the end (an
    unterminated string under these rules) ends with one ``'``.
    """
    produced = 0
    if PLAIN_SQL.match(sql):  # no lexing needed: the same words, without a generator step per token
        for match in _PLAIN_WORD.finditer(sql):
            if limit is not None and produced >= limit:
                return
            produced += 1
            yield match.group(0)
        return
    for token in _code_words(sql, SqlSyntax.default(dialect), 0, len(sql)):
        if limit is not None and produced >= limit:
            return
        produced += 1
        yield token


def _code_words(sql: str, syntax: SqlSyntax, start: int, end: int) -> Iterator[str]:
    try:
        for token in tokens(sql[:end], syntax, start):
            if token.kind in (COMMENT, EXEC_OPEN, EXEC_CLOSE):
                continue
            if token.kind == STRING and sql.startswith("$", token.start):  # a dollar quote: its body is code
                tag = sql.index("$", token.start + 1) + 1 - token.start
                yield from _code_words(sql[: token.end - tag], syntax, token.start + tag, token.end - tag)
                continue
            yield "'" if token.kind == STRING else sql[token.start : token.end]
    except SqlLexError:
        yield "'"


def unquoted(word: str) -> str:
    """A name as the servers compare it: a quoted one exactly (quotes dropped), a bare one lower-cased."""
    if word[:1] in _QUOTES:
        return word[1:-1]
    return word.lower()


def qualified_name(words: Sequence[str], position: int) -> tuple[list[str], int]:
    """The parts of the name starting at ``words[position]`` (see :func:`unquoted`) and the position after it.

    The lexer reads a dotted bare name as one word (``s.t``, and ``s.`` before
    a quoted part) and a quoted part as a word of its own, so both are
    followed. ``([], position)`` when no name starts there.
    """
    parts: list[str] = []
    while position < len(words):
        word = words[position]
        if word[:1] in _QUOTES:
            parts.append(unquoted(word))
        elif word[:1].isalnum() or word[:1] == "_" or word[:1] > "\x7f":
            parts.extend(part.lower() for part in word.split(".") if part)
        else:
            break
        position += 1
        if position < len(words) and words[position] == ".":
            position += 1
            continue
        if word.endswith("."):
            continue
        break
    return parts, position
