"""The PostgreSQL server the tests use, and a fresh database in it per test.

The server is one the tests do not start: its URL comes from GATEWAY_SIM_TEST_POSTGRES (`.ci/run`
starts a throwaway cluster with `.ci/postgres start` and exports it). Without it a test that
needs it is skipped, or failed under CI (`CI=true`), where a skip would hide the store's tests.
Each test gets a database of its own, made empty and dropped after (WITH (FORCE): a replica the
test left connected does not keep it alive).
"""

from __future__ import annotations

import itertools
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ENV = "GATEWAY_SIM_TEST_POSTGRES"
HOW_TO_START = (
    f"{ENV} is not set: start a throwaway PostgreSQL cluster with "
    f'`export {ENV}="$(.ci/postgres start)"` (Debian\'s server binaries: `make postgres`; '
    f'stop it with `.ci/postgres stop "${ENV}"`)'
)
PREFIX = "gsim_test_"
"""The names of the tests' databases (a leftover of a killed run is recognisable by it)."""
_numbers = itertools.count(1)


def server_url() -> str:
    """The URL of the tests' PostgreSQL server; skips the test (fails it under CI) without one."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(HOW_TO_START)
        pytest.skip(HOW_TO_START)
    return url


def database_url(url: str, name: str) -> str:
    """`url` with its database (the path) replaced by `name`; user, host, port and query kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def unique_name() -> str:
    """A database name no other test of this or another process (xdist workers) will pick."""
    return f"{PREFIX}{os.getpid()}_{next(_numbers)}_{uuid.uuid4().hex[:8]}"


def create_database(url: str) -> str:
    """Create an empty database on the server of `url`; return its URL."""
    name = unique_name()
    # CREATE DATABASE cannot run in a transaction block: autocommit.
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop the database `name` on the server of `url`, closing whatever is still connected."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
