"""Quoting long text in messages: a statement or a server's message, shortened to its start and end."""

from __future__ import annotations

#: How many characters of a statement an error quotes at most (its start and end, half each).
STATEMENT_LIMIT = 1000
#: How many characters of a driver's or server's message an error quotes at most.
MESSAGE_LIMIT = 4000


def shorten(text: str, limit: int = STATEMENT_LIMIT) -> str:
    """``text`` if it has at most ``limit`` characters; else its start and end, saying how long it was.

    A failing 10 MB statement must not make a 10 MB message; its start and
    end are what a reader recognises it by.
    """
    if len(text) <= limit:
        return text
    keep = max(limit // 2, 1)
    return f"{text[:keep]} [... {len(text) - 2 * keep} characters left out of {len(text)} ...] {text[-keep:]}"


def quote_statement(statement: str) -> str:
    """A statement as an error quotes it: stripped and shortened."""
    return shorten(statement.strip(), STATEMENT_LIMIT)


def quote_message(message: object) -> str:
    """A driver's or server's message (or an exception) as an error quotes it: shortened."""
    return shorten(str(message), MESSAGE_LIMIT)
