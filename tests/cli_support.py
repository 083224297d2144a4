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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("nocodo-agents"))


def write_agent_distribution(
    site: Path,
    distribution: str,
    agent: str,
    package: str,
    modules: Mapping[str, str],
    plugin_source: str | None = None,
    version: str = "1.0",
) -> None:
    """Unpack an agent distribution into ``site``: ``modules`` maps ``V{n}__{name}`` to module source."""
    root = site / package
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "migrations" / "__init__.py").write_text("")
    for name, source in modules.items():
        (root / "migrations" / f"{name}.py").write_text(textwrap.dedent(source))
    (root / "plugin.py").write_text(textwrap.dedent(plugin_source) if plugin_source is not None else plugin_module(package))
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[nocodo_agents]\n{agent} = {package}.plugin\n")


def plugin_module(package: str, requires: Sequence[str] | None = None) -> str:
    """The source of an agent's ``plugin`` module: the migrations of ``package.migrations`` and, unless ``None``,
    ``requires`` returned by ``nocodo_agents_requires``."""
    text = "from nocodo_agents.plugins import hookimpl, load_migrations\n\n\n"
    if requires is not None:
        text += f"@hookimpl\ndef nocodo_agents_requires():\n    return {list(requires)!r}\n\n\n"
    return text + f"@hookimpl\ndef nocodo_agents_migrations():\n    return load_migrations({package + '.migrations'!r})\n"


def site_on_sys_path(tmp_path: Path, monkeypatch: Any, package_prefix: str = "notes_agent") -> Iterator[Path]:
    """A new directory ``tmp_path/site`` on ``sys.path`` that agent distributions are unpacked into (in this process);
    the modules whose names start with ``package_prefix`` are forgotten afterwards. Use it as ``yield from`` in a fixture."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    yield directory
    for name in [m for m in sys.modules if m.startswith(package_prefix)]:
        del sys.modules[name]


def sql_module(sql: str, rollback: str | None = None) -> str:
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

    @classmethod
    def with_empty_site(cls, tmp_path: Path) -> Cli:
        """Run in ``tmp_path``, with a new, empty site ``tmp_path/site`` for agents to be unpacked into."""
        (tmp_path / "site").mkdir()
        return cls(tmp_path, tmp_path / "site")

    @classmethod
    def in_work_directory(cls, tmp_path: Path, site: Path | None = None) -> Cli:
        """Run in a new directory ``tmp_path/work``, with ``site`` (by default a new, empty ``tmp_path/site``)."""
        if site is None:
            site = tmp_path / "site"
            site.mkdir()
        work = tmp_path / "work"
        work.mkdir()
        return cls(work, site)

    def __call__(self, *args: str, env: dict[str, str] | None = None, module: bool = False) -> Result:
        unset = ("NOCODO_AGENTS_DB", "NOCODO_AGENTS_AGENTS", "NOCODO_AGENTS_LOCK_TIMEOUT", "PYTHONPATH")  # the caller's settings
        environment = {k: v for k, v in os.environ.items() if k not in unset}
        environment["PYTHONPATH"] = str(self.site)
        environment.update(env or {})
        command = [sys.executable, "-m", "nocodo_agents"] if module else [CONSOLE_SCRIPT]
        done = subprocess.run([*command, *args], cwd=self.cwd, env=environment, capture_output=True, text=True, timeout=120)
        return Result(done.returncode, done.stdout, done.stderr)
