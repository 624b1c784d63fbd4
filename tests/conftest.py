"""Shared fixtures: the app in-process (Starlette's TestClient) and a real server on a free port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.records import Message
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, parse_scenario
from gateway_sim.server.app import GatewayApp, create_app
from gateway_sim.server.httpserver import ServerThread

if TYPE_CHECKING:
    from tests.helpers_callbacks import Receiver

SEND = "/smsgateway/sendmsg.aspx"
MMS = "/smsgateway/default.aspx"
BALANCE = "/smsgateway/getbalance.aspx"
SUBACCOUNT = "/smsgateway/createsubacc.aspx"
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ClientFor = Callable[[str], TestClient]


def build_app(scenario: Scenario | str | None = None, *, trust_proxy: bool = False) -> GatewayApp:
    """An app for a scenario (object, YAML text, or the default), on a fixed clock."""
    if scenario is None:
        scenario = load_scenario(DEFAULT_SCENARIO)
    elif isinstance(scenario, str):
        scenario = parse_scenario(scenario, source="<test>")
    return create_app(scenario, clock=ManualClock(START), trust_proxy=trust_proxy)


@pytest.fixture
def app() -> Iterator[GatewayApp]:
    simulator = build_app()
    yield simulator
    simulator.close()


@pytest.fixture
def client(app: GatewayApp) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client_for() -> Iterator[ClientFor]:
    """Make a TestClient for a scenario given as YAML text."""
    yield from _clients("http://testserver")


@pytest.fixture
def https_for() -> Iterator[ClientFor]:
    """Make a TestClient for a scenario given as YAML text, over HTTPS (the ASGI scheme)."""
    yield from _clients("https://testserver")


def _clients(base_url: str) -> Iterator[ClientFor]:
    clients: list[TestClient] = []

    def make(scenario_yaml: str) -> TestClient:
        test_client = TestClient(build_app(scenario_yaml), base_url=base_url)
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.close()
        assert isinstance(test_client.app, GatewayApp)
        test_client.app.close()


def only_message(app: GatewayApp) -> Message:
    """The one message the store holds (fails if there are more or none)."""
    messages = list(app.store)
    assert len(messages) == 1
    return messages[0]


def stored(app: GatewayApp, message_id: str) -> Message:
    """The message `message_id` as the store keeps it; failing the test if it is not kept."""
    message = app.store.get(message_id)
    assert message is not None, f"no message {message_id}"
    return message


def credit(app: GatewayApp, username: str = "demo") -> Decimal:
    account = app.gateway.accounts.get(username)
    assert account is not None
    return account.credit


def app_of(client: TestClient) -> GatewayApp:
    assert isinstance(client.app, GatewayApp)
    return client.app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    app: GatewayApp
    url: str


def start_server(app: Any) -> ServerThread:
    """The simulator's own server on a free port of 127.0.0.1 in a thread, configured as
    `gateway-sim serve` configures it; returns once it accepts connections."""

    async def before_stop() -> None:
        if isinstance(app, GatewayApp):
            app.feed.close()
            await app.edge.finish(0.2)

    return ServerThread(app, before_stop=before_stop)


@pytest.fixture
def live_server() -> Iterator[Callable[[GatewayApp], LiveServer]]:
    """Serve an app on a free port in a thread; stopped after the test."""
    servers: list[tuple[ServerThread, GatewayApp]] = []

    def start(app: GatewayApp) -> LiveServer:
        server = start_server(app)
        servers.append((server, app))
        return LiveServer(app, server.url)

    yield start
    for server, app in servers:
        server.stop()
        app.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the tests' PostgreSQL server (GATEWAY_SIM_TEST_POSTGRES, see
    tests/helpers_pg.py): skips without one, fails under CI."""
    from tests.helpers_pg import server_url

    return server_url()


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on that server, for this test only; dropped after."""
    from tests.helpers_pg import create_database, database_name, drop_database

    url = create_database(postgres_url)
    yield url
    drop_database(postgres_url, database_name(url))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver of callbacks on a free port (tests/helpers_callbacks.py), closed
    after the test."""
    from tests.helpers_callbacks import Receiver  # it imports this module's constants

    running = Receiver()
    yield running
    running.close()


def start_serve(
    argv: list[str], env: dict[str, str] | None = None, *, cwd: str | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start a `gateway-sim serve` process (`argv` is its whole command line) and read its URL
    from the announcement; stdout and stderr are pipes the caller reads or closes."""
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.search(r"listening on (https?://\S+)", first)
    if found is None:
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise AssertionError(f"unexpected first line {first!r}: {errors}")
    return process, found.group(1)


# -- tiers -------------------------------------------------------------------------------------
# `slow` marks every test that goes beyond the app in process: a real server (a thread on a
# socket, a `gateway-sim` process), a browser, pytest runs of its own, a callbacks receiver, the
# Docker replay, the benchmark's servers. It is decided here, by rule, so a new test of that kind
# cannot land in the quick tier (`make test-quick`) unmarked.
REAL_FIXTURES = frozenset(
    {"live_server", "pytester", "receiver", "bench", "postgres_url", "pg_database"}
)
"""Fixtures that start something real (a server thread, a pytest run, an HTTP receiver, the
benchmark's servers) or reach one (the PostgreSQL server, a database made in it)."""
REAL_STARTERS = frozenset({"start_server", "start_serve", "served", "ServerThread", "Popen"})
"""Names that start a real server or process when a test module uses them."""
REAL_MODULES = ("subprocess", "playwright", "socket", "tests.serving", "tests.helpers_processes")
"""Modules whose use makes a test module real: processes, browsers, sockets, and the shared
helpers that start `gateway-sim` processes."""


def _starts_something_real(module: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether `module` uses a real starter, or a helper of another test module that does."""
    for name, value in vars(module).items():
        if name in REAL_STARTERS:
            return True
        origin = value.__name__ if isinstance(value, type(os)) else getattr(value, "__module__", "")
        if not isinstance(origin, str) or origin in seen or origin == module.__name__:
            continue
        if origin.startswith(REAL_MODULES):
            return True
        helper = sys.modules.get(origin) if origin.startswith("tests.test_") else None
        if helper is not None and _starts_something_real(helper, seen | {module.__name__}):
            return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    real_modules: dict[str, bool] = {}
    for item in items:
        module = getattr(item, "module", None)
        if module is None:
            continue
        if module.__name__ not in real_modules:
            real_modules[module.__name__] = _starts_something_real(module)
        fixtures = set(getattr(item, "fixturenames", ()))
        if real_modules[module.__name__] or fixtures & REAL_FIXTURES:
            item.add_marker(pytest.mark.slow)
