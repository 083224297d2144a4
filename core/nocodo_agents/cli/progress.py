"""How ``migrate`` and ``rollback`` report each step as it is committed.

Three ways, chosen once per command:

- ``--json``: one JSON object per line on stdout for each step, then a
  summary object (:func:`json_line`), for deploy pipelines; nothing else on stdout.
- On a terminal: each step's line on stdout, as without a terminal, and
  below it a live line on stderr with a bar where the number of steps is
  known, the count, the elapsed time and the step last done, redrawn at most
  ten times a second (:class:`LiveLine`).
- Otherwise (a pipe, a file, a CI log): the step lines only. ``-q`` prints none
  of them.
"""

from __future__ import annotations

import os
import time
from typing import Any, TextIO

from .output import Output

#: The fewest seconds between two redraws of the live line (its last state is always drawn).
REDRAW_EVERY = 0.1
_BAR_WIDTH = 24


def json_line(output: Output, event: dict[str, Any]) -> None:
    """``event`` as one line of JSON on stdout (printed with ``-q`` too: it is the command's answer)."""
    import json  # only --json needs it

    output.result(json.dumps(event, sort_keys=False))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # closed, or not a real stream
        return False


def _columns(stream: TextIO) -> int:
    """The terminal's width: what it says, else ``$COLUMNS``, else 80 (a new pseudo-terminal says 0)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    if columns <= 0:
        try:
            columns = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            columns = 0
    return columns if columns > 0 else 80


class LiveLine:
    """A status line on a terminal's stderr under the step lines: ``[####----] 45/100 elapsed 1.2 s  V145__x``."""

    def __init__(self, stream: TextIO, total: int, verb: str) -> None:
        self.stream = stream
        self.total = total
        self.verb = verb
        self.done = 0
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.shown = False

    def clear(self) -> None:
        """Erase the line (before a step line is printed above it, and at the end)."""
        if self.shown:
            self._write("\r\x1b[K")
            self.shown = False

    def advance(self, what: str, *, force: bool = False) -> None:
        """One more step done (``what`` names it); redraw unless drawn less than :data:`REDRAW_EVERY` ago."""
        self.done += 1
        now = time.monotonic()
        if not force and self.done < self.total and now - self.drawn_at < REDRAW_EVERY:
            return
        self.drawn_at = now
        self._write("\r\x1b[K" + self.text(now - self.started, what))
        self.shown = True

    def text(self, elapsed: float, what: str) -> str:
        """The line itself, cut to the terminal's width."""
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        bar = ""
        if self.total:
            filled = min(_BAR_WIDTH, _BAR_WIDTH * self.done // self.total)
            bar = "[" + "#" * filled + "-" * (_BAR_WIDTH - filled) + f"] {100 * self.done // self.total:3d}% "
        line = f"{bar}{count} {self.verb}, elapsed {elapsed:.1f} s  {what}"
        return line[: max(_columns(self.stream) - 1, 10)]

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the step lines still say everything
            pass


def live_line(output: Output, total: int, verb: str, *, json: bool) -> LiveLine | None:
    """A :class:`LiveLine` when stdout and stderr are a terminal and the command prints lines, else None."""
    if json or output.quiet or not (_is_terminal(output.out) and _is_terminal(output.err)):
        return None
    return LiveLine(output.err, total, verb)
