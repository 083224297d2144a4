"""The command line's parser: the options every command takes, then one subparser per command.

Each command declares its own arguments beside its handler (a
:class:`~.command.Command` in its module); this module lists the commands
(:class:`CommandEntry`: name, help, module), in the order
``--help`` shows them. A command's subparser gets its arguments, and its
module is imported, only when the command line names that command: running
``migrate`` imports none of the other commands' modules.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar, overload

from .._version import __version__
from .options import EPILOG, add_common_options

if TYPE_CHECKING:  # pragma: no cover
    from .command import Command
    from .output import Output


def terminal_columns() -> int:
    """The width help is wrapped to: what :func:`shutil.get_terminal_size` answers, without importing :mod:`shutil`.

    ``$COLUMNS`` if a positive integer, else the terminal's width, else 80
    (:mod:`shutil` imports its compression modules, some milliseconds at every
    start of the command, for argparse to ask this once per parser).
    """
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            stdout = sys.__stdout__  # None without a console (pythonw)
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


#: A namespace given to :meth:`parse_known_args`, returned filled in.
_N = TypeVar("_N")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter keeping descriptions as written, its width from :func:`terminal_columns`."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, terminal_columns() - 2 if width is None else width)


class CommandEntry:
    """A subcommand as ``--help`` lists it: name, aliases, help, and where its :class:`Command` lives.

    The parser knows every command by its entry and imports a command's
    module (``reference``: ``"nocodo_agents.cli.<module>:<attribute>"``)
    only when that command is parsed: running one command imports no other
    command's module.
    """

    __slots__ = ("name", "help", "reference", "aliases")

    def __init__(self, name: str, help: str, reference: str, aliases: tuple[str, ...] = ()) -> None:
        self.name = name
        self.help = help
        self.reference = reference
        self.aliases = aliases

    def load(self) -> Command:
        """The command's arguments and handler (importing its module on first use)."""
        module, _, attribute = self.reference.partition(":")
        command: Command = getattr(importlib.import_module(module), attribute)
        return command

    @property
    def run(self) -> Callable[[argparse.Namespace, Output], int]:
        """The command's handler."""
        return self.load().run

    def __repr__(self) -> str:
        return f"CommandEntry({self.name!r})"


#: Every command, in the order ``nocodo-agents --help`` lists them.
COMMANDS: tuple[CommandEntry, ...] = (
    CommandEntry(
        "agents", "list installed agents: distribution, version, entry point, required agents, migration versions",
        "nocodo_agents.cli.inspect_commands:AGENTS",
    ),
    CommandEntry(
        "status", "one row per migration version: applied, pending, out of order, not installed, divergent, conflict",
        "nocodo_agents.cli.inspect_commands:STATUS", aliases=("info",),
    ),
    CommandEntry("migrate", "apply pending migrations, printing each as it goes", "nocodo_agents.cli.migrate_command:MIGRATE"),
    CommandEntry(
        "verify", "check applied checksums against installed files and the live schema against the migrations",
        "nocodo_agents.cli.inspect_commands:VERIFY",
    ),
    CommandEntry(
        "repair", "re-record checksums of divergent applied migrations, only if the schema has not drifted",
        "nocodo_agents.cli.change_commands:REPAIR",
    ),
    CommandEntry(
        "baseline", "adopt a database without history: record every migration up to V as applied",
        "nocodo_agents.cli.change_commands:BASELINE",
    ),
    CommandEntry(
        "rollback", "undo applied migrations above V, newest first, using their rollback()", "nocodo_agents.cli.change_commands:ROLLBACK",
    ),
    CommandEntry(
        "resolve", "settle a migration that stopped part-way (MySQL): after fixing the schema by hand",
        "nocodo_agents.cli.change_commands:RESOLVE",
    ),
    CommandEntry(
        "widen-history", "make the history's versions 64-bit (refinery's int8-versions), re-recording every checksum",
        "nocodo_agents.cli.change_commands:WIDEN_HISTORY",
    ),
    CommandEntry(
        "config", "show each setting (db, agents, lock-timeout), its value and where it comes from: flag, environment, pyproject.toml, default",
        "nocodo_agents.cli.config_command:CONFIG",
    ),
    CommandEntry(
        "new", "create the next V{n}__{name}.py migration module (or a timestamped one) in an agent's source tree",
        "nocodo_agents.cli.scaffold_command:NEW",
    ),
)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors hide passwords: they quote the argument at fault, a URL given in the wrong place too."""

    def error(self, message: str) -> NoReturn:
        if "://" in message or "=" in message:  # a URL, or a password= parameter, may be quoted
            from ..urls import redact

            message = redact(message)
        super().error(message)


class CommandParser(Parser):
    """A command's subparser: its arguments are added (its module imported) the first time it parses.

    argparse hands a subparser the rest of the command line through
    :meth:`parse_known_args`, for ``nocodo-agents migrate --help`` too, so
    only the command named on the command line is ever loaded.
    """

    def __init__(self, *args: Any, command: CommandEntry | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._command = command

    def load(self) -> None:
        """Add the command's arguments and handler (once)."""
        entry, self._command = self._command, None
        if entry is not None:
            command = entry.load()
            command.add_arguments(self)
            self.set_defaults(run=command.run)

    # argparse's own overloads: a namespace passed in comes back, else a new argparse.Namespace.
    @overload
    def parse_known_args(self, args: Iterable[str] | None = None, namespace: None = None) -> tuple[argparse.Namespace, list[str]]: ...
    @overload
    def parse_known_args(self, args: Iterable[str] | None, namespace: _N) -> tuple[_N, list[str]]: ...
    @overload
    def parse_known_args(self, *, namespace: _N) -> tuple[_N, list[str]]: ...

    def parse_known_args(self, args: Iterable[str] | None = None, namespace: Any = None) -> tuple[Any, list[str]]:
        self.load()
        return super().parse_known_args(args, namespace)


def build_parser(*, load_all: bool = False) -> argparse.ArgumentParser:
    """The parser of ``nocodo-agents``; the parsed namespace's ``run`` is the command's handler.

    ``load_all`` adds every command's arguments now (importing every command
    module) instead of when the command is parsed.
    """
    parser = Parser(
        prog="nocodo-agents",
        description="Migrate and inspect the database of nocodo-agents and its installed agents.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nocodo-agents {__version__}")
    add_common_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)
    for entry in COMMANDS:
        sub = subparsers.add_parser(
            entry.name, help=entry.help, description=entry.help, aliases=list(entry.aliases), epilog=EPILOG,
            formatter_class=HelpFormatter, command=entry,
        )
        add_common_options(sub, top=False)
        sub.set_defaults(command=entry.name)
        if load_all:
            sub.load()
    return parser
