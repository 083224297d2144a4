"""The ``nocodo-agents`` command (also ``python -m nocodo_agents``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, List, Optional

from .config import apply_settings
from .output import CLOSED_OUTPUT_EXIT, Output, OutputClosed
from .parser import build_parser

if TYPE_CHECKING:  # pragma: no cover
    from .exit_codes import ExitCode

__all__ = ["ExitCode", "main"]


def __getattr__(name: str) -> Any:
    if name == "ExitCode":  # imported when asked for: a command that succeeds needs no error mapping
        from .exit_codes import ExitCode

        return ExitCode
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _configure_logging(verbose: int, quiet: bool) -> None:
    import logging

    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("nocodo_agents")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = build_parser().parse_args(argv)
    output = Output(quiet=args.quiet)
    _configure_logging(args.verbose, args.quiet)
    try:
        args.settings, args.pyproject = apply_settings(args)  # flag > NOCODO_AGENTS_* > pyproject.toml > default
        return int(args.run(args, output))
    except OutputClosed:  # the reader closed stdout (`| head`): stop quietly, as a closed pipe does
        return CLOSED_OUTPUT_EXIT
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except Exception as error:
        from ..errors import MigrationError
        from ..urls import redact
        from .exit_codes import ExitCode, exit_code_for  # imported only when there is an error to map

        code = exit_code_for(error)
        if code == ExitCode.ERROR and not isinstance(error, (MigrationError, OSError)):
            raise  # not a condition we know: a bug, so let its traceback show
        output.error(redact(str(error)))
        from .hints import hint_for  # imported only when there is an error to print

        hint = hint_for(error)
        if hint is not None:
            output.hint(redact(hint))
        return int(code)
