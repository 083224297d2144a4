"""The scale-curve chart: per-migration cost against n, log-log, one line per subject."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from . import peers
from .results import ScalePoint


def draw(points: Sequence[ScalePoint], path: Path, title: str) -> str | None:
    """Write the PNG; returns None, or why it was not written (matplotlib missing, nothing to draw)."""
    if not points:
        return "no scale points measured"
    if not peers.installed("matplotlib"):
        return peers.missing("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for p in points:
        lines[(p.series, p.subject)].append((p.n, p.seconds / p.n * 1e3))
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for (series, subject), values in sorted(lines.items()):
        values.sort()
        axes.plot([n for n, _ in values], [ms for _, ms in values], marker="o", label=f"{subject} ({series})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("migrations applied to a fresh SQLite file (n)")
    axes.set_ylabel("median ms per migration")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return None
