"""(6) The first call in a fresh process, in a virtual environment with 50+ installed distributions.

``python -c`` imports the runner and runs a no-op ``run_agent_migrations``
on an up-to-date file with ``agents=None`` (discovery of every installed
agent included), against the floor script reading the history in the same
environment. An audit hook in a separate, untimed run counts the metadata
files (``*.dist-info``/``*.egg-info``) the call opens.

The environment, benchmarks/.venv-many, is built once (pip, from its cache
or the index) and reused; --quick uses the running interpreter instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .context import DISK, ROOT, Context
from .timing import Subject, interleave, run_command
from .workload import HISTORY

NAME = "first-call"
MANY = ROOT / "benchmarks" / ".venv-many"
#: Ordinary distributions (with their dependencies, well over 50 in all), installed beside ours.
DISTRIBUTIONS = (
    "requests", "urllib3", "idna", "certifi", "charset-normalizer", "six", "python-dateutil", "pytz", "attrs", "click",
    "jinja2", "markupsafe", "pyyaml", "packaging", "pyparsing", "tabulate", "sqlparse", "mako", "SQLAlchemy", "alembic",
    "typing-extensions", "toml", "tomli", "colorama", "pygments", "rich", "markdown-it-py", "mdurl", "docutils", "iniconfig",
    "pytest", "wcwidth", "decorator", "tqdm", "filelock", "platformdirs", "distlib", "virtualenv", "cachetools", "pyasn1",
    "rsa", "jmespath", "wrapt", "more-itertools", "zipp", "importlib-metadata", "sortedcontainers", "hypothesis",
    "itsdangerous", "werkzeug", "flask", "blinker", "psycopg[binary]", "PyMySQL",
)
FLOOR = f"import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT * FROM {HISTORY}').fetchall(); c.close()"
OURS = "import sqlite3, sys; from nocodo_agents import run_agent_migrations; run_agent_migrations(sqlite3.connect(sys.argv[1]))"
COUNT_METADATA = (
    "import sys\n"
    "opened = set()\n"
    "def hook(event, args):\n"
    "    if event == 'open' and isinstance(args[0], str) and ('.dist-info' in args[0] or '.egg-info' in args[0]):\n"
    "        opened.add(args[0])\n"
    "sys.addaudithook(hook)\n"
    "import sqlite3\n"
    "from nocodo_agents import run_agent_migrations\n"
    "run_agent_migrations(sqlite3.connect(sys.argv[1]))\n"
    "print(len(opened))\n"
)


def build_many() -> tuple[Path | None, str]:
    """benchmarks/.venv-many with both distributions (from this tree) and DISTRIBUTIONS; (python, note)."""
    python = MANY / "bin" / "python"
    marker = MANY / ".distributions-installed"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    try:
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", str(MANY)], check=True)
            subprocess.run(pip + ["hatchling>=1.18", "pluggy>=1.2", *DISTRIBUTIONS], check=True)
            marker.touch()
        subprocess.run(pip + ["--no-build-isolation", "--no-deps", "--force-reinstall", str(ROOT), str(ROOT / "plugins" / "requirements_qna")], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"could not build {MANY}: {error}"
    return python, ""


def distributions(python: Path) -> int:
    """How many distributions ``python`` sees installed."""
    code = "import importlib.metadata as m; print(len({d.metadata['Name'] for d in m.distributions()}))"
    return int(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def run(ctx: Context) -> None:
    """Interleave the floor and our first call in fresh processes of the many-distribution environment."""
    if ctx.quick:
        python: Path | None = Path(sys.executable)
    else:
        python, problem = build_many()
        if python is None:
            ctx.results.skip("first call in a fresh process", "nocodo-agents", problem)
            return
    assert python is not None
    count = distributions(python)
    bench = f"first call, fresh process, {count} distributions installed"
    directory = ctx.directory(DISK, NAME)
    db = str(directory / "first.sqlite")
    run_command([str(python), "-c", OURS, db])  # applies; later calls are no-ops
    opened = subprocess.run([str(python), "-c", COUNT_METADATA, db], capture_output=True, text=True, check=True).stdout.strip()
    argv: dict[str, list] = {"floor (python reads history)": [str(python), "-c", FLOOR, db],
                             "nocodo-agents run_agent_migrations (discovery included)": [str(python), "-c", OURS, db]}
    subjects: dict[str, Subject] = {name: (lambda a=a: run_command(a)) for name, a in argv.items()}
    outcomes = interleave(subjects, ctx.rounds(15), reference="floor (python reads history)")
    floor_rss = outcomes["floor (python reads history)"].count("peak_rss_kib") or 1
    notes = {}
    for name, outcome in outcomes.items():
        rss = outcome.count("peak_rss_kib")
        notes[name] = f"peak RSS {rss / 1024:.1f} MiB ({rss / floor_rss:.2f}x floor)" if rss else ""
    notes["nocodo-agents run_agent_migrations (discovery included)"] += f"; metadata files opened: {opened}"
    ctx.results.add_outcomes(bench, outcomes, notes)
