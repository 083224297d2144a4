"""Printing for the command line: aligned tables, JSON, and quiet mode.

A reader that stops reading (``nocodo-agents status --json | head``) closes
stdout: the next write raises :class:`OutputClosed`, which ends the command
quietly with exit 141 (128 + SIGPIPE, what a shell reports for a program
stopped by a closed pipe), never with an error message. During ``migrate``
that happens between two migrations (progress is printed after a commit), so
nothing is left half-done.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

#: The exit code of a command whose reader closed stdout: 128 + SIGPIPE.
CLOSED_OUTPUT_EXIT = 141


class OutputClosed(Exception):
    """stdout was closed by its reader; the command stops without another word."""


def _print(text: str, stream: TextIO, *, stdout: bool) -> None:
    """Print one line; a closed stdout ends the command (:class:`OutputClosed`), a closed stderr is ignored."""
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        _silence(stream)
        if stdout:
            raise OutputClosed() from None


def _silence(stream: TextIO) -> None:
    """Point the closed stream at /dev/null, so that Python's flush at exit does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (a test's StringIO): nothing to flush at exit
        pass


class Output:
    """Where a command writes: results on stdout, problems on stderr; ``quiet`` keeps only results."""

    def __init__(self, quiet: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> None:
        """``out`` and ``err`` default to ``sys.stdout`` and ``sys.stderr`` as they are when the command starts."""
        self.quiet = quiet
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr

    def line(self, text: str = "") -> None:
        """A line of progress or summary (suppressed by ``-q``)."""
        if not self.quiet:
            _print(text, self.out, stdout=True)

    def result(self, text: str) -> None:
        """Output that is the command's answer (SQL of a dry run, a table asked for): always printed."""
        _print(text, self.out, stdout=True)

    def note(self, text: str) -> None:
        """Something the user should know about the answer, on stderr so stdout stays parseable (``-q`` hides it)."""
        if not self.quiet:
            _print(f"nocodo-agents: note: {text}", self.err, stdout=False)

    def error(self, text: str) -> None:
        _print(f"nocodo-agents: error: {text}", self.err, stdout=False)

    def hint(self, text: str) -> None:
        """The command to run next, after an error (always printed: it belongs to the error)."""
        _print(f"nocodo-agents: hint: {text}", self.err, stdout=False)

    def json(self, value: Any) -> None:
        import json  # only --json needs it

        _print(json.dumps(value, indent=2, sort_keys=False), self.out, stdout=True)

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], headers: Sequence[str]) -> None:
        """An aligned text table; ``None`` prints as ``-``."""
        cells = [[("-" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
        lines = ["  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip() for values in [list(headers)] + cells]
        self.result("\n".join(lines))  # one write and one flush for the whole table, however many rows
