"""What every scenario is given: sizes and rounds for this run, where to put files, which peers to include."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import peers
from .results import Results

ROOT = Path(__file__).resolve().parent.parent
#: Files on tmpfs (RAM): commits cost no fsync.
TMPFS = Path("/dev/shm")
#: Files on disk: the work directory inside the benchmark folder (git-ignored).
DISK = ROOT / "benchmarks" / ".work"


@dataclass
class Context:
    """One run's settings; ``rounds(full)`` shrinks everything in ``--quick`` mode."""

    quick: bool = False
    max_n: int = 10_000
    with_peers: bool = True
    results: Results = field(default_factory=Results)
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    _dirs: list[Path] = field(default_factory=list)

    def rounds(self, full: int) -> int:
        """How many interleaved rounds: ``full``, or 2 in quick mode."""
        return min(full, 2) if self.quick else full

    def peers(self, benchmark: str, names: Sequence[str]) -> list[str]:
        """The installed peers among ``names``; the others are recorded as skipped."""
        chosen = []
        for name in names:
            if not self.with_peers:
                self.results.skip(benchmark, name, "peers left out (--no-peers)")
            elif not peers.installed(name):
                self.results.skip(benchmark, name, peers.missing(name))
            else:
                chosen.append(name)
        return chosen

    def directory(self, where: Path, prefix: str) -> Path:
        """A new temporary directory under ``where`` (tmpfs falls back to disk), removed by :meth:`cleanup`."""
        base = where if where.is_dir() else DISK
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"nocodo-bench-{prefix}-", dir=base))
        self._dirs.append(path)
        return path

    def cleanup(self) -> None:
        """Remove every directory :meth:`directory` made."""
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._dirs.clear()


def triples(planned: Sequence[object]) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of planned migrations, as the peers' project writers take them."""
    return [(p.version, p.name, ";\n".join(p.statements)) for p in planned]  # type: ignore[attr-defined]
