"""Database URLs: parsing and password redaction."""

import pytest

from nocodo_agents import DatabaseUrlError
from nocodo_agents.urls import parse_database_url, redact


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://app:hunter2@db:5432/agents", "postgresql://app:***@db:5432/agents"),
        ("postgresql://app:p@ss?#x@db/agents", "postgresql://app:***@db/agents"),
        ("postgresql://app@db/agents?sslmode=require&password=hunter2", "postgresql://app@db/agents?sslmode=require&password=***"),
        ("mysql://u:pw@h/db?x=1&PASSWORD=zz&y=2", "mysql://u:***@h/db?x=1&PASSWORD=***&y=2"),
        ("host=db password=hunter2 user=app", "host=db password=*** user=app"),
        ("postgresql://db/agents", "postgresql://db/agents"),
        ("sqlite:///data/agents.db", "sqlite:///data/agents.db"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_parsed_urls_never_show_the_password() -> None:
    parsed = parse_database_url("postgresql://app:hunter2@db/agents")
    assert parsed.dialect == "postgresql"
    assert "hunter2" not in str(parsed) and "hunter2" not in repr(parsed)


@pytest.mark.parametrize(
    "url, dialect, path, query",
    [
        ("sqlite:///data/a.db", "sqlite", "data/a.db", ""),
        ("sqlite:////tmp/a.db?mode=ro", "sqlite", "/tmp/a.db", "mode=ro"),
        ("agents.db", "sqlite", "agents.db", ""),
        ("mariadb://u@h/db", "mysql", "", ""),
        ("postgres://u@h/db", "postgresql", "", ""),
        ("postgresql+psycopg://u@h/db", "postgresql", "", ""),
    ],
)
def test_parse(url: str, dialect: str, path: str, query: str) -> None:
    parsed = parse_database_url(url)
    assert (parsed.dialect, parsed.path, parsed.query) == (dialect, path, query)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("", "empty"),
        ("ftp://x", "unknown scheme 'ftp'"),
        ("sqlite://relative.db", "three or four slashes"),
        ("mysql://u:pw@h:notaport/db", "Port"),
        ("postgresql://app:a/b@h/db", "percent-encode"),
    ],
)
def test_unusable_urls(url: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=problem) as raised:
        parse_database_url(url)
    assert "pw" not in str(raised.value) and "a/b" not in str(raised.value)
