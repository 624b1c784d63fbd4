"""The pytest plugin (entry point `pytest11: gateway_sim`): a simulator for your test session.

Fixtures:

- `gateway_sim` (session): the simulator. In-process by default (its own server in a thread on a
  free port of 127.0.0.1, the default scenario or `--gateway-sim-scenario FILE`), or the external
  one at `--gateway-sim-url URL` / `GATEWAY_SIM_URL` (a Docker service in CI, say). `.url` is what
  to hand to the client under test; `.api` is a typed `SimClient` of the `/_sim` API.
- `sim_account` (function): a fresh account of its own per test (unique username, random
  password, a random access key pair for `/api/https` and `/api/json`, and a default sender
  number of its own), so tests running in parallel never see each other's messages; removed
  afterwards.
  Credit 100 unless `@pytest.mark.gateway_sim_account(credit=5)` or indirect parametrization
  (`@pytest.mark.parametrize("sim_account", [5], indirect=True)`, or a dict of the marker's
  keywords) says otherwise; `daily_allowance=N` caps its messages per day.
  Everything it does is scoped to it (`gateway_sim.testing.account`), so suites sharing one
  simulator (xdist workers, parallel CI jobs) do not disturb each other: its waits and lists
  filter by its username, `sim_account.add_rule({...})` adds a rule that matches it alone
  (removed after the test), and `sim_account.reset()` resets it alone, never the simulator.

The in-process simulator trusts `X-Forwarded-Proto: https` (as `serve --trust-proxy`), so a
client can reach the HTTPS-only `/api/https` and `/api/json` paths over its plain-HTTP URL with
that header.

    def test_sends_a_code(gateway_sim, sim_account):
        my_app.send_code(gateway_sim.url, sim_account.username, sim_account.password, "07700900123")
        message = sim_account.wait_for_message(to="07700900123")
        assert "code" in message.text
        sim_account.assert_no_refused_requests()

Options (each with an environment twin): `--gateway-sim-url` (`GATEWAY_SIM_URL`),
`--gateway-sim-token` (`GATEWAY_SIM_CONTROL_TOKEN`), `--gateway-sim-scenario`
(`GATEWAY_SIM_SCENARIO`, in-process only). The report header names the simulator the session
uses, and where an external one's URL came from, since an exported variable switches it.
"""

from __future__ import annotations

import itertools
import os
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import httpx
import pytest

if TYPE_CHECKING:
    from gateway_sim.server.httpserver import ServerThread

from gateway_sim.testing.account import SimTestAccount
from gateway_sim.testing.client import (
    Filters,
    MessageFilters,
    RequestFilters,
    SimApiError,
    SimClient,
    SimMessage,
    SimRequest,
)

MARKER = "gateway_sim_account"
ACCOUNT_KEYWORDS = ("credit", "default_sender", "default_country", "daily_allowance")
DEFAULT_CREDIT = Decimal(100)
SENDERS = range(447700900100, 447700900800)
"""Default senders of `sim_account`s, in turn: Ofcom's drama range (never a real handset), past
the default scenario's own sender (447700900000) and short of its magic numbers (9008xx, 9009xx)."""
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gateway-sim", "IntelliSoftware gateway simulator")
    group.addoption(
        "--gateway-sim-url",
        default=None,
        metavar="URL",
        help="use the simulator running at URL instead of starting one in-process "
        "(env GATEWAY_SIM_URL)",
    )
    group.addoption(
        "--gateway-sim-token",
        default=None,
        metavar="TOKEN",
        help="control token of the simulator's /_sim API (env GATEWAY_SIM_CONTROL_TOKEN); "
        "an in-process simulator is started with it",
    )
    group.addoption(
        "--gateway-sim-scenario",
        default=None,
        metavar="FILE",
        help="scenario YAML for the in-process simulator (env GATEWAY_SIM_SCENARIO; "
        "default: the shipped default scenario)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(credit=100, default_sender=None, default_country=None): "
        "settings of the test's `sim_account` (gateway-sim)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Say which simulator the session uses: an exported `GATEWAY_SIM_URL` must not switch it
    unseen."""
    url, source = _setting_from(config, "gateway_sim_url", "GATEWAY_SIM_URL")
    if url is not None:
        return f"gateway-sim: external simulator at {url} (from {source})"
    scenario = _setting(config, "gateway_sim_scenario", "GATEWAY_SIM_SCENARIO")
    return (
        f"gateway-sim: in-process simulator, scenario {scenario or 'default'} "
        "(started when a test first asks for it)"
    )


def _setting(config: pytest.Config, option: str, env: str) -> str | None:
    return _setting_from(config, option, env)[0]


def _setting_from(config: pytest.Config, option: str, env: str) -> tuple[str | None, str]:
    """An option's value (else its environment twin's), and which of the two gave it."""
    value = config.getoption(option)
    if value:
        return str(value), "--" + option.replace("_", "-")
    return os.environ.get(env) or None, env


class GatewaySim:
    """The simulator of the session: `.url` for the client under test, `.api` for the test."""

    def __init__(self, url: str, api: SimClient, *, external: bool) -> None:
        self.url = url.rstrip("/")
        self.api = api
        self.external = external
        self._senders = itertools.cycle(SENDERS)

    def next_sender(self) -> str:
        """A sender number for a new account: none of the session's last 700 had it."""
        return str(next(self._senders))

    def __repr__(self) -> str:
        where = "external" if self.external else "in-process"
        return f"<GatewaySim {where} {self.url}>"

    def messages(
        self, *, limit: int | None = 100, **filters: Unpack[MessageFilters]
    ) -> list[SimMessage]:
        """Accepted messages of every account (or of `account`), newest first."""
        return self.api.messages(limit=limit, **filters)

    def wait_for_message(
        self, to: str | None = None, timeout: float = 5.0, **filters: Unpack[Filters]
    ) -> SimMessage:
        """The newest matching message, waiting up to `timeout` seconds for one."""
        __tracebackhide__ = True
        return self.api.wait_for_message(to, timeout, **filters)

    def requests(
        self, *, limit: int | None = 100, **filters: Unpack[RequestFilters]
    ) -> list[SimRequest]:
        """The journal of gateway requests, newest first."""
        return self.api.requests(limit=limit, **filters)

    def assert_no_refused_requests(
        self, account: str | None = None, *, since: datetime | str | None = None
    ) -> None:
        """Fail, listing each one, if any gateway request was refused or only partly accepted."""
        __tracebackhide__ = True
        self.api.assert_no_refused_requests(account, since=since)


@dataclass(frozen=True)
class SimAccountSettings:
    """What a test asked of its account, from the marker and indirect parametrization."""

    credit: Decimal = DEFAULT_CREDIT
    default_sender: str | None = None
    default_country: str | None = None
    daily_allowance: int | None = None


class _InProcessServer:
    """The simulator's own server (`httpserver.ServerThread`) serving a fresh simulator in a
    daemon thread on a free port."""

    def __init__(self, scenario_file: str | None, token: str | None) -> None:
        from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario  # noqa: PLC0415
        from gateway_sim.server.app import create_app  # noqa: PLC0415

        scenario = load_scenario(Path(scenario_file) if scenario_file else DEFAULT_SCENARIO)
        self.app = create_app(scenario, control_token=token, trust_proxy=True)
        self.server: ServerThread | None = None
        self.url = ""

    def start(self) -> None:
        from gateway_sim.server.httpserver import ServerThread  # noqa: PLC0415

        try:
            self.server = ServerThread(self.app, before_stop=self._before_stop)
        except (OSError, RuntimeError) as error:
            self.app.close()
            raise RuntimeError(f"the in-process gateway-sim did not start: {error}") from error
        self.url = self.server.url

    async def _before_stop(self) -> None:
        self.app.feed.close()
        await self.app.edge.finish(0.2)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(STOP_TIMEOUT)
        self.app.close()


@pytest.fixture(scope="session")
def gateway_sim(pytestconfig: pytest.Config) -> Iterator[GatewaySim]:
    """The simulator for the test session: in-process, or the one at `--gateway-sim-url`."""
    url = _setting(pytestconfig, "gateway_sim_url", "GATEWAY_SIM_URL")
    token = _setting(pytestconfig, "gateway_sim_token", "GATEWAY_SIM_CONTROL_TOKEN")
    if url is not None:
        with SimClient(url, token=token) as api:
            _check_reachable(api, url)
            yield GatewaySim(url, api, external=True)
        return
    scenario = _setting(pytestconfig, "gateway_sim_scenario", "GATEWAY_SIM_SCENARIO")
    server = _InProcessServer(scenario, token)
    server.start()
    try:
        with SimClient(server.url, token=token) as api:
            yield GatewaySim(server.url, api, external=False)
    finally:
        server.stop()


def _check_reachable(api: SimClient, url: str) -> None:
    try:
        api.health()
    except httpx.HTTPError as error:
        pytest.fail(f"gateway-sim at {url} is not reachable: {error!r}", pytrace=False)
    except SimApiError as error:
        hint = " (set --gateway-sim-token)" if error.status == 401 else ""
        pytest.fail(f"gateway-sim at {url} refused /_sim/health: {error}{hint}", pytrace=False)


@pytest.fixture
def sim_account(
    request: pytest.FixtureRequest, gateway_sim: GatewaySim
) -> Iterator[SimTestAccount]:
    """A fresh account of this test's own on the session's simulator; removed afterwards."""
    settings = _account_settings(request)
    username = f"t-{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(12)
    accesskey, secretkey = f"ak-{username}", secrets.token_urlsafe(18)
    sender = settings.default_sender
    created = gateway_sim.api.put_account(
        username,
        password,
        settings.credit,
        # Its own number, so that its messages show a sender, and not another account's.
        default_sender=gateway_sim.next_sender() if sender is None else sender,
        default_country=settings.default_country,
        access_keys={accesskey: secretkey},
        daily_allowance=settings.daily_allowance,
    )
    try:
        account = SimTestAccount(
            gateway_sim, username, password, created, accesskey=accesskey, secretkey=secretkey
        )
        yield account
        account.remove_rules()
    finally:
        gateway_sim.api.delete_account(username, missing_ok=True)


def _account_settings(request: pytest.FixtureRequest) -> SimAccountSettings:
    given: dict[str, Any] = {}
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if len(marker.args) > 1:
            pytest.fail(f"@pytest.mark.{MARKER} takes one positional argument at most: credit")
        if marker.args:
            given["credit"] = marker.args[0]
        given.update(marker.kwargs)
    param = getattr(request, "param", None)
    if isinstance(param, Mapping):
        given.update(param)
    elif param is not None:
        given["credit"] = param
    unknown = sorted(set(given) - set(ACCOUNT_KEYWORDS))
    if unknown:
        pytest.fail(
            f"sim_account: unknown setting(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(ACCOUNT_KEYWORDS)}",
            pytrace=False,
        )
    credit = given.get("credit", DEFAULT_CREDIT)
    return SimAccountSettings(
        credit=Decimal(str(credit)),
        default_sender=given.get("default_sender"),
        default_country=given.get("default_country"),
        daily_allowance=given.get("daily_allowance"),
    )
