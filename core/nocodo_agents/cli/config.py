"""The command line's settings: where each comes from, in order of precedence.

A setting is taken from the first of: the command line's flag, its
``NOCODO_AGENTS_*`` environment variable (empty counts as unset), the
``[tool.nocodo-agents]`` table of the current project's ``pyproject.toml`` (the
first one found from the current directory upward), the default.

=============  ===============  ===============================  ===========================
setting        flag             environment variable             default
=============  ===============  ===============================  ===========================
db             ``--db``         ``NOCODO_AGENTS_DB``             ``sqlite:///nocodo-agents.db``
agents         ``--agent``      ``NOCODO_AGENTS_AGENTS``         every installed agent
lock-timeout   ``--lock-timeout``  ``NOCODO_AGENTS_LOCK_TIMEOUT``  60 seconds
=============  ===============  ===============================  ===========================

``NOCODO_AGENTS_AGENTS`` separates names with commas or spaces; the file's
``agents`` is a list of names. A relative SQLite path in the file is relative
to the directory of that ``pyproject.toml``, so every directory of the project
names the same database. ``nocodo-agents config`` shows each setting, its
value (passwords redacted) and where it came from. A setting that cannot be
used is a :class:`~nocodo_agents.errors.ConfigError` (exit 2) naming it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .options import DEFAULT_DATABASE, DEFAULT_LOCK_TIMEOUT, LOCK_TIMEOUT_RANGE, MAX_LOCK_TIMEOUT

#: The table of pyproject.toml holding the settings.
TABLE = "tool.nocodo-agents"
#: Setting -> its environment variable.
ENVIRONMENT = {"db": "NOCODO_AGENTS_DB", "agents": "NOCODO_AGENTS_AGENTS", "lock-timeout": "NOCODO_AGENTS_LOCK_TIMEOUT"}
#: Setting -> the attribute of the parsed command line it fills.
ATTRIBUTE = {"db": "db", "agents": "agents", "lock-timeout": "lock_timeout"}
DEFAULTS: dict[str, Any] = {"db": DEFAULT_DATABASE, "agents": None, "lock-timeout": DEFAULT_LOCK_TIMEOUT}

# A cheap look before parsing: a file that never names the table is not parsed (no TOML reader imported).
# It also finds a misspelt table (``[tool.nocodo_agents]``, ``[tool.nocodo-agent]``), refused once parsed; a
# dependency on the distribution (``"nocodo-agents[postgresql]>=0.1"``) is no mention.
_MENTIONS_TABLE = re.compile(r"""nocodo[-_]?agents?["']?\s*[.=\]]""", re.IGNORECASE)


class Setting:
    """One setting's value and where it came from (``source``: "flag", "environment variable X", "<file> [tool.nocodo-agents]", "default")."""

    __slots__ = ("name", "value", "source")

    def __init__(self, name: str, value: Any, source: str) -> None:
        self.name = name
        self.value = value
        self.source = source


def project_file_candidates(start: Path) -> list[Path]:
    """Each ``pyproject.toml`` looked for from ``start`` upward, up to the first that exists (the last one then).

    Everything the settings depend on besides the environment: the remembered
    no-op answers of ``migrate`` stamp each of them (one created or removed
    changes which file is the project's).
    """
    looked_at = []
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        looked_at.append(candidate)
        if candidate.is_file():
            break
    return looked_at


def find_pyproject(start: Path) -> Path | None:
    """The current project's ``pyproject.toml``: the first found from ``start`` upward, or None."""
    last = project_file_candidates(start)[-1]
    return last if last.is_file() else None


def _load_toml(path: Path, text: str) -> dict[str, Any]:
    from ..errors import ConfigError

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, published as tomli
        import tomli as tomllib
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source=str(path), key=TABLE, problem=f"the file is not valid TOML ({error})") from None
    return document


def file_settings(path: Path) -> dict[str, Any]:
    """The ``[tool.nocodo-agents]`` table of ``path``, checked (empty when the file has none)."""
    from ..errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source=str(path), key=TABLE, problem=f"the file cannot be read ({error})") from None
    if not _MENTIONS_TABLE.search(text):
        return {}
    tool = _load_toml(path, text).get("tool", {})
    tool = tool if isinstance(tool, dict) else {}
    _refuse_misspelt_table(path, tool)
    table = tool.get("nocodo-agents", {})
    source = f"{path} [{TABLE}]"
    if not isinstance(table, dict):
        raise ConfigError(source=str(path), key=TABLE, problem="it must be a table")
    unknown = sorted(set(table) - set(DEFAULTS))
    if unknown:
        raise ConfigError(source=source, key=unknown[0], problem=f"no such setting (the settings are: {', '.join(DEFAULTS)})")
    checked: dict[str, Any] = {}
    for key, value in table.items():
        checked[key] = _check(key, value, source, path.parent)
    return checked


def _refuse_misspelt_table(path: Path, tool: dict[str, Any]) -> None:
    """Refuse ``[tool.nocodo_agents]`` and the like: ignored, its settings (the database!) would silently not apply."""
    from ..errors import ConfigError

    for name in tool:
        if name != "nocodo-agents" and re.sub(r"[-_.\s]", "", name.lower()) in ("nocodoagents", "nocodoagent"):
            raise ConfigError(
                source=str(path), key=f"tool.{name}", problem=f"the settings table is named [{TABLE}]: rename this one, it is not read"
            )


def _check(key: str, value: Any, source: str, base: Path) -> Any:
    from ..errors import ConfigError

    if key == "db":
        if not isinstance(value, str) or not value:
            raise ConfigError(source=source, key=key, problem="it must be a non-empty database URL string")
        return _anchored(value, base)
    if key == "agents":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(source=source, key=key, problem='it must be a list of agent names, such as ["requirements_qna"]')
        return list(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_LOCK_TIMEOUT:
        raise ConfigError(source=source, key=key, problem=f"it must be a number of seconds from {LOCK_TIMEOUT_RANGE}, not {value!r}")
    return float(value)


def _anchored(url: str, base: Path) -> str:
    """A relative SQLite path of the file made relative to the file's directory (other URLs as written).

    Relative: a bare path, a ``sqlite:///`` path, and the path of a ``file:``
    URI in either (percent-encoded there, as SQLite decodes it). Not: an
    absolute path, ``:memory:``, and a path starting with ``~`` (the home
    directory, as everywhere a SQLite path is read).
    """
    prefix = "sqlite:///" if url.startswith("sqlite:///") else ""
    if not prefix and "://" in url:
        return url  # a server's URL, or sqlite:// (memory)
    path = url[len(prefix):]
    if path.startswith("file:"):
        from urllib.parse import quote

        inner = path[len("file:"):]
        if not inner or inner.startswith(("/", "~", ":memory:", "?")):
            return url
        return f"{prefix}file:{quote(str(base), safe='/')}/{inner}"
    if not path or path.startswith(("/", "~", ":memory:")):
        return url
    return prefix + str(base / path)


def environment_settings(environ: dict[str, str]) -> dict[str, tuple[Any, str]]:
    """Each setting given by its environment variable: name -> (value, source)."""
    from ..errors import ConfigError

    found: dict[str, tuple[Any, str]] = {}
    for key, variable in ENVIRONMENT.items():
        text = environ.get(variable, "")
        if not text.strip():
            continue  # empty counts as unset, as an empty line in an environment file means
        source = f"environment variable {variable}"
        if key == "db":
            found[key] = (text, source)
        elif key == "agents":
            names = [name for name in re.split(r"[,\s]+", text) if name]
            if not names:  # "$A,$B" with both unset: not a request for core alone
                raise ConfigError(source=source, key=key, problem=f"it names no agent: {text!r} (core alone: set it to core)")
            found[key] = (names, source)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ConfigError(source=source, key=key, problem=f"not a number of seconds: {text!r}") from None
            if not 0 <= seconds <= MAX_LOCK_TIMEOUT:
                raise ConfigError(source=source, key=key, problem=f"it must be {LOCK_TIMEOUT_RANGE}, not {text!r}")
            found[key] = (seconds, source)
    return found


def resolve(
    flags: dict[str, Any], *, cwd: Path | None = None, environ: dict[str, str] | None = None
) -> tuple[list[Setting], Path | None]:
    """Every setting with its value and source, and the pyproject.toml consulted (None: none found).

    ``flags`` holds what the command line gave (a setting absent or None was
    not given). The file is read only for a setting neither a flag nor the
    environment gives.
    """
    environ = dict(os.environ) if environ is None else environ
    from_environment = environment_settings(environ)
    pyproject = find_pyproject(cwd or Path.cwd())
    from_file: dict[str, Any] | None = None
    settings: list[Setting] = []
    for key, default in DEFAULTS.items():
        if flags.get(key) is not None:
            settings.append(Setting(key, flags[key], "flag"))
        elif key in from_environment:
            settings.append(Setting(key, *from_environment[key]))
        else:
            if from_file is None:
                from_file = file_settings(pyproject) if pyproject is not None else {}
            if key in from_file:
                settings.append(Setting(key, from_file[key], f"{pyproject} [{TABLE}]"))
            else:
                settings.append(Setting(key, default, "default"))
    return settings, pyproject


def apply_settings(args: Any) -> tuple[list[Setting], Path | None]:
    """Fill the parsed command line's ``db``, ``agents`` and ``lock_timeout`` from :func:`resolve`.

    Only the attributes the command has are filled (``new`` takes no
    ``--agent``); the resolved settings are returned for ``config`` to show.
    """
    flags = {key: getattr(args, attribute, None) for key, attribute in ATTRIBUTE.items()}
    settings, pyproject = resolve(flags)
    for setting in settings:
        attribute = ATTRIBUTE[setting.name]
        if setting.name == "db" or hasattr(args, attribute):
            setattr(args, attribute, setting.value)
    return settings, pyproject


def shown(settings: Sequence[Setting]) -> list[dict[str, Any]]:
    """The settings as rows for ``config``: the database URL's password redacted."""
    from ..urls import redact

    rows = []
    for setting in settings:
        value = setting.value
        if setting.name == "db":
            value = redact(value)
        rows.append({"setting": setting.name, "value": value, "source": setting.source})
    return rows
