"""The ``nocodo-agents`` command (also ``python -m nocodo_agents``).

Importing this package imports nothing else: :func:`main` first asks
:mod:`.noop_answer` for a remembered no-op answer, and only without one
imports the parser and runs the command.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from .exit_codes import ExitCode
    from .output import Output

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


def _replace_closed_streams() -> None:
    """Point a ``sys.stdout`` or ``sys.stderr`` that is None (its descriptor closed before the start: ``2>&-``) at the null device.

    ``print(file=None)`` writes to stdout: a note meant for a closed stderr
    would land in the middle of ``--json`` output, and a stream wrapped to be
    recorded would fail the command. What is written there is dropped, as if
    redirected to ``/dev/null``.
    """
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            import os

            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # kept for the life of the process


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Called without ``argv`` (the installed command, ``python -m nocodo_agents``),
    a ``migrate`` that found nothing to do on a SQLite file is remembered, and
    answered from what was remembered next time while nothing it depended on
    changed (:mod:`.noop_answer`).
    """
    _replace_closed_streams()
    if argv is None:
        from time import time_ns

        started = time_ns()
        from .noop_answer import replay

        code = replay(sys.argv[1:])
        if code is not None:
            return code
        from .noop_capture import run_remembering

        return run_remembering(sys.argv[1:], started, _run)
    return _run(argv)


def _run(argv: list[str] | None, output: Output | None = None, parsed: Callable[[Any], None] | None = None) -> int:
    """Parse ``argv`` and run its command, printing through ``output`` (a new :class:`~.output.Output` if ``None``).

    ``parsed`` is given the parsed arguments before the command runs.
    """
    from .config import apply_settings
    from .output import CLOSED_OUTPUT_EXIT, Output, OutputClosed
    from .parser import build_parser

    args = build_parser().parse_args(argv)
    if parsed is not None:
        parsed(args)
    if output is None:
        output = Output(quiet=args.quiet)
    else:
        output.quiet = args.quiet
    _configure_logging(args.verbose, args.quiet)
    try:
        try:
            args.settings, args.pyproject = apply_settings(args)  # flag > NOCODO_AGENTS_* > pyproject.toml > default
        except Exception as error:
            if getattr(args.run, "errors_as_json", False) and getattr(args, "json", False):
                from .migrate_command import error_event  # a bad setting is that command's error object too

                error_event(output, error)
            raise
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
