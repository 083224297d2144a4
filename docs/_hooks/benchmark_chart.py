"""MkDocs hook: the benchmark chart, published on the site from where the benchmarks write it.

``python -m benchmarks`` writes ``benchmarks/results/scale.png`` (next to
``results.md``), outside ``docs/``. This hook adds that very file to the site as
``assets/benchmarks/scale.png``, which ``docs/performance.md`` shows, so the
chart on the site is always the committed one and is never copied by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

#: Where ``python -m benchmarks`` writes the chart, relative to the repository.
CHART = Path("benchmarks") / "results" / "scale.png"
#: Where the site serves it (``docs/performance.md`` links to this path).
SITE_PATH = "assets/benchmarks/scale.png"


def on_files(files: Files, *, config: Any, **kwargs: Any) -> Files:
    """Add the committed benchmark chart to the site's files."""
    chart = Path(config["config_file_path"]).resolve().parent / CHART
    if not chart.is_file():
        raise FileNotFoundError(f"{chart} is missing: the performance page shows it (python -m benchmarks writes it)")
    files.append(File.generated(config, SITE_PATH, abs_src_path=str(chart)))
    return files
