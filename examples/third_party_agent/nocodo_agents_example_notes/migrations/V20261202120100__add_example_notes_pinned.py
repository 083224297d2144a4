"""A note can be pinned: a column with a default (existing rows stay unpinned) and an index."""

from nocodo_agents.plugins import dialect_sql

migration = dialect_sql(
    sqlite="""\
ALTER TABLE example_notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_example_notes_pinned ON example_notes (pinned, created_at);
""",
    postgresql="""\
ALTER TABLE example_notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX idx_example_notes_pinned ON example_notes (pinned, created_at);
""",
    mysql="""\
ALTER TABLE example_notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX idx_example_notes_pinned ON example_notes (pinned, created_at);
""",
)

# The index goes first: SQLite (3.35 or newer) refuses to drop an indexed column.
rollback = dialect_sql(
    sqlite="DROP INDEX idx_example_notes_pinned;\nALTER TABLE example_notes DROP COLUMN pinned;\n",
    postgresql="DROP INDEX idx_example_notes_pinned;\nALTER TABLE example_notes DROP COLUMN pinned;\n",
    mysql="DROP INDEX idx_example_notes_pinned ON example_notes;\nALTER TABLE example_notes DROP COLUMN pinned;\n",
)
