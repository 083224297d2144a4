"""Running the real ``nocodo-agents`` console script, with extra agents unpacked beside it.

An extra agent is written as an unpacked distribution (its package and a
``*.dist-info`` with ``entry_points.txt``) in a directory put on PYTHONPATH,
which is how an installed wheel looks to ``importlib.metadata``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("nocodo-agents"))


def write_agent_distribution(
    site: Path,
    distribution: str,
    agent: str,
    package: str,
    modules: Mapping[str, str],
    plugin_source: Optional[str] = None,
    version: str = "1.0",
) -> None:
    """Unpack an agent distribution into ``site``: ``modules`` maps ``V{n}__{name}`` to module source."""
    root = site / package
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "migrations" / "__init__.py").write_text("")
    for name, source in modules.items():
        (root / "migrations" / f"{name}.py").write_text(textwrap.dedent(source))
    (root / "plugin.py").write_text(
        textwrap.dedent(plugin_source)
        if plugin_source is not None
        else (
            "from nocodo_agents.plugins import hookimpl, load_migrations\n\n\n"
            f"@hookimpl\ndef nocodo_agents_migrations():\n    return load_migrations({package + '.migrations'!r})\n"
        )
    )
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[nocodo_agents]\n{agent} = {package}.plugin\n")


def sql_module(sql: str, rollback: Optional[str] = None) -> str:
    text = f"def migration(dialect):\n    return {sql!r}\n"
    if rollback is not None:
        text += f"\n\ndef rollback(dialect):\n    return {rollback!r}\n"
    return text


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    """Runs the console script in ``cwd`` with ``site`` on PYTHONPATH and none of the caller's NOCODO_AGENTS_* settings."""

    def __init__(self, cwd: Path, site: Path) -> None:
        self.cwd = cwd
        self.site = site

    def __call__(self, *args: str, env: Optional[Dict[str, str]] = None, module: bool = False) -> Result:
        unset = ("NOCODO_AGENTS_DB", "NOCODO_AGENTS_AGENTS", "NOCODO_AGENTS_LOCK_TIMEOUT", "PYTHONPATH")  # the caller's settings
        environment = {k: v for k, v in os.environ.items() if k not in unset}
        environment["PYTHONPATH"] = str(self.site)
        environment.update(env or {})
        command = [sys.executable, "-m", "nocodo_agents"] if module else [CONSOLE_SCRIPT]
        done = subprocess.run([*command, *args], cwd=self.cwd, env=environment, capture_output=True, text=True, timeout=120)
        return Result(done.returncode, done.stdout, done.stderr)
