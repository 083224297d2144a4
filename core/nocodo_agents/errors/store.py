"""Errors of the ``Database`` store (sessions, messages, tool calls): a missing row, a value its schema rejects."""

from __future__ import annotations

from collections.abc import Sequence

from .base import InvalidArgumentError, MigrationError


class RowNotFoundError(MigrationError, KeyError):
    """A row a call names does not exist: nothing was written. Also a :class:`KeyError`, as it used to be.

    ``missing`` holds ``(kind, id)`` for each missing row (``("session", 42)``),
    empty when the database did not say which; ``detail`` is the database's
    words when it refused a row referring to it.
    """

    def __init__(self, *, missing: Sequence[tuple[str, int]], detail: str | None = None) -> None:
        self.missing = tuple(missing)
        self.detail = detail
        named = " and no ".join(f"{kind} with id {row_id}" for kind, row_id in self.missing) or "referenced row"
        super().__init__(f"no {named}" + (f" ({detail})" if detail else ""))

    def __str__(self) -> str:
        return str(self.args[0])  # the message as written (KeyError's own would quote it)


class RejectedValueError(InvalidArgumentError):
    """A value the store's schema rejects (an unknown status or role, a required value missing): nothing was written.

    ``argument`` names the value (``"status"``; ``None`` when the database
    did not say which), ``value`` is what was given, ``problem`` says what is
    wrong and what is allowed. Also a :class:`ValueError`, as it used to be.
    """

    def __init__(self, *, argument: str | None, value: object, problem: str) -> None:
        self.argument = argument  # type: ignore[assignment]
        self.value = value
        self.expected = problem
        self.problem = problem
        MigrationError.__init__(self, problem)


class SessionNotPausedError(MigrationError, ValueError):
    """``resume_session`` was asked to resume a session that is not waiting for user input: nothing was changed.

    ``status`` is the session's status. Also a :class:`ValueError`, as it used to be.
    """

    def __init__(self, *, session_id: int, status: str) -> None:
        self.session_id = session_id
        self.status = status
        super().__init__(
            f"session {session_id} is {status!r}, not 'waiting_for_user_input': only a session "
            f"paused with pause_session_for_user_input() can be resumed"
        )
