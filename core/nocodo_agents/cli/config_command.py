"""``nocodo-agents config``: every setting the other commands would use here, and where it comes from."""

from __future__ import annotations

import argparse

from .command import Command
from .config import shown
from .exit_codes import ExitCode
from .options import add_agent_options, add_json_option
from .output import Output


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    add_json_option(parser)


def config_command(args: argparse.Namespace, output: Output) -> int:
    rows = shown(args.settings)
    pyproject = args.pyproject
    if args.json:
        output.json({"settings": rows, "pyproject": None if pyproject is None else str(pyproject)})
        return ExitCode.OK
    for row in rows:
        value = row["value"]
        row["shown"] = ("every installed agent" if row["setting"] == "agents" else "-") if value is None else (
            ", ".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)
        )
    output.table(rows, ["setting", "shown", "source"], ["SETTING", "VALUE", "SOURCE"])
    output.line(f"\nproject file: {pyproject}" if pyproject is not None else "\nproject file: none (no pyproject.toml from here upward)")
    return ExitCode.OK


CONFIG = Command(_config_arguments, config_command)
