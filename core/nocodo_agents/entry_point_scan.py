"""Reading one entry point group from the installed distributions without :mod:`importlib.metadata`.

``importlib.metadata.entry_points(group=...)`` costs a process about 20 ms
before it reads anything (it imports :mod:`email`, :mod:`zipfile`,
:mod:`csv`...), and then parses each agent distribution's ``METADATA`` with
the e-mail parser twice (``dist.name``, ``dist.version``). This module finds
the same entry points as that call for the common layout (plain directories
on ``sys.path`` holding ``*.dist-info``/``*.egg-info`` directories, found by
the standard path finder), reading each distribution's ``entry_points.txt``
once and the ``METADATA`` of only the distributions holding an entry point of
the group, once. :func:`scan_group` returns ``None`` wherever it cannot be
sure of giving exactly what :mod:`importlib.metadata` would (a zip or
``.egg`` on ``sys.path``, a meta path finder of its own declaring
distributions, Python before 3.10, a file it does not parse the same way):
the caller then asks :mod:`importlib.metadata`. Where :mod:`importlib.metadata`
would fail (an ``entry_points.txt`` not in UTF-8, or holding a line without
``=``, in any distribution), it raises
:class:`~nocodo_agents.errors.InstalledMetadataError` naming the file.
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple

#: What importlib.metadata folds a distribution's name to, to keep the first of each on sys.path.
_NAME_RUNS = re.compile(r"[-_.]+")
#: A header line of ``METADATA`` as the e-mail parser reads one (field name, colon).
_HEADER = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
#: An entry point's value: ``module``, ``module:attr.attr``, optional ``[extras]`` (importlib.metadata's pattern).
ENTRY_POINT_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class ScannedEntryPoint(NamedTuple):
    """One entry point of the group, with its distribution's name and version as its ``METADATA`` gives them."""

    name: str
    value: str
    distribution: str | None
    version: str | None


class _Unsure(Exception):
    """Something importlib.metadata might read otherwise: give up the scan."""


class _Malformed(Exception):
    """A line of an ``entry_points.txt`` that importlib.metadata fails on (it has no ``=``)."""

    def __init__(self, number: int, line: str) -> None:
        super().__init__(number, line)
        self.number = number
        self.line = line


def malformed_line_problem(number: int, line: str) -> str:
    """What is wrong with line ``number`` of an ``entry_points.txt``, for :class:`~nocodo_agents.errors.InstalledMetadataError`."""
    return f"line {number} of entry_points.txt, {line!r}, is not 'name = value' (importlib.metadata cannot parse the file)"


def first_malformed_line(text: str) -> tuple[int, str] | None:
    """``(line number, line)`` of the first line of ``text`` (an ``entry_points.txt``) importlib.metadata fails on, if any."""
    try:
        _group_pairs(text, "")
    except _Malformed as malformed:
        return malformed.number, malformed.line
    return None


def unreadable_problem(file: str, error: BaseException) -> str:
    """What reading ``file`` (``entry_points.txt``, ``METADATA``) raised, in words."""
    if isinstance(error, UnicodeDecodeError):
        return f"{file} is not UTF-8 text (byte {error.object[error.start:error.start + 1]!r} at offset {error.start})"
    if isinstance(error, OSError):
        return f"{file} cannot be read ({error.strerror or error})"
    return f"{file} cannot be read ({type(error).__name__}: {error})"


def distribution_from_folder(folder: str) -> tuple[str | None, str | None]:
    """``(name, version)`` as a ``*.dist-info``/``*.egg-info`` folder's name gives them (``name-version.dist-info``)."""
    stem = os.path.basename(folder.rstrip("/\\")).rpartition(".")[0]
    name, _, version = stem.partition("-")
    return (name or None), (version.partition("-")[0] or None)


def _read(path: str) -> str | None:
    """The text of ``path`` (UTF-8), ``None`` where importlib.metadata's ``read_text`` finds none."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None
    except (OSError, ValueError) as error:  # unreadable or not UTF-8: importlib.metadata would raise
        raise _Unsure(error) from error


def _group_pairs(text: str, group: str) -> list[ScannedEntryPoint]:
    """The ``name = value`` lines of ``[group]`` in an ``entry_points.txt``, as importlib.metadata's ``Sectioned`` reads them."""
    found = []
    section = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is None:
            continue  # before any section: importlib.metadata skips it unparsed
        if "=" not in line:
            raise _Malformed(number, line)  # importlib.metadata parses every section's lines and fails on it
        if section != group:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        found.append(ScannedEntryPoint(name, value, None, None))
    return found


def _name_and_version(info: str) -> ScannedEntryPoint:
    """``Name`` and ``Version`` from the header of ``METADATA`` (else ``PKG-INFO``), as the e-mail parser reads them."""
    text = _read(os.path.join(info, "METADATA")) or _read(os.path.join(info, "PKG-INFO"))
    if text is None:
        raise _Unsure()
    fields = {}
    # Only "\n" ends a line (the file was read with universal newlines): the e-mail parser splits at
    # nothing else, where str.splitlines() would also split at "\x0c", "\x1c", "\x85", "\u2028"...
    for line in text.split("\n"):
        if not line:
            break  # the end of the header
        if line[0] in " \t":
            raise _Unsure()  # a folded field: the parser's rules, not ours
        if not _HEADER.match(line):
            raise _Unsure()
        key, _, value = line.partition(":")
        fields.setdefault(key.lower(), value.lstrip(" \t").rstrip("\r\n"))
    if "name" not in fields or "version" not in fields:
        raise _Unsure()
    return ScannedEntryPoint("", "", fields["name"], fields["version"])


def standard_finders_only() -> bool:
    """Whether the standard path finder is the only meta path finder declaring distributions."""
    from importlib.machinery import PathFinder

    declaring = [finder for finder in sys.meta_path if getattr(finder, "find_distributions", None) is not None]
    return declaring == [PathFinder]


def scan_group(group: str) -> list[ScannedEntryPoint] | None:
    """The entry points of ``group``, first distribution of each name on ``sys.path`` only; ``None``: ask importlib.metadata.

    Raises :class:`~nocodo_agents.errors.InstalledMetadataError` for an
    ``entry_points.txt`` importlib.metadata would fail on (see :func:`_pairs_of`).
    """
    if sys.version_info < (3, 10) or not standard_finders_only():
        return None
    seen: set[str] = set()
    found: list[ScannedEntryPoint] = []
    try:
        for entry in list(sys.path):
            if not isinstance(entry, str):
                return None
            root = entry or "."
            if os.path.basename(entry).lower().endswith(".egg"):
                return None
            try:
                children = os.listdir(root)
            except FileNotFoundError:
                continue
            except OSError:
                if os.path.isfile(root):
                    return None  # a zip file: importlib.metadata reads inside it
                continue
            by_name: dict[str, list[str]] = {}
            for child in children:
                low = child.lower()
                if low.endswith((".dist-info", ".egg-info")):
                    if not child.endswith((".dist-info", ".egg-info")):
                        return None  # ".DIST-INFO": importlib.metadata then names it from its METADATA
                    name = _NAME_RUNS.sub("_", low.rpartition(".")[0].partition("-")[0])
                    if not name:
                        return None  # importlib.metadata then names it from its METADATA
                    by_name.setdefault(name, []).append(child)
            for name, infos in by_name.items():
                for child in infos:
                    if name in seen:
                        continue  # a later copy of a distribution already found: not importlib.metadata's either
                    seen.add(name)
                    info = os.path.join(entry, child)
                    pairs = _pairs_of(info, group)
                    if pairs:
                        identity = _name_and_version(info)
                        found.extend(p._replace(distribution=identity.distribution, version=identity.version) for p in pairs)
    except _Unsure:
        return None
    return found


def _pairs_of(info: str, group: str) -> list[ScannedEntryPoint]:
    """The entry points of ``group`` in the ``entry_points.txt`` of folder ``info``; raises where importlib.metadata would fail.

    importlib.metadata parses the whole file of every distribution (the first
    of each name on ``sys.path``, as here) whatever the group asked for: a
    file it cannot read or parse makes it raise a bare ``TypeError``,
    ``ValueError`` or ``UnicodeDecodeError``. Here that is an
    :class:`~nocodo_agents.errors.InstalledMetadataError` naming the
    distribution, the file and what is wrong with it.
    """
    path = os.path.join(info, "entry_points.txt")
    try:
        text = _read(path)
        return _group_pairs(text, group) if text else []
    except _Malformed as malformed:
        problem = malformed_line_problem(malformed.number, malformed.line)
    except _Unsure as unsure:
        problem = unreadable_problem("entry_points.txt", unsure.args[0])
    raise _unreadable(info, path, problem)


def _unreadable(info: str, path: str, problem: str) -> Exception:
    """The :class:`~nocodo_agents.errors.InstalledMetadataError` for folder ``info``: named from its METADATA, else its folder."""
    try:
        identity = _name_and_version(info)
        name, version = identity.distribution, identity.version
    except _Unsure:
        name, version = distribution_from_folder(info)
    from .errors import InstalledMetadataError

    return InstalledMetadataError(distribution=name, version=version, path=path, problem=problem)


def load_entry_point(name: str, value: str, group: str) -> object:
    """Import what an entry point's ``value`` names, as ``importlib.metadata.EntryPoint.load`` does."""
    match = ENTRY_POINT_VALUE.match(value)
    if match is None:  # importlib.metadata's own failure, word for word
        from importlib.metadata import EntryPoint

        return EntryPoint(name, value, group).load()
    from importlib import import_module

    loaded: object = import_module(match.group("module"))
    for attribute in filter(None, (match.group("attr") or "").split(".")):
        loaded = getattr(loaded, attribute)
    return loaded
