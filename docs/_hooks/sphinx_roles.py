"""Griffe extension: the package's docstrings, written with Sphinx roles, read as Markdown.

The docstrings of ``nocodo_agents`` use reStructuredText cross-references
(``:class:`~nocodo_agents.Migration```, ``:func:`.load_migrations```) and ``::``
before a literal block. mkdocstrings renders Markdown, so this extension
rewrites them before the docstrings are parsed:

- a role naming an absolute dotted path becomes an *optional* cross-reference
  (a link where the site documents that object, plain code elsewhere, never
  a warning), titled with the last component when the path starts with ``~``;
- a role naming a relative path (``.command.Command``) becomes plain code;
- a paragraph ending in ``::`` ends in ``:`` (the indented block after it is
  already a Markdown code block).

The source files are not changed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|mod|attr|exc|obj|const):`(?P<tilde>~?)(?P<target>[^`]+)`")
LITERAL_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)
BARE_LITERAL_MARKER = re.compile(r"^[ \t]*::[ \t]*$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if target.endswith("()"):
        target = target[:-2]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] or target.startswith(".") else target
    if target.startswith("."):
        return f"`{shown}`"
    return f'<autoref identifier="{target}" optional>`{shown}`</autoref>'


def markdown_docstring(text: str) -> str:
    """``text`` with its Sphinx roles and literal-block markers rewritten for Markdown."""
    text = ROLE.sub(_role, text)
    text = BARE_LITERAL_MARKER.sub("", text)
    return LITERAL_MARKER.sub(":", text)


class SphinxRolesToMarkdown(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`markdown_docstring`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
