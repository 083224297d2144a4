"""The `new` command."""

from __future__ import annotations

import argparse

from ..scaffold import scaffold_migration
from .exit_codes import ExitCode
from .output import Output


def new_command(args: argparse.Namespace, output: Output) -> int:
    path, version = scaffold_migration(args.package, args.name, version=args.new_version)
    output.result(f"created {path} (version {version}): write its migration() and rollback() SQL")
    return ExitCode.OK
