"""What a command of the command line is: its name and help, its arguments, and what runs it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .output import Output


class Command:
    """One subcommand, declared beside its handler.

    ``add_arguments`` adds the command's own arguments to its parser (the
    options every command takes are already there); ``run`` carries the
    command out and returns its exit code. A command's module imports the
    engine only inside ``run``, so building the whole parser (``--help``,
    or parsing any command) loads none of it, and running one command loads
    only what that command needs. (A plain class, not a dataclass: building
    a dataclass costs about a millisecond at every start of the command.)
    """

    __slots__ = ("name", "help", "add_arguments", "run", "aliases")

    def __init__(
        self,
        name: str,
        help: str,
        add_arguments: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace, Output], int],
        aliases: Tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.help = help
        self.add_arguments = add_arguments
        self.run = run
        self.aliases = aliases

    def __repr__(self) -> str:
        return f"Command({self.name!r})"
