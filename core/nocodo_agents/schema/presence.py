"""Whether SQL text holds a statement at all, read by the lexer as the splitter reads it.

Kept apart from :mod:`.migration` (a value the lowest layer holds) because it
needs :mod:`.sql_lexer`, which belongs to the schema layer above it.
"""

from __future__ import annotations

from .code_words import PLAIN_SQL
from .lexer import COMMENT, EXEC_CLOSE, EXEC_OPEN, SqlLexError, SqlSyntax, tokens


def has_statement(sql: str, dialect: str) -> bool:
    """Whether ``sql`` holds anything but whitespace, semicolons and comments, for ``dialect``.

    Read by :mod:`nocodo_agents.schema.lexer`, as the splitter reads it, up to
    the first token of code: ``#`` starts a comment on MySQL only; the text
    of MySQL's ``/*! ... */`` and MariaDB's ``/*M! ... */`` is code (whatever
    the server's version); PostgreSQL's block comments nest. Text that does
    not lex counts as code if it is a string (for the splitter to report),
    as a comment if it is an unterminated comment.
    """
    if PLAIN_SQL.match(sql):  # no comment or string: any character but whitespace and ``;`` is code
        return bool(sql.strip(" \t\r\n;"))
    try:
        for token in tokens(sql, SqlSyntax.default(dialect)):
            if token.kind not in (COMMENT, EXEC_OPEN, EXEC_CLOSE) and sql[token.start : token.end] != ";":
                return True
    except SqlLexError as error:
        return "comment" not in error.what
    return False
