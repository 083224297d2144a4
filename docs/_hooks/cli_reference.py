"""MkDocs hook: the command-line reference, generated from the real parser at every build.

``docs/reference/cli.md`` holds the marker ``<!-- cli-reference -->``; this
hook replaces it with one section per command of
``nocodo_agents.cli.parser.build_parser(load_all=True)``: its help, its usage
line and a table of every option and argument, in the order ``--help`` lists
them. Nothing is written by hand, so the page cannot go stale: a new command
or option appears at the next build (and ``tests/test_docs_site.py`` checks
that every one of them is on the built page).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- cli-reference -->"
PAGE = "reference/cli.md"
#: Usage lines are wrapped to this width, whatever the terminal running the build.
WIDTH = 88


def _escape(text: str) -> str:
    """``text`` as literal Markdown inside a table cell."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for character in "\\`*_[]|":
        text = text.replace(character, "\\" + character)
    return " ".join(text.split())


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError("the nocodo-agents parser has no subcommands")


def _fixed_width(parser: argparse.ArgumentParser) -> None:
    from nocodo_agents.cli.parser import HelpFormatter

    parser.formatter_class = functools.partial(HelpFormatter, width=WIDTH)  # type: ignore[assignment]


def _option_rows(parser: argparse.ArgumentParser, *, skip: set[str]) -> Iterator[str]:
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings and set(action.option_strings) <= skip:
            continue
        if action.option_strings:
            names = ", ".join(f"`{name}`" for name in action.option_strings)
        else:
            names = f"`{action.metavar or action.dest}`"
        if action.choices:
            value = " \\| ".join(f"`{choice}`" for choice in action.choices)
        elif action.nargs == 0 or not action.option_strings:  # a flag, or a positional argument (named by its value)
            value = ""
        else:
            value = f"`{action.metavar or action.dest.upper()}`"
        notes: list[str] = []
        if isinstance(action, argparse._AppendAction) and "repeatable" not in (action.help or ""):
            notes.append("repeatable")
        if action.required and action.option_strings:
            notes.append("required")
        help_text = _escape(formatter._expand_help(action)) if action.help not in (None, argparse.SUPPRESS) else ""
        if notes:
            help_text = f"{help_text} ({', '.join(notes)})" if help_text else f"({', '.join(notes)})"
        yield f"| {names} | {value} | {help_text} |"


def _table(rows: list[str]) -> list[str]:
    if not rows:
        return ["This command takes only the options every command takes."]
    return ["| option or argument | value | meaning |", "| --- | --- | --- |", *rows]


def cli_reference() -> str:
    """The Markdown of every command of ``nocodo-agents``, built from its parser."""
    from nocodo_agents.cli.options import EPILOG
    from nocodo_agents.cli.parser import COMMANDS, build_parser

    parser = build_parser(load_all=True)
    _fixed_width(parser)
    common = {option for action in parser._actions for option in action.option_strings if option != "--version"}
    lines = [
        "## Options every command takes",
        "",
        "Given before or after the command's name (`nocodo-agents --db URL status` or "
        "`nocodo-agents status --db URL`).",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        *_table(list(_option_rows(parser, skip=set()))),
        "",
        "Printed at the end of every `--help`:",
        "",
        "```text",
        EPILOG.strip(),
        "```",
        "",
    ]
    commands = _subcommands(parser)
    for entry in COMMANDS:
        sub = commands.choices[entry.name]
        _fixed_width(sub)
        lines += [f"## `{entry.name}`", ""]
        if entry.aliases:
            lines += ["Also: " + ", ".join(f"`nocodo-agents {alias}`" for alias in entry.aliases) + ".", ""]
        lines += [
            _escape(entry.help[:1].upper() + entry.help[1:]) + ".",
            "",
            "```text",
            sub.format_usage().strip(),
            "```",
            "",
            *_table(list(_option_rows(sub, skip=common))),
            "",
        ]
    return "\n".join(lines)


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    """Replace the marker of the CLI reference page with the generated reference."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its marker {MARKER!r}: the CLI reference would be missing")
    return markdown.replace(MARKER, cli_reference())
