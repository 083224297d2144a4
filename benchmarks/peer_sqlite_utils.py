"""sqlite-utils 4's ``Migrations`` (formerly the sqlite-migrate plugin): one Python function per migration.

Each migration and its ``_sqlite_migrations`` row commit together
(``db.atomic()``); ``sqlite-utils migrate DB migrations.py`` is the command.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable


def write(directory: Path, migrations: Sequence[tuple[int, str, str]]) -> Path:
    """A ``migrations.py`` registering one function per ``(version, name, sql)``."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["from sqlite_utils import Migrations", "", 'migrations = Migrations("bench")', ""]
    for version, name, sql in migrations:
        statements = [part.strip() for part in sql.split(";") if part.strip()]
        lines += [f'@migrations(name="m{version:06d}_{name}")', f"def m{version}(db):"]
        lines += [f"    db.execute({statement!r})" for statement in statements] + [""]
    path = directory / "migrations.py"
    path.write_text("\n".join(lines))
    return path


def load(project: Path) -> Any:
    """Import ``migrations.py`` and return its ``Migrations`` object."""
    spec = importlib.util.spec_from_file_location(f"bench_sqlite_utils_{abs(hash(str(project)))}", project)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.migrations


def apply(migrations: Any, db_path: str) -> None:
    """Apply what is pending to ``db_path`` (a fresh ``Database``)."""
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    try:
        migrations.apply(db)
    finally:
        db.close()


def noop_on_open(migrations: Any, db_path: str) -> Callable[[], object]:
    """A no-op run on a ``Database`` kept open."""
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    return lambda: migrations.apply(db)


def command(bin_dir: Path, project: Path, db_path: str) -> list[str]:
    """``sqlite-utils migrate DB migrations.py``."""
    return [str(bin_dir / "sqlite-utils"), "migrate", db_path, str(project)]
