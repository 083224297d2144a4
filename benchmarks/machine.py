"""The facts that make numbers comparable: machine, load, Python, SQLite, package versions."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path

from .peers import PEERS, version

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment() -> dict[str, str]:
    """Machine, Python, SQLite and the versions of everything compared."""
    facts = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), {platform.system()} {platform.release()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "SQLite": sqlite3.sqlite_version,
        "nocodo-agents": f"{version('nocodo-agents') or 'not installed'} (commit {_commit()})",
    }
    for peer, (_, distributions) in PEERS.items():
        facts[peer] = ", ".join(f"{d} {version(d) or 'not installed'}" for d in distributions)
    return facts
