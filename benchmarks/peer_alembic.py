"""alembic (+ SQLAlchemy): one revision file per migration, each in its own transaction.

``transaction_per_migration=True`` makes each revision and its
``alembic_version`` update commit together, the closest alembic comes to one
transaction per migration with its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

ENV_PY = '''\
from alembic import context
from sqlalchemy import create_engine

config = context.config


def run(connection):
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        run(connection)
        connection.commit()
    engine.dispose()
'''

REVISION = '''\
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{body}


def downgrade():
    pass
'''


def write(directory: Path, migrations: Sequence[tuple[int, str, str]]) -> Path:
    """A script directory (env.py, versions/) with one revision per ``(version, name, sql)``."""
    versions = directory / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (directory / "env.py").write_text(ENV_PY)
    down = None
    for version, name, sql in migrations:
        revision = f"r{version:06d}"
        statements = [part.strip() for part in sql.split(";") if part.strip()]
        body = "\n".join(f"    op.execute({s!r})" for s in statements)
        (versions / f"{revision}_{name}.py").write_text(REVISION.format(revision=revision, down=down, body=body))
        down = revision
    return directory


def _config(project: Path, db_path: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(project))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db_path}")
    return config


def apply(project: Path, db_path: str) -> None:
    """``alembic upgrade head`` in-process (a fresh engine, as an application start would)."""
    from alembic import command as alembic_command

    alembic_command.upgrade(_config(project, db_path), "head")


def noop_on_open(project: Path, db_path: str) -> Callable[[], object]:
    """A no-op ``upgrade head`` on a SQLAlchemy connection kept open."""
    from alembic import command as alembic_command
    from sqlalchemy import create_engine

    connection = create_engine(f"sqlite:///{db_path}").connect()
    config = _config(project, db_path)
    config.attributes["connection"] = connection

    def run() -> object:
        alembic_command.upgrade(config, "head")
        connection.commit()
        return None

    return run


def command(bin_dir: Path, project: Path, db_path: str) -> list[str]:
    """``alembic -c alembic.ini upgrade head`` (the ini is written next to the script directory)."""
    ini = project / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {project}\nsqlalchemy.url = sqlite:///{db_path}\n")
    return [str(bin_dir / "alembic"), "-c", str(ini), "upgrade", "head"]
