"""The `new` command: its arguments and its handler (which imports the scaffolding when it runs)."""

from __future__ import annotations

import argparse

from .command import Command
from .exit_codes import ExitCode
from .options import version_number
from .output import Output


def _new_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", metavar="AGENT_PACKAGE", help="import name of the agent package (or of its migrations package)")
    parser.add_argument("name", metavar="NAME", help="migration name: letters, digits, underscores")
    parser.add_argument("--version", dest="new_version", type=version_number, metavar="N", help="use this version instead of the next free one")


def new_command(args: argparse.Namespace, output: Output) -> int:
    from ..scaffold import scaffold_migration

    path, version = scaffold_migration(args.package, args.name, version=args.new_version)
    output.result(f"created {path} (version {version}): write its migration() and rollback() SQL")
    return ExitCode.OK


NEW = Command("new", "create the next V{n}__{name}.py migration module in an agent package", _new_arguments, new_command)
