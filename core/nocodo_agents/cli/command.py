"""What a command of the command line is: its arguments and what runs it (its name and help: :mod:`.parser`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .output import Output


class Command:
    """One subcommand's arguments and handler, declared side by side in the command's module.

    ``add_arguments`` adds the command's own arguments to its parser (the
    options every command takes are already there); ``run`` carries the
    command out and returns its exit code. A command's module imports the
    engine only inside ``run``, so parsing loads none of it, and running one
    command loads only what that command needs. (A plain class, not a
    dataclass: building a dataclass costs about a millisecond at every start
    of the command.)
    """

    __slots__ = ("add_arguments", "run")

    def __init__(
        self,
        add_arguments: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace, Output], int],
    ) -> None:
        self.add_arguments = add_arguments
        self.run = run

    def __repr__(self) -> str:
        return f"Command({self.run.__name__})"
