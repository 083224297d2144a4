"""Schema drift: the live schema compared with the one the applied migrations produce.

The public face of the schema layer's drift check. The expected schema comes
from replaying the applied migrations' own SQL, in version order, on the
dialect's scratch copy (:mod:`nocodo_agents.schema.replay`: SQLite an
in-memory database, PostgreSQL a scratch schema in a rolled-back
transaction, MySQL a scratch database dropped afterwards); both schemas are
described as flat ``{key: description}`` mappings (:mod:`nocodo_agents.schema.keys`)
and compared key by key by :func:`compare_schemas`, which is pure
(:mod:`nocodo_agents.schema.compare` says how). A dialect's ``schema_drift``
runs the whole check on its connection.
"""

from __future__ import annotations

from .errors import SchemaReplayError
from .schema.compare import DriftReport, SchemaDifference, compare_schemas
from .schema.keys import Owner
from .schema.scratch_sqlite import expected_sqlite_schema, sqlite_schema_drift

__all__ = [
    "DriftReport",
    "Owner",
    "SchemaDifference",
    "SchemaReplayError",
    "compare_schemas",
    "expected_sqlite_schema",
    "sqlite_schema_drift",
]
