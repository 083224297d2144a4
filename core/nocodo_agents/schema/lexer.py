"""Reading SQL text as each server reads it: one lexer, one set of rules per dialect.

The splitter (:mod:`nocodo_agents.schema.split`), the emptiness check
(:func:`nocodo_agents.migration.has_statement`) and the statement checks
(:mod:`nocodo_agents.schema.transaction_control`, :mod:`nocodo_agents.schema.session_state`)
all see the same tokens, so they agree on where strings and comments end.

Per dialect:

* **PostgreSQL**: ``'...'`` strings (backslash escapes only with
  ``standard_conforming_strings = off``), ``E'...'`` strings (always), ``"..."``
  identifiers, ``$tag$ ... $tag$`` dollar quotes, ``--`` line comments and
  ``/* */`` block comments, which nest.
* **MySQL/MariaDB**: ``'...'`` and ``"..."`` strings (backslash escapes unless
  ``NO_BACKSLASH_ESCAPES``; ``"..."`` is an identifier under ``ANSI_QUOTES``),
  `````...````` identifiers, ``#`` comments, ``--`` comments only when followed
  by whitespace, a control character or the end, ``/* */`` comments, which do
  not nest. Executable comments are read as the server reads them:
  ``/*!NNNNN ... */`` is code when the server's version is at least NNNNN
  (five or six digits; MariaDB ignores 50700-99999, MySQL 5.7+ versions),
  ``/*M!NNNNNN ... */`` likewise on MariaDB only, ``/*! ... */`` always; their
  markers become :data:`EXEC_OPEN`/:data:`EXEC_CLOSE` tokens and their text is
  lexed as code. A skipped one is a comment (which may hold one nested
  ``/* */``, as on the server).
* **SQLite**: ``'...'`` strings, ``"..."``, `````...````` and ``[...]``
  identifiers, ``--`` and ``/* */`` comments (an unterminated block comment
  ends with the text).

Text the server would refuse to read (an unterminated string, identifier,
dollar quote or comment) raises :class:`SqlLexError` at its offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from re import Pattern
from typing import NamedTuple

#: Token kinds.
WORD = "word"  #: keywords, names, numbers, ``@var``, ``@@sys.var``, ``$1``
STRING = "string"  #: a string literal or dollar-quoted text, quotes (and ``E`` prefix) included
IDENTIFIER = "identifier"  #: a quoted identifier, quotes included
COMMENT = "comment"  #: a line or block comment (and a MySQL executable comment the server skips)
PUNCT = "punct"  #: one character of punctuation or an operator character; ``:=`` is one token
EXEC_OPEN = "exec_open"  #: ``/*!40101`` / ``/*M!100100`` / ``/*!`` opening an executable comment the server runs
EXEC_CLOSE = "exec_close"  #: the ``*/`` closing it

#: MariaDB skips ``/*!NNNNN`` comments in this range (MySQL 5.7+ syntax it may not understand).
_MYSQL57_VERSIONS = range(50700, 100000)
#: MySQL sql_mode flags (and combination modes) that make ``"..."`` an identifier.
_ANSI_QUOTES_MODES = frozenset({"ANSI_QUOTES", "ANSI", "ORACLE", "MSSQL", "DB2", "POSTGRESQL", "MAXDB"})

_SPACE = re.compile(r"\s+")
#: A word: every server reads a character beyond ASCII as part of a name (SQLite and PostgreSQL any,
#: MySQL up to U+FFFF), so those count as letters here, whether or not Python calls them letters.
_WORD = re.compile(r"[\w@$\x80-\U0010ffff][\w@$.\x80-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")
_VERSION = re.compile(r"[0-9]{5}[0-9]?")


class SqlLexError(Exception):
    """SQL text the server would refuse to read: ``what`` (an unterminated string...) at ``offset``."""

    def __init__(self, offset: int, what: str) -> None:
        self.offset = offset
        self.what = what
        super().__init__(f"{what} at offset {offset}")


@dataclass(frozen=True)
class SqlSyntax:
    """What decides how a server reads SQL text, for one dialect.

    ``backslash_escapes``: ``\\`` escapes a quote inside ``'...'`` (MySQL
    without ``NO_BACKSLASH_ESCAPES``; PostgreSQL with
    ``standard_conforming_strings = off``). ``ansi_quotes``: MySQL's
    ``"..."`` is an identifier. ``server_version``: the MySQL/MariaDB version
    as executable comments number it (``101119`` for 10.11.19); ``None`` runs
    every executable comment. ``mariadb``: the server is MariaDB. ``oracle``:
    MariaDB's ``sql_mode=ORACLE`` (stored programs in PL/SQL syntax).
    """

    dialect: str
    backslash_escapes: bool = False
    ansi_quotes: bool = False
    server_version: int | None = None
    mariadb: bool = True
    oracle: bool = False

    @classmethod
    def default(cls, dialect: str) -> SqlSyntax:
        """How the runner has the server read migrations (MySQL: backslash escapes, no ANSI_QUOTES; PostgreSQL: standard strings)."""
        return cls(dialect, backslash_escapes=dialect == "mysql")

    def with_sql_mode(self, sql_mode: str) -> SqlSyntax:
        """This syntax under MySQL ``sql_mode`` (comma-separated flags)."""
        flags = {flag.strip().upper() for flag in sql_mode.split(",")}
        return replace(
            self, backslash_escapes="NO_BACKSLASH_ESCAPES" not in flags, ansi_quotes=bool(flags & _ANSI_QUOTES_MODES), oracle="ORACLE" in flags
        )

    def runs(self, version: int | None, mariadb_only: bool) -> bool:
        """Whether the server runs the text of an executable comment numbered ``version`` (``None``: unnumbered)."""
        if mariadb_only and not self.mariadb:
            return False
        if version is None or self.server_version is None:
            return True
        if self.mariadb and not mariadb_only and version in _MYSQL57_VERSIONS:
            return False
        return version <= self.server_version


def mysql_version_id(server_info: str) -> tuple[int | None, bool]:
    """``(version id, is MariaDB)`` from a MySQL handshake version (``5.5.5-10.11.19-MariaDB`` -> ``(101119, True)``)."""
    mariadb = "mariadb" in server_info.lower()
    if mariadb and server_info.startswith("5.5.5-"):
        server_info = server_info[len("5.5.5-") :]
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", server_info)
    if match is None:
        return None, mariadb
    major, minor, patch = (int(part) for part in match.groups())
    return major * 10000 + minor * 100 + patch, mariadb


class Token(NamedTuple):
    """One token: its kind and where it lies in the text (``sql[start:end]``)."""

    kind: str
    start: int
    end: int


_QUOTED: dict[tuple[str, bool], Pattern[str]] = {}


def _quoted(quote: str, backslash: bool) -> Pattern[str]:
    """The quoted text opening with ``quote``: a doubled quote stays inside, and so does ``\\``-anything with ``backslash``."""
    key = (quote, backslash)
    pattern = _QUOTED.get(key)
    if pattern is None:
        q = re.escape(quote)
        if backslash:
            body = rf"[^{q}\\]*(?:(?:\\[\s\S]|{q}{q})[^{q}\\]*)*"
        else:
            body = rf"[^{q}]*(?:{q}{q}[^{q}]*)*"
        pattern = _QUOTED[key] = re.compile(q + body + q)
    return pattern


_UNTERMINATED = {"'": "an unterminated string", '"': "an unterminated quoted name or string", "`": "an unterminated quoted name"}


def tokens(sql: str, syntax: SqlSyntax, start: int = 0) -> Iterator[Token]:
    """The tokens of ``sql`` from ``start``, whitespace left out; raises :class:`SqlLexError`.

    One loop over the text, deliberately: every migration's SQL goes through
    it on every run (the split, the emptiness check, the statement checks),
    and with one more function call and generator step per token lexing
    took about a third longer (measured on 400 KB of statements). The rare
    and long cases are already helpers (:func:`_block`, :func:`_end_of_quoted`).
    """
    dialect = syntax.dialect
    mysql, postgresql = dialect == "mysql", dialect == "postgresql"
    position, length = start, len(sql)
    in_exec = False
    while position < length:
        char = sql[position]
        if char.isspace():
            position = _SPACE.match(sql, position).end()  # type: ignore[union-attr]
            continue
        if char == "-" and sql.startswith("--", position) and (
            not mysql or position + 2 >= length or sql[position + 2].isspace() or ord(sql[position + 2]) < 32
        ):
            end = sql.find("\n", position)
            end = length if end < 0 else end + 1
            yield Token(COMMENT, position, end)
            position = end
        elif char == "#" and mysql:
            end = sql.find("\n", position)
            end = length if end < 0 else end + 1
            yield Token(COMMENT, position, end)
            position = end
        elif char == "/" and sql.startswith("/*", position):
            token = _block(sql, position, syntax, in_exec)
            in_exec = in_exec or token.kind == EXEC_OPEN
            yield token
            position = token.end
        elif char == "*" and in_exec and sql.startswith("*/", position):
            in_exec = False
            yield Token(EXEC_CLOSE, position, position + 2)
            position += 2
        elif char == "'" or (char == '"' and mysql and not syntax.ansi_quotes):
            end = _end_of_quoted(sql, position, char, syntax.backslash_escapes and dialect != "sqlite")
            yield Token(STRING, position, end)
            position = end
        elif char == '"' or (char == "`" and dialect != "postgresql"):
            yield Token(IDENTIFIER, position, _end_of_quoted(sql, position, char, False))
            position = _end_of_quoted(sql, position, char, False)
        elif char == "[" and dialect == "sqlite":
            close = sql.find("]", position)
            if close < 0:
                raise SqlLexError(position, "an unterminated [quoted name]")
            yield Token(IDENTIFIER, position, close + 1)
            position = close + 1
        elif char == "$" and postgresql and _DOLLAR_TAG.match(sql, position):
            tag = _DOLLAR_TAG.match(sql, position).group(0)  # type: ignore[union-attr]
            close = sql.find(tag, position + len(tag))
            if close < 0:
                raise SqlLexError(position, f"an unterminated dollar-quoted string ({tag})")
            yield Token(STRING, position, close + len(tag))
            position = close + len(tag)
        elif char.isalnum() or char in "_@$" or char > "\x7f":
            end = _WORD.match(sql, position).end()  # type: ignore[union-attr]
            if postgresql and end == position + 1 and char in "eE" and sql.startswith("'", end):
                end = _end_of_quoted(sql, end, "'", True)  # E'...': backslash escapes whatever the setting
                yield Token(STRING, position, end)
            else:
                yield Token(WORD, position, end)
            position = end
        elif char == ":" and sql.startswith(":=", position):
            yield Token(PUNCT, position, position + 2)
            position += 2
        else:
            yield Token(PUNCT, position, position + 1)
            position += 1
    if in_exec:
        raise SqlLexError(length, "an executable comment (/*! ... */) that is not closed")


def _end_of_quoted(sql: str, position: int, quote: str, backslash: bool) -> int:
    match = _quoted(quote, backslash).match(sql, position)
    if match is None:
        raise SqlLexError(position, _UNTERMINATED[quote])
    return match.end()


def _block(sql: str, position: int, syntax: SqlSyntax, in_exec: bool) -> Token:
    """The block comment (or executable comment opening) at ``position``."""
    if syntax.dialect == "mysql":
        marker = 3 if sql.startswith("/*!", position) else 4 if sql.startswith("/*M!", position) else 0
        if marker:
            if in_exec:
                raise SqlLexError(position, "an executable comment inside another (the server refuses it)")
            digits = _VERSION.match(sql, position + marker)
            version = int(digits.group(0)) if digits else None
            end = digits.end() if digits else position + marker
            if syntax.runs(version, mariadb_only=marker == 4):
                return Token(EXEC_OPEN, position, end)
            return Token(COMMENT, position, _comment_end(sql, position, nesting=1))
        return Token(COMMENT, position, _comment_end(sql, position, nesting=0))
    if syntax.dialect == "postgresql":
        return Token(COMMENT, position, _comment_end(sql, position, nesting=None))
    close = sql.find("*/", position + 2)  # SQLite: an unterminated comment ends with the text
    return Token(COMMENT, position, len(sql) if close < 0 else close + 2)


def _comment_end(sql: str, start: int, nesting: int | None) -> int:
    """Index just past the block comment opening at ``start``, with ``nesting`` levels of ``/* */`` inside (``None``: any)."""
    depth, position = 1, start + 2
    while True:
        close = sql.find("*/", position)
        if close < 0:
            raise SqlLexError(start, "an unterminated /* comment")
        opening = sql.find("/*", position, close) if nesting is None or depth <= nesting else -1
        if opening >= 0:
            depth += 1
            position = opening + 2
            continue
        depth -= 1
        position = close + 2
        if depth == 0:
            return position
