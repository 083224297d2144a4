"""Splitting a server dialect's SQL script into statements at top-level semicolons, as the server will read them.

The text is read by :mod:`nocodo_agents.schema.lexer`, so semicolons inside
strings, quoted identifiers, comments and dollar quotes do not split, under
the rules in force when each statement runs (:class:`SqlSyntax`). Nor do
semicolons inside a PostgreSQL ``CREATE FUNCTION/PROCEDURE``'s
``BEGIN ATOMIC ... END`` body or (as psql) parentheses, or inside a MySQL
compound statement: the body of a ``CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT``
or ``ALTER EVENT ... DO`` (``BEGIN ... END``, or one ``IF ... END IF``,
``WHILE ... END WHILE``... without ``BEGIN``), and MariaDB's compound
statements outside routines (``BEGIN NOT ATOMIC ... END``, ``IF ... END IF``,
``WHILE ... END WHILE``...). A MySQL compound statement is read to its ``END``
by :mod:`nocodo_agents.schema.routine` as the server parses it (``begin`` and
``end`` are names where they are not in statement position), or refused when
it cannot be read with certainty. On PostgreSQL ``BEGIN`` opens a body only
before ``ATOMIC``, and ``CASE``/``END`` right after ``AS`` or ``.`` are names
(``SELECT x AS end``). There is no ``DELIMITER`` command: it
belongs to the mysql client, not the server.

MySQL executable comments are read as the server reads them (see
:mod:`nocodo_agents.schema.lexer`): the text of one the server runs is code;
statements before, inside or after it split at its semicolons, and a
statement that ends inside one is closed there and the rest reopened with the
same marker (``/*!40101 SET a = 1; SET b = 2 */`` runs as
``/*!40101 SET a = 1 */`` and ``/*!40101 SET b = 2 */``). A statement
holding only comments (or executable comments the server skips) is dropped.

A statement that changes how the server reads the statements after it is
followed: MySQL ``SET sql_mode = '...'`` (``NO_BACKSLASH_ESCAPES``,
``ANSI_QUOTES``), also when saved in a user variable and set back from it,
and PostgreSQL ``SET [LOCAL] standard_conforming_strings``. When the new mode
cannot be read from the text (``SET sql_mode = CONCAT(...)``), the rest is
split under every mode it could be, and must split the same way under each.
Which mode a ``SET`` leaves is read by :mod:`nocodo_agents.schema.mode_changes`.
Text the splitter cannot split safely raises :class:`SplitError`.
"""

from __future__ import annotations

from dataclasses import replace

from .compound_statement import OPENERS
from .lexer import COMMENT, EXEC_CLOSE, EXEC_OPEN, PUNCT, WORD, SqlLexError, SqlSyntax, tokens
from .mode_changes import _UNREADABLE, _assigned, _assignments, _mode_source, _unquote, mysql_set, postgresql_set  # noqa: F401  (importable here, as before)
from .routine import RoutineBody, RoutineBodyError, oracle_program

_ROUTINES = frozenset({"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"})
#: The words naming what a ``CREATE`` makes that is not a routine: once one is read, a routine word later in the
#: statement is a name (``CREATE TABLE event (begin INT)``), not a body to keep whole.
_NOT_ROUTINES = frozenset(
    {
        "TABLE", "INDEX", "VIEW", "SEQUENCE", "SCHEMA", "DATABASE", "TYPE", "DOMAIN", "POLICY", "RULE", "EXTENSION",
        "ROLE", "USER", "SERVER", "TABLESPACE", "COLLATION", "STATISTICS", "PUBLICATION", "SUBSCRIPTION", "CAST",
        "OPERATOR", "CONVERSION", "LANGUAGE", "TRANSFORM", "MAPPING", "SYNONYM", "PACKAGE",
    }
)
#: How many mode changes the splitter cannot read it follows in one script (each doubles the work).
_MAX_UNREADABLE_MODES = 3


class SplitError(Exception):
    """SQL text the splitter cannot split safely: ``reason``, at ``offset`` (line ``line``) of the text.

    ``advice`` says what to do when it is not to close a string or comment
    (a routine body to wrap in ``BEGIN ... END``), else ``None``.
    """

    def __init__(self, offset: int, line: int, reason: str, advice: str | None = None) -> None:
        self.offset = offset
        self.line = line
        self.reason = reason
        self.advice = advice
        super().__init__(f"{reason} (line {line}, offset {offset})")


def split_statements(sql: str, dialect: str, syntax: SqlSyntax | None = None) -> list[str]:
    """The statements of ``sql`` for ``dialect`` (``"postgresql"`` or ``"mysql"``), stripped, in order.

    ``syntax`` says how the server will read the text (default:
    :meth:`SqlSyntax.default`, how the runner has it read migrations).
    Raises :class:`SplitError` for text the server would refuse to read
    (an unterminated string or comment...) or that splits differently under
    the modes an unreadable ``SET`` may leave.
    """
    syntax = syntax or SqlSyntax.default(dialect)
    try:
        return _Splitter(sql, syntax, _MAX_UNREADABLE_MODES).split(0)
    except SqlLexError as error:
        advice = error.advice if isinstance(error, RoutineBodyError) else None
        raise SplitError(error.offset, sql.count("\n", 0, error.offset) + 1, error.what, advice) from None


class _Splitter:
    """One pass over ``sql`` from an offset under one syntax (see :func:`split_statements`)."""

    def __init__(self, sql: str, syntax: SqlSyntax, unreadable_left: int, saved: dict[str, SqlSyntax] | None = None) -> None:
        self.sql = sql
        self.syntax = syntax
        self.unreadable_left = unreadable_left
        #: MySQL user variables holding a saved sql_mode (``SET @OLD_SQL_MODE = @@SQL_MODE``), as the syntax it gives.
        self.saved: dict[str, SqlSyntax] = dict(saved or {})

    def split(self, start: int) -> list[str]:
        """The statements from ``start`` to the end of the text."""
        sql, mysql = self.sql, self.syntax.dialect == "mysql"
        statements: list[str] = []
        piece_start, prefix = start, ""
        first = previous = ""  # the statement's first word and latest token (upper case); first is "" until code
        has_code = routine = kind_read = False  # kind_read: a CREATE's kind of object (routine or not) was read
        code: list[tuple[str, str]] = []  # the statement's code tokens, kept for a SET only
        depth = parens = 0
        exec_marker: str | None = None
        pending = before = ""  # PostgreSQL: a BEGIN, END or CASE waiting for the token after it; the token before it
        begin_at: int | None = None  # MySQL: a statement's first word BEGIN, waiting for the token after it (NOT: a block)
        body: RoutineBody | None = None  # MySQL: a routine's header and body, or a compound statement outside one
        line_comment_last = ends_in_line_comment = False  # the latest token is a -- or # comment (up to its newline)
        for token in tokens(sql, self.syntax, start):
            kind, text = token.kind, sql[token.start : token.end]
            if kind == EXEC_OPEN:
                exec_marker = text
                continue
            if kind == EXEC_CLOSE:
                exec_marker = None
                continue
            if kind == COMMENT:
                line_comment_last = text[:1] in "-#"  # a piece ending in it keeps the newline ending it
                continue
            ends_in_line_comment, line_comment_last = line_comment_last, False
            upper = text.upper() if kind == WORD else text
            if mysql:
                if begin_at is not None:
                    if kind == WORD and upper == "NOT":  # MariaDB's BEGIN NOT ATOMIC block
                        body = self._block(begin_at)
                        body.feed(WORD, "BEGIN", begin_at)
                    begin_at = None
                elif not has_code and kind == WORD:
                    if upper == "BEGIN":
                        begin_at = token.start
                    elif upper in OPENERS or (upper == "DECLARE" and self.syntax.oracle):  # MariaDB's IF/CASE... outside a routine
                        body = self._block(token.start)
            elif pending:
                depth = _block_depth(pending, upper, before, depth, routine)
                pending = ""
            if body is not None:
                body.feed(kind, upper, token.start)
            if kind == PUNCT and text == ";" and depth == 0 and parens == 0 and not (body is not None and body.open):
                if has_code:
                    statements.append(_piece(prefix + sql[piece_start : token.start], exec_marker, ends_in_line_comment))
                    change = self._mode_change(code) if first == "SET" else None
                    if change is not None:
                        return statements + self._after_mode_change(change, token.end, exec_marker, len(statements))
                piece_start, prefix = token.end, (exec_marker + " " if exec_marker else "")
                first = previous = ""
                has_code = routine = kind_read = False
                code, depth, parens, body, begin_at = [], 0, 0, None, None
                continue
            if not has_code:
                has_code, first = True, upper if kind == WORD else ""
            if kind == WORD:
                if (first == "CREATE" or (mysql and first == "ALTER")) and not kind_read and (upper in _ROUTINES or upper in _NOT_ROUTINES):
                    kind_read, routine = True, upper in _ROUTINES and (first == "CREATE" or upper == "EVENT")  # ALTER EVENT ... DO <body>
                    if mysql and self.syntax.oracle and (routine or upper == "PACKAGE"):
                        raise oracle_program(token.start, upper)
                    if routine and mysql:
                        body = RoutineBody(upper)
                if not mysql and upper in ("BEGIN", "END", "CASE"):
                    pending, before = upper, previous
            elif kind == PUNCT and not mysql and text in "()":
                parens = parens + 1 if text == "(" else max(parens - 1, 0)
            previous = upper  # any token (PostgreSQL: AS or . before END makes it a name)
            if first == "SET" and len(code) < 256:
                code.append((kind, text))
        if body is not None and body.open:
            raise RoutineBodyError(len(sql), body.unclosed())
        if has_code:
            statements.append(_piece(prefix + sql[piece_start:], exec_marker, line_comment_last))
        return statements

    def _block(self, offset: int) -> RoutineBody:
        """A MySQL compound statement outside a routine, starting at ``offset``."""
        if self.syntax.oracle:
            raise oracle_program(offset, "block")
        return RoutineBody.block()

    # -- statements that change how the rest is read ----------------------------------------------

    def _mode_change(self, code: list[tuple[str, str]]) -> SqlSyntax | None:
        """The syntax after a ``SET`` statement: ``None`` if it leaves it as it is, :data:`_UNREADABLE` if the text does not say."""
        if self.syntax.dialect == "mysql":
            return mysql_set(self.syntax, self.saved, code)
        if self.syntax.dialect == "postgresql":
            return postgresql_set(self.syntax, code)
        return None

    def _after_mode_change(self, change: SqlSyntax, offset: int, exec_marker: str | None, done: int) -> list[str]:
        """The statements after ``offset`` once a statement changed the syntax to ``change``."""
        if exec_marker is not None:  # the rest of an executable comment: split again from its start
            raise SqlLexError(offset, "a statement changing sql_mode inside an executable comment holding more statements")
        if change is not _UNREADABLE:
            return _Splitter(self.sql, change, self.unreadable_left, self.saved).split(offset)
        if self.unreadable_left <= 0:
            raise SqlLexError(offset, "too many statements setting sql_mode or standard_conforming_strings to values the text does not say")
        candidates = [
            replace(self.syntax, backslash_escapes=backslash, ansi_quotes=ansi)
            for backslash in (True, False)
            for ansi in ((False, True) if self.syntax.dialect == "mysql" else (False,))
        ]
        splits: list[list[str] | None] = []
        for candidate in candidates:
            try:
                splits.append(_Splitter(self.sql, candidate, self.unreadable_left - 1, self.saved).split(offset))
            except RoutineBodyError:
                raise
            except SqlLexError:
                splits.append(None)
        if splits[0] is None or any(split != splits[0] for split in splits):
            raise SqlLexError(
                offset,
                f"statement {done} sets sql_mode or standard_conforming_strings to a value the text does not say, and "
                f"the statements after it split differently depending on it (backslashes or double quotes in strings)",
            )
        return splits[0]


def _piece(text: str, exec_marker: str | None, ends_in_line_comment: bool) -> str:
    """One statement's text, trimmed: a trailing ``--``/``#`` comment keeps the newline that ends it.

    Without it, whatever follows the statement (the ``;`` a dry run prints,
    the `` */`` closing an executable comment) would fall inside the comment,
    and a routine's stored body would lose what the server keeps.
    """
    closing = " */" if exec_marker else ""
    trimmed = text.strip()
    if ends_in_line_comment:
        return trimmed + "\n" + closing.strip()
    return (trimmed + closing).strip()


def _block_depth(word: str, following: str, before: str, depth: int, routine: bool) -> int:
    """PostgreSQL: the ``BEGIN ATOMIC`` depth after ``word`` (BEGIN, END or CASE), knowing the tokens around it.

    ``BEGIN`` opens a routine's body only before ``ATOMIC`` (elsewhere it is a
    transaction or a name: ``RETURNS TABLE (begin int)``); inside the body a
    ``CASE`` opens an expression its ``END`` closes. Right after ``AS`` or
    ``.`` each is a name (``SELECT x AS end``, ``t.case``).
    """
    if before in ("AS", "."):
        return depth
    if word == "BEGIN":
        return depth + 1 if routine and depth == 0 and following == "ATOMIC" else depth
    if word == "CASE":
        return depth + 1 if depth > 0 else depth
    return depth - 1 if depth > 0 else depth
