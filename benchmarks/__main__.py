"""Run every benchmark (or those named by --only), print the table, write the results file and the chart.

    bash benchmarks/run.sh [options]        # builds benchmarks/.venv with the peers, then runs this
    python -m benchmarks [options]          # with whatever is installed; missing peers are reported

Options: --quick (smoke run: tiny sizes, 2 rounds, results under benchmarks/.work/quick),
--only NAME (repeatable), --max-n N (largest scale/status size), --no-peers, --out DIR.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

from . import chart, machine
from .context import DISK, ROOT, Context
from .results import markdown_document, text_table

RESULTS_DIR = ROOT / "benchmarks" / "results"
CHART = "scale.png"


def _scenarios() -> dict[str, Callable[[Context], None]]:
    from . import scenario_apply, scenario_cli_noop, scenario_first_call, scenario_inprocess_noop, scenario_servers, scenario_status

    return {
        "cli-noop": scenario_cli_noop.run,
        "inprocess-noop": scenario_inprocess_noop.run,
        "apply": scenario_apply.run,
        "scale": scenario_apply.run_scale,
        "status": scenario_status.run,
        "first-call": scenario_first_call.run,
        "servers": scenario_servers.run,
    }


def main(argv: list[str]) -> int:
    """Parse options, run the chosen scenarios in order, report."""
    scenarios = _scenarios()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 2 rounds")
    parser.add_argument("--only", action="append", choices=sorted(scenarios), metavar="NAME", help=f"run only NAME (repeatable): {', '.join(scenarios)}")
    parser.add_argument("--max-n", type=int, default=10_000, help="largest n for the scale and status curves (default 10000)")
    parser.add_argument("--no-peers", action="store_true", help="measure our side and the floors only")
    parser.add_argument("--out", type=Path, help="where results.md and scale.png go (default benchmarks/results; --quick: benchmarks/.work/quick)")
    args = parser.parse_args(argv)
    ctx = Context(quick=args.quick, max_n=args.max_n, with_peers=not args.no_peers)
    ctx.results.environment = machine.environment()
    out = args.out or (DISK / "quick" if args.quick else RESULTS_DIR)
    for name in args.only or list(scenarios):
        started = time.perf_counter()
        print(f"== {name} ...", flush=True)
        try:
            scenarios[name](ctx)
        finally:
            ctx.cleanup()
        print(f"== {name} done in {time.perf_counter() - started:.1f} s", flush=True)
    ctx.results.environment["load average at end"] = machine.environment()["load average at start"]
    problem = chart.draw(ctx.results.points, out / CHART, "nocodo-agents vs hand loop and peers: cost per migration")
    command = "bash benchmarks/run.sh " + " ".join(shlex.quote(a) for a in argv)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown_document(ctx.results, command.strip(), None if problem else CHART))
    print()
    for key, value in ctx.results.environment.items():
        print(f"{key}: {value}")
    print()
    print(text_table(ctx.results.rows))
    print()
    print(f"results: {out / 'results.md'}" + (f"; chart not written: {problem}" if problem else f"; chart: {out / CHART}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
