"""yoyo-migrations: one ``.sql`` file per migration, applied under yoyo's lock, as its ``yoyo apply`` does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Callable


def write(directory: Path, migrations: Sequence[tuple[int, str, str]]) -> Path:
    """A yoyo migrations directory holding ``(version, name, sql)`` as ``NNNNN_name.sql``."""
    directory.mkdir(parents=True, exist_ok=True)
    for version, name, sql in migrations:
        (directory / f"{version:06d}_{name}.sql").write_text(sql + "\n")
    return directory


def apply(project: Path, db_path: str) -> None:
    """Read the migrations and apply what is pending, as an application start would (fresh backend)."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(f"sqlite:///{db_path}")
    try:
        migrations = read_migrations(str(project))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations))
    finally:
        backend.connection.close()


def noop_on_open(project: Path, db_path: str) -> Callable[[], object]:
    """A no-op run on a backend (connection) kept open: read the files, lock, find nothing to apply."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(f"sqlite:///{db_path}")

    def run() -> object:
        migrations = read_migrations(str(project))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return pending

    return run


def command(bin_dir: Path, project: Path, db_path: str) -> list[str]:
    """``yoyo apply`` on ``db_path``, without prompts or config files."""
    return [str(bin_dir / "yoyo"), "apply", "--batch", "--no-config-file", "--database", f"sqlite:///{db_path}", str(project)]
