"""Interleaved timing: every subject runs once per round, in an order that rotates from round to round.

A shared, loaded machine makes single timings meaningless; running the
subjects side by side lets the noise hit them alike. Each subject times its
own region (so set-up such as creating a fresh file stays outside) and
returns a :class:`Sample`. The summary of a subject is the median of its
samples and the median, over rounds, of its time divided by the reference
subject's time in the same round.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Sample:
    """One timed run: seconds, plus counts the subject measured on the way (peak RSS, statements...)."""

    seconds: float
    counts: dict[str, float] = field(default_factory=dict)


#: A subject: runs its work once and returns how long the timed part took.
Subject = Callable[[], Sample]


@dataclass
class Outcome:
    """What the rounds measured of one subject (``error`` set when it failed, then it was dropped)."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        """Median seconds, or None without samples."""
        return statistics.median(s.seconds for s in self.samples) if self.samples else None

    @property
    def ratio(self) -> float | None:
        """Median of the per-round ratios to the reference subject."""
        return statistics.median(self.ratios) if self.ratios else None

    def count(self, key: str) -> float | None:
        """Median of one count over the samples that carry it."""
        values = [s.counts[key] for s in self.samples if key in s.counts]
        return statistics.median(values) if values else None


def stopwatch(work: Callable[[], object]) -> Sample:
    """Time one call of ``work``."""
    started = time.perf_counter()
    work()
    return Sample(time.perf_counter() - started)


#: GNU time: it forks the measured command from its own small process, so the peak RSS it reports is the
#: command's alone (a child forked from this big process would inherit this process's RSS as its peak).
GNU_TIME = "/usr/bin/time"


def run_command(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> Sample:
    """Run a whole command and time it; then once more under GNU time for its peak RSS (KiB), ``peak_rss_kib``.

    Fails on a non-zero exit. Without GNU time the sample has no RSS.
    """
    started = time.perf_counter()
    done = subprocess.run(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-300:]}")
    sample = Sample(seconds)
    if os.path.exists(GNU_TIME):
        with tempfile.NamedTemporaryFile("r", prefix="nocodo-bench-rss-") as out:
            subprocess.run([GNU_TIME, "-f", "%M", "-o", out.name, *argv], env=dict(env) if env is not None else None, cwd=cwd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            sample.counts["peak_rss_kib"] = float(out.read().strip().splitlines()[-1])
    return sample


def interleave(subjects: Mapping[str, Subject], rounds: int, reference: str) -> dict[str, Outcome]:
    """Run every subject once per round, rotating the order; ratios are taken against ``reference``.

    A subject that raises is recorded with its error and left out of later
    rounds; the others go on.
    """
    names = list(subjects)
    outcomes = {name: Outcome(name) for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        this_round: dict[str, float] = {}
        for name in names[shift:] + names[:shift]:
            outcome = outcomes[name]
            if outcome.error is not None:
                continue
            try:
                sample = subjects[name]()
            except Exception as error:  # a peer failing must not stop the others
                outcome.error = f"{type(error).__name__}: {error}".splitlines()[0][:200]
                traceback.print_exc()
                continue
            outcome.samples.append(sample)
            this_round[name] = sample.seconds
        base = this_round.get(reference)
        if base:
            for name, seconds in this_round.items():
                outcomes[name].ratios.append(seconds / base)
    return outcomes
