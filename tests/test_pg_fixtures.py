"""The PostgreSQL fixtures (tests/helpers_pg.py, `postgres_url` and `pg_database`): each test gets
a database of its own, empty, dropped after; without a server a test is skipped, or failed on CI."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers_pg import (
    ENV,
    PREFIX,
    create_database,
    database_name,
    database_url,
    drop_database,
    server_url,
)

SEEN: list[str] = []
"""The databases the parametrized test below was given, in order."""


def user_tables(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return [row[0] for row in rows]


def databases(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT datname FROM pg_database").fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_gets_a_fresh_empty_database_of_its_own(
    turn: int, pg_database: str, postgres_url: str
) -> None:
    name = database_name(pg_database)
    assert name.startswith(PREFIX)
    assert name not in SEEN  # not the database an earlier test was given
    assert name in databases(postgres_url)
    # empty, though the turn before left a table in its own database
    assert user_tables(pg_database) == []
    with psycopg.connect(pg_database) as connection:
        connection.execute("CREATE TABLE left_behind (turn integer)")
        connection.execute("INSERT INTO left_behind VALUES (%s)", (turn,))
    assert user_tables(pg_database) == ["left_behind"]
    for earlier in SEEN:
        assert earlier not in databases(postgres_url)  # dropped after its test
    SEEN.append(name)


def test_a_database_is_dropped_even_with_a_client_still_connected(postgres_url: str) -> None:
    url = create_database(postgres_url)
    name = database_name(url)
    with psycopg.connect(url) as lingering:  # as a replica the test left running would be
        drop_database(postgres_url, name)
        assert name not in databases(postgres_url)
        with pytest.raises(psycopg.OperationalError):
            lingering.execute("SELECT 1")


def test_database_url_keeps_the_server_and_names_the_database() -> None:
    assert (
        database_url("postgresql://postgres@127.0.0.1:5433/postgres?sslmode=disable", "x_1")
        == "postgresql://postgres@127.0.0.1:5433/x_1?sslmode=disable"
    )


def test_without_a_server_the_test_is_skipped_locally_and_failed_on_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"\.ci/postgres start"):
        server_url()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/postgres start"):
        server_url()
    monkeypatch.setenv(ENV, "postgresql://postgres@127.0.0.1:5433/postgres")
    assert server_url() == "postgresql://postgres@127.0.0.1:5433/postgres"
