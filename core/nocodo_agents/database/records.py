"""The rows of the agents' tables as frozen records, and how a row becomes one.

:class:`Session`, :class:`Message` and :class:`ToolCall` mirror the
columns of ``agent_sessions``, ``agent_messages`` and ``agent_tool_calls``
(the ``SELECT`` statements list their fields, in order). JSON columns are
stored as text and given back parsed. The underscored helpers serve
:mod:`.store` only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..errors import InvalidArgumentTypeError

#: The values the schema allows in ``agent_sessions.status``.
SESSION_STATUSES = ("running", "completed", "failed", "waiting_for_user_input")
#: The values the schema allows in ``agent_messages.role``.
MESSAGE_ROLES = ("user", "assistant", "system", "tool")
#: The values the schema allows in ``agent_tool_calls.status``.
TOOL_CALL_STATUSES = ("pending", "completed", "failed")


@dataclass(frozen=True)
class Session:
    """One row of ``agent_sessions``: an agent run. ``config`` is parsed JSON."""

    id: int
    agent_name: str
    provider: str
    model: str
    system_prompt: str | None
    user_prompt: str
    config: Any
    status: str
    started_at: int
    ended_at: int | None
    result: str | None
    error: str | None


@dataclass(frozen=True)
class Message:
    """One row of ``agent_messages``: a turn of a session's conversation."""

    id: int
    session_id: int
    role: str
    content: str
    created_at: int


@dataclass(frozen=True)
class ToolCall:
    """One row of ``agent_tool_calls``. ``request`` and ``response`` are parsed JSON."""

    id: int
    session_id: int
    message_id: int | None
    tool_call_id: str
    tool_name: str
    request: Any
    response: Any
    status: str
    created_at: int
    completed_at: int | None
    execution_time_ms: int | None
    error_details: str | None


def _columns(record: type) -> str:
    return ", ".join(f.name for f in fields(record))


_SELECT_SESSIONS = f"SELECT {_columns(Session)} FROM agent_sessions"
_SELECT_MESSAGES = f"SELECT {_columns(Message)} FROM agent_messages"
_SELECT_TOOL_CALLS = f"SELECT {_columns(ToolCall)} FROM agent_tool_calls"


def _now() -> int:
    return int(time.time())


def _to_json(value: Any, argument: str) -> str:
    """``value`` as JSON text; :class:`InvalidArgumentTypeError` naming ``argument`` if it cannot be."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentTypeError(
            argument=argument, value=value, expected=f"a JSON-serialisable value (dicts, lists, text, numbers, booleans, None): {error}"
        ) from error


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _session(row: Sequence[Any]) -> Session:
    values = dict(zip((f.name for f in fields(Session)), row))
    values["config"] = _from_json(values["config"])
    return Session(**values)


def _tool_call(row: Sequence[Any]) -> ToolCall:
    values = dict(zip((f.name for f in fields(ToolCall)), row))
    values["request"] = _from_json(values["request"])
    values["response"] = _from_json(values["response"])
    return ToolCall(**values)
