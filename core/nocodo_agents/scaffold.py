"""Creating the next ``V{version}__{name}.py`` migration module in an agent package.

The version is the next free number, a given one, or (``timestamp=True``)
the current UTC time as ``YYYYMMDDHHMMSS``, the scheme for third-party
agents. Two runs at once (threads or processes, one agent or two) never
write one version: each claims it while writing (:func:`_write_module`).
Where the module goes is :mod:`nocodo_agents.scaffold_target`'s.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from . import migration as migration_module
from .discovery import AgentRegistry
from .errors import InstalledCopyError, InvalidMigrationError, MigrationError, ScaffoldError
from .loading import load_migrations
from .migration import _NAME
from .scaffold_target import create_package, installed_root, migrations_target

#: The format of a timestamp version: UTC, to the second.
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

TEMPLATE = '''"""V{version}: {name}."""


def migration(dialect: str) -> str:
    """The SQL applying this migration for ``dialect`` ("sqlite", "postgresql", "mysql")."""
    raise NotImplementedError("write the SQL of V{version}__{name} in {path}")


def rollback(dialect: str) -> str:
    """The SQL undoing this migration (used by `nocodo-agents rollback`); delete it if it cannot be undone."""
    raise NotImplementedError("write the rollback SQL of V{version}__{name} in {path}")
'''


def _versions_in_use(registry: AgentRegistry) -> dict[int, str]:
    used: dict[int, str] = {}
    for agent in registry.agent_names():
        try:
            migration_set = registry.migration_set(agent)
        except MigrationError:
            continue  # a broken plugin cannot claim versions; `nocodo-agents agents` shows it
        for migration in migration_set.migrations:
            used[migration.version] = f"agent {migration_set.agent!r} ({migration_set.distribution})"
    return used


def timestamp_version(taken: set[int], now: Callable[[], datetime] | None = None) -> int:
    """The current UTC time as ``YYYYMMDDHHMMSS``, or the next second that is not in ``taken``."""
    moment = (now or (lambda: datetime.now(timezone.utc)))().astimezone(timezone.utc).replace(microsecond=0)
    while int(moment.strftime(TIMESTAMP_FORMAT)) in taken:
        moment += timedelta(seconds=1)
    return int(moment.strftime(TIMESTAMP_FORMAT))


def scaffold_migration(
    package: str,
    name: str,
    *,
    version: int | None = None,
    timestamp: bool = False,
    force: bool = False,
    registry: AgentRegistry | None = None,
    now: Callable[[], datetime] | None = None,
) -> tuple[Path, int]:
    """Write ``V{version}__{name}.py`` into the migrations of ``package`` and return its path and version.

    ``package`` is an installed agent's name (``requirements-qna`` or
    ``requirements_qna``) or an import name. Without ``version`` the next
    one after the package's highest (or, for a package without migrations,
    after the highest installed) is used; with ``timestamp=True`` the current
    UTC time as ``YYYYMMDDHHMMSS`` (the next free second if that one is
    taken), the scheme for third-party agents. A version that any installed
    agent already uses is refused, and an existing file is never overwritten.
    A package that is an installed copy (in ``site-packages``, not the
    author's source tree) is refused with :class:`InstalledCopyError`
    unless ``force=True``. An agent's ``migrations`` package is created
    when it does not exist yet; ``package`` may also be the name of a
    distribution providing one agent.
    """
    if not _NAME.match(name):
        raise ScaffoldError(target=f"V?__{name}", problem="the name must be made of letters, digits and underscores")
    if timestamp and version is not None:
        raise ScaffoldError(target=f"V?__{name}", problem="give either a version or timestamp=True, not both")
    registry = registry if registry is not None else AgentRegistry.installed()
    target = migrations_target(registry, package)
    dotted, directory = target
    installed_in = installed_root(directory)
    if installed_in is not None and not force:
        raise InstalledCopyError(
            path=str(directory / f"V{version if version is not None else '{version}'}__{name}.py"),
            installed_in=str(installed_in),
            package=dotted,
        )
    try:
        create_package(target)
    except OSError as error:
        raise ScaffoldError(
            target=f"{directory}{os.sep}__init__.py", problem=f"the migrations package cannot be created there: {error}"
        ) from error
    try:
        own = {m.version for m in load_migrations(dotted)}
    except InvalidMigrationError as error:
        raise ScaffoldError(
            target=f"{dotted}.V?__{name}", problem=f"its migrations cannot be listed: {error.source}: {error.problem}. Fix that, then run new again"
        ) from error
    used = _versions_in_use(registry)
    free = max([*used, *own], default=0) + 1
    existing = _versions_on_disk(directory)
    if timestamp:
        version = timestamp_version(set(used) | own | existing, now)  # then checked against the limit below
    elif version is None:
        version = max(own) + 1 if own else free
        if version in used and version not in own:
            raise ScaffoldError(
                target=f"{dotted}.V{version}__{name}",
                problem=(
                    f"the next version, {version}, is already used by {used[version]}; "
                    f"pass version {free} (--version {free}), or use a timestamp (--timestamp)"
                ),
            )
    elif version in used or version in own:
        owner = used.get(version, f"package {dotted}")
        raise ScaffoldError(
            target=f"{dotted}.V{version}__{name}",
            problem=f"version {version} is already used by {owner}; the next free one is {free} (or use a timestamp: --timestamp)"
        )
    if version > migration_module.MAX_VERSION:
        raise ScaffoldError(
            target=f"{dotted}.V{version}__{name}",
            problem=f"version {version} is above {migration_module.MAX_VERSION}, the highest a history can hold; pass a lower version",
        )
    return _write_module(registry, directory, name, version, timestamp, set(used) | own | existing, now)


def _versions_on_disk(directory: Path) -> set[int]:
    """The versions of the ``V{n}__*`` files directly in ``directory`` now."""
    versions: set[int] = set()
    for path in directory.glob("V[0-9]*__*.*"):
        number = path.name[1:].split("__", 1)[0]
        if number.isdigit():
            versions.add(int(number))
    return versions


def _claims_directory() -> Path:
    """Where ``new`` claims a version while it writes it: one directory per user, shared by every agent and process."""
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    directory = Path(tempfile.gettempdir()) / f"nocodo-agents-new-{user}"
    directory.mkdir(mode=0o700, exist_ok=True)
    if hasattr(os, "getuid") and directory.stat().st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to another user; delete it")
    return directory


def _write_module(
    registry: AgentRegistry,
    directory: Path, name: str, version: int, timestamp: bool, taken: set[int], now: Callable[[], datetime] | None
) -> tuple[Path, int]:
    """Write ``V{version}__{name}.py`` (with a timestamp, the next free second if ``version`` turns out taken) and return it.

    Two ``new`` runs at once, in one process or two, for one agent or two,
    never write the same version: each first claims the version by creating
    ``{claims}/V{version}`` exclusively, then looks again at the directory
    and at every installed agent's versions (a run that held the claim a
    moment ago wrote its file before releasing it), and writes its module
    with an exclusive create. A claim left by a killed run only skips that
    second (with ``--version``: the error names the file to delete).
    """
    try:
        claims = _claims_directory()
    except OSError as error:
        raise ScaffoldError(target=str(directory / f"V{version}__{name}.py"), problem=f"cannot claim its version: {error}") from error
    while True:
        path = directory / f"V{version}__{name}.py"
        claim = claims / f"V{version}"
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            if not timestamp:
                raise ScaffoldError(
                    target=str(path),
                    problem=f"another `new` is writing version {version} at this moment; run again (if none is running, delete {claim})",
                ) from None
            taken.add(version)
            version = timestamp_version(taken, now)
            continue
        except OSError as error:
            raise ScaffoldError(target=str(path), problem=f"cannot claim its version in {claims}: {error}") from error
        try:
            if version in _versions_on_disk(directory) or version in _versions_in_use(registry):
                if not timestamp:
                    raise ScaffoldError(target=str(path), problem=f"version {version} was taken a moment ago by another `new`; run again")
                taken.add(version)
                version = timestamp_version(taken, now)
                continue
            try:
                with open(path, "x", encoding="utf-8") as module:  # never overwrite, even a file made a moment ago
                    module.write(TEMPLATE.format(version=version, name=name, path=path.name))
            except FileExistsError:
                raise ScaffoldError(target=str(path), problem="the file already exists; pick another name") from None
            except OSError as error:
                raise ScaffoldError(target=str(path), problem=f"the file cannot be written: {error}") from error
            return path, version
        finally:
            try:
                claim.unlink()
            except OSError:
                pass  # already gone: nothing to release
