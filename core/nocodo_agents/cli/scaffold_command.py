"""The `new` command: its arguments and its handler (which imports the scaffolding when it runs)."""

from __future__ import annotations

import argparse

from .command import Command
from .exit_codes import ExitCode
from .options import version_number
from .output import Output


def _new_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "package",
        metavar="AGENT",
        help="an installed agent's name (requirements-qna or requirements_qna), the import name of its package "
        "(or of its migrations package), or the name of a distribution providing one agent",
    )
    parser.add_argument("name", metavar="NAME", help="migration name: letters, digits, underscores")
    versions = parser.add_mutually_exclusive_group()
    versions.add_argument("--version", dest="new_version", type=version_number, metavar="N", help="use this version instead of the next free one")
    versions.add_argument(
        "--timestamp",
        action="store_true",
        help="use the current UTC time as the version (YYYYMMDDHHMMSS; the next free second if taken): "
        "the scheme for third-party agents",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write even into an installed copy of the agent (site-packages) instead of refusing",
    )


def new_command(args: argparse.Namespace, output: Output) -> int:
    from ..scaffold import scaffold_migration

    path, version = scaffold_migration(
        args.package, args.name, version=args.new_version, timestamp=args.timestamp, force=args.force
    )
    output.result(f"created {path} (version {version}): write its migration() and rollback() SQL")
    return ExitCode.OK


NEW = Command(_new_arguments, new_command)
