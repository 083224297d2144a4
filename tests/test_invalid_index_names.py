"""Whether a migration names an invalid index is read from its code, not from comments or string literals."""

from __future__ import annotations

import pytest

from nocodo_agents.engine.non_transactional import _names


@pytest.mark.parametrize(
    "sql, qualified, named",
    [
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS big_payload ON big (payload);", "public.big_payload", True),
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS BIG_Payload ON big (payload);", "public.big_payload", True),
        ("DROP INDEX CONCURRENTLY app.big_payload;", "app.big_payload", True),
        ('CREATE INDEX CONCURRENTLY "MyIndex" ON big (payload);', 'public."MyIndex"', True),
        ("CREATE INDEX CONCURRENTLY myindex ON big (payload);", 'public."MyIndex"', False),  # folds to myindex
        ('CREATE INDEX CONCURRENTLY "a ""b""" ON big (x);', 'public."a ""b"""', True),
        ("-- rebuilds big_payload later\nCREATE INDEX CONCURRENTLY other ON big (x);", "public.big_payload", False),
        ("CREATE INDEX CONCURRENTLY other ON big (x) WHERE note <> 'big_payload';", "public.big_payload", False),
        ("/* big_payload */ CREATE INDEX CONCURRENTLY big_payload_2 ON big (x);", "public.big_payload", False),
        # a dollar-quoted body may be code (DO $$ ... $$ runs it): read as code, so it counts
        ("DO $$ BEGIN EXECUTE 'DROP INDEX big_payload'; END $$;", "public.big_payload", False),
        ("DO $$ BEGIN DROP INDEX big_payload; END $$;", "public.big_payload", True),
    ],
)
def test_an_index_is_named_only_by_code(sql: str, qualified: str, named: bool) -> None:
    assert _names(sql, qualified) is named
