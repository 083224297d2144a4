"""Result rows and their rendering: the printed table and the markdown results file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .timing import Outcome


@dataclass
class Row:
    """One line of the results: a subject of a benchmark, its median, its ratio to the benchmark's floor."""

    benchmark: str
    subject: str
    median: float | None = None
    ratio: float | None = None
    note: str = ""


@dataclass
class ScalePoint:
    """One point of a scale curve: ``subject`` applying ``n`` migrations took ``seconds`` (median)."""

    series: str
    subject: str
    n: int
    seconds: float


@dataclass
class Results:
    """Everything one run of the harness measured."""

    rows: list[Row] = field(default_factory=list)
    points: list[ScalePoint] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    def add_outcomes(self, benchmark: str, outcomes: dict[str, Outcome], notes: dict[str, str] | None = None) -> None:
        """One row per subject: failures keep their error as the note."""
        for name, outcome in outcomes.items():
            note = (notes or {}).get(name, "")
            if outcome.error:
                note = f"failed: {outcome.error}"
            self.rows.append(Row(benchmark, name, outcome.median, outcome.ratio, note))

    def skip(self, benchmark: str, subject: str, reason: str) -> None:
        """A subject that was not measured, and why (peer not installed, feature absent)."""
        self.rows.append(Row(benchmark, subject, None, None, reason))


def seconds_text(value: float | None) -> str:
    """Seconds in a readable unit."""
    if value is None:
        return "n/a"
    if value < 1e-3:
        return f"{value * 1e6:.0f} us"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def ratio_text(value: float | None) -> str:
    """A ratio as ``4.2x``."""
    return "n/a" if value is None else f"{value:.2f}x"


HEADER = ("benchmark", "subject", "median", "ratio", "notes")


def _cells(rows: Sequence[Row]) -> list[list[str]]:
    return [[r.benchmark, r.subject, seconds_text(r.median), ratio_text(r.ratio), r.note] for r in rows]


def text_table(rows: Sequence[Row]) -> str:
    """The table as aligned plain text for the terminal."""
    cells = [list(HEADER)] + _cells(rows)
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER) - 1)]
    lines = []
    for line in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1])
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    """The table as GitHub markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "| " + " | ".join("---" for _ in HEADER) + " |"]
    for line in _cells(rows):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |")
    return "\n".join(lines)


def markdown_document(results: Results, command: str, chart_name: str | None) -> str:
    """The results file: command, environment, table, scale points, chart."""
    parts = ["# Benchmark results", "", f"Command: `{command}`", "", "## Environment", ""]
    parts += [f"- {key}: {value}" for key, value in results.environment.items()]
    parts += ["", "## Results", "", "Medians of interleaved rounds; *ratio* is the median of the per-round ratios "
              "to the benchmark's floor (the row whose ratio is 1.00x).", "", markdown_table(results.rows), ""]
    if results.points:
        parts += ["## Scale curves (median seconds per migration)", "", "| series | subject | n | total | per migration |", "| --- | --- | --- | --- | --- |"]
        for p in results.points:
            parts.append(f"| {p.series} | {p.subject} | {p.n} | {seconds_text(p.seconds)} | {seconds_text(p.seconds / p.n)} |")
        parts.append("")
    if chart_name:
        parts += [f"![scale curves]({chart_name})", ""]
    return "\n".join(parts)
