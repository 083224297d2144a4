"""Printing for the command line: aligned tables, JSON, and quiet mode."""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence, TextIO


class Output:
    """Where a command writes: results on stdout, problems on stderr; ``quiet`` keeps only results."""

    def __init__(self, quiet: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.quiet = quiet
        self.out = out
        self.err = err

    def line(self, text: str = "") -> None:
        """A line of progress or summary (suppressed by ``-q``)."""
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def result(self, text: str) -> None:
        """Output that is the command's answer (SQL of a dry run, a table asked for): always printed."""
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """Something the user should know about the answer, on stderr so stdout stays parseable (``-q`` hides it)."""
        if not self.quiet:
            print(f"nocodo-agents: note: {text}", file=self.err, flush=True)

    def error(self, text: str) -> None:
        print(f"nocodo-agents: error: {text}", file=self.err, flush=True)

    def hint(self, text: str) -> None:
        """The command to run next, after an error (always printed: it belongs to the error)."""
        print(f"nocodo-agents: hint: {text}", file=self.err, flush=True)

    def json(self, value: Any) -> None:
        import json  # only --json needs it

        print(json.dumps(value, indent=2, sort_keys=False), file=self.out, flush=True)

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], headers: Sequence[str]) -> None:
        """An aligned text table; ``None`` prints as ``-``."""
        cells = [[("-" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
        lines = ["  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip() for values in [list(headers)] + cells]
        self.result("\n".join(lines))  # one write and one flush for the whole table, however many rows
