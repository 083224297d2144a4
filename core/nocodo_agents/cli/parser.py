"""The command line's parser: the options every command takes, then one subparser per command.

Each command declares its own arguments beside its handler (a
:class:`~.command.Command`); this module only lists them, in the order
``--help`` shows them.
"""

from __future__ import annotations

import argparse
from typing import Tuple

from .._version import __version__
from .change_commands import BASELINE, MIGRATE, REPAIR, RESOLVE, ROLLBACK, WIDEN_HISTORY
from .command import Command
from .inspect_commands import AGENTS, STATUS, VERIFY
from .options import EPILOG, add_common_options
from .scaffold_command import NEW

#: Every command, in the order ``nocodo-agents --help`` lists them.
COMMANDS: Tuple[Command, ...] = (AGENTS, STATUS, MIGRATE, VERIFY, REPAIR, BASELINE, ROLLBACK, RESOLVE, WIDEN_HISTORY, NEW)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``nocodo-agents``; the parsed namespace's ``run`` is the command's handler."""
    parser = argparse.ArgumentParser(
        prog="nocodo-agents",
        description="Migrate and inspect the database of nocodo-agents and its installed agents.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nocodo-agents {__version__}")
    add_common_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.help, aliases=list(command.aliases), epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_common_options(sub, top=False)
        sub.set_defaults(command=command.name, run=command.run)
        command.add_arguments(sub)
    return parser
