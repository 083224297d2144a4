"""SQLite's SQL text as the describer reads it: the one lexer's tokens, in a finer grain.

:func:`sql_tokens` takes the tokens :mod:`.lexer` reads with SQLite's rules
(so strings, quoted names and comments end where the splitter says they do)
and gives them as the describer needs them: a qualified name in its parts,
a number with its exponent, a blob ``X'..'`` and an operator of two or three
characters as one token each, a quoted name without its quotes.
"""

from __future__ import annotations

from typing import NamedTuple

from .lexer import COMMENT, IDENTIFIER, PUNCT, STRING, WORD, SqlLexError, SqlSyntax, tokens

__all__ = ["Token", "sql_tokens"]

_SQLITE = SqlSyntax("sqlite")
#: SQLite's operators of more than one character, longest first (the lexer gives one token per character).
_OPERATORS = ("->>", "||", "<<", ">>", "<=", ">=", "==", "!=", "<>", "->")
_CLOSING_QUOTE = {'"': '"', "`": "`", "[": "]"}


class Token(NamedTuple):
    """One SQL token; ``text`` of an ``ident`` is the name without its quotes."""

    kind: str  # "word", "ident", "string", "number" or "op"
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops


def sql_tokens(sql: str) -> list[Token]:
    """The tokens of ``sql``, comments and whitespace dropped.

    Text SQLite would not read to the end (an unterminated string or quoted
    name) ends with one token holding the rest, as SQLite never stores such text.
    """
    read: list[Token] = []
    lexed = _lexed(sql)
    index = 0
    while index < len(lexed):
        kind, start, end = lexed[index]
        index += 1
        text = sql[start:end]
        if kind == STRING:
            read.append(Token("string", text))
        elif kind == IDENTIFIER:
            read.append(Token("ident", _unquoted(text)))
        elif text == "." and index < len(lexed) and lexed[index][1] == end and sql[end].isdigit():
            lexed[index] = (WORD, start, lexed[index][2])  # .5: a number, read on below
        elif kind == PUNCT:
            operator = next((op for op in _OPERATORS if sql.startswith(op, start)), text)
            index += len(operator) - len(text)  # its other characters are the next PUNCT tokens
            read.append(Token("op", operator))
        elif text in ("x", "X") and index < len(lexed) and lexed[index][0] == STRING and lexed[index][1] == end:
            read.append(Token("string", "X" + sql[end : lexed[index][2]].upper()))  # a blob X'..'
            index += 1
        elif text[0].isdigit() or text[0] == ".":
            if _signed_exponent(sql, text, end):
                text += sql[end : lexed[index + 1][2]]  # 1.5e-3: the lexer's word stops at the exponent's sign
                index += 2
            read.append(Token("number", text))
        else:
            read.extend(_qualified(text))
    return read


def _lexed(sql: str) -> list[tuple[str, int, int]]:
    """SQLite's lexer tokens of ``sql``, comments left out; the rest of unreadable text as one token."""
    read: list[tuple[str, int, int]] = []
    try:
        for token in tokens(sql, _SQLITE):
            if token.kind != COMMENT:
                read.append(token)
    except SqlLexError as error:
        read.append((STRING if sql[error.offset] == "'" else IDENTIFIER, error.offset, len(sql)))
    return read


def _signed_exponent(sql: str, number: str, end: int) -> bool:
    """Whether the number ``number`` ending at ``end`` goes on with an exponent's sign and digits (``1e`` ``-`` ``3``)."""
    decimal = number[-1] in "eE" and number[:2] not in ("0x", "0X")
    return decimal and sql[end : end + 1] in ("+", "-") and sql[end + 1 : end + 2].isdigit()


def _unquoted(text: str) -> str:
    """A quoted name's text: quotes dropped, a doubled closing quote written once (``[...]`` has none)."""
    closing = _CLOSING_QUOTE[text[0]]
    inner = text[1:-1] if len(text) > 1 and text.endswith(closing) else text[1:]
    return inner.replace(closing * 2, closing) if closing != "]" else inner


def _qualified(word: str) -> list[Token]:
    """A lexer word in its parts: ``main.t`` is ``main``, ``.``, ``t`` (the lexer reads a dotted name as one word)."""
    parts: list[Token] = []
    for index, part in enumerate(word.split(".")):
        if index:
            parts.append(Token("op", "."))
        if part:
            parts.append(Token("word", part))
    return parts
