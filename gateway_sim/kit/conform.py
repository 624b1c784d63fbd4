"""`gateway-sim conform FILE`: replay a recording against the simulator (a fresh one in this
process by default, or a running one) and say, exchange by exchange, whether it answers as the
recorded gateway did, after `normalise` has set aside what always varies."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, Scenario, ScenarioError, load_scenario
from gateway_sim.kit import report
from gateway_sim.kit.normalise import Normaliser
from gateway_sim.kit.recording import Answer, Exchange, RecordingError, Redactor, encode, read
from gateway_sim.server.app import GatewayApp, create_app
from gateway_sim.server.httpserver import ServerThread

START = datetime(2026, 1, 1, tzinfo=UTC)
RUNTIME_WIND_DOWN = 0.1
"""Seconds the command waits after stopping its in-process server (see `target`)."""
"""The fixed clock of an in-process replay, so a run repeats."""
_PLACEHOLDER = re.compile(r"<(password|accesskey|secretkey|subacc_password):(\d+)>")
_SET_BY_CLIENT = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class Unusable(Exception):
    """The target cannot be replayed against (a bad scenario, nobody at --against)."""


def run(args: argparse.Namespace) -> int:
    """Run `conform` from parsed arguments; the return value is the exit status."""
    try:
        exchanges = read(args.file)
        scenario = load_scenario(args.scenario or DEFAULT_SCENARIO)
        with target(scenario, args.against) as url:
            outcomes = replay(exchanges, url, scenario, timeout=args.timeout)
    except (RecordingError, ScenarioError, Unusable) as error:
        print(f"gateway-sim conform: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(report.render(outcomes, args.format))
    return 0 if all(outcome.matched for outcome in outcomes) else 1


@contextmanager
def target(scenario: Scenario, against: str | None) -> Iterator[str]:
    """The URL to replay against: `against` once it answers, else a fresh simulator on
    `scenario` (fixed clock, the scenario's seed) served in a thread of this process."""
    if against is not None:
        try:
            httpx.get(against.rstrip("/") + "/_sim/health", timeout=5)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise Unusable(f"{against}: no simulator answers: {error}") from None
        yield against.rstrip("/")
        return
    # trusting X-Forwarded-Proto: each replayed request says how the recorded one reached the
    # gateway (https for the real one), so /api/https answers as it did
    app = create_app(scenario, clock=ManualClock(START), trust_proxy=True)
    server = ServerThread(app, before_stop=lambda: _finish(app))
    try:
        yield server.url
    finally:
        server.stop()
        app.close()
        # granian's own (Rust) threads wind down a moment after its serve() returns, and a
        # process that exits meanwhile aborts (1 run in 7 did); the server offers nothing to
        # wait on, so the command, which exits next, waits this long.
        time.sleep(RUNTIME_WIND_DOWN)


async def _finish(app: GatewayApp) -> None:
    app.feed.close()
    await app.edge.finish(0.2)


def credentials(exchanges: Sequence[Exchange], scenario: Scenario) -> dict[str, str]:
    """What each placeholder of the recording becomes: a user's first password placeholder is
    that account's password; the first access key pair is the scenario's first; any other is a
    wrong value of its kind (and a new sub-account's password is made up)."""
    passwords = {account.username: account.password for account in scenario.accounts}
    pairs = [pair for account in scenario.accounts for pair in account.access_keys]
    # A username equal to its password (demo/demo) is redacted with it: such a placeholder
    # stands for an account whose name is its password.
    named_so = [
        account.password for account in scenario.accounts if account.username == account.password
    ]
    values: dict[str, str] = {}
    first_of: dict[str, str] = {}
    for exchange in exchanges:
        fields = exchange.request.fields
        user, given = fields.get("username", ""), fields.get("password", "")
        if _PLACEHOLDER.fullmatch(given) and user not in first_of:
            first_of[user] = given
            if user in passwords:
                values.setdefault(given, passwords[user])
            elif user == given and named_so:
                values.setdefault(given, named_so[0])
    if pairs:
        values["<accesskey:1>"] = pairs[0].accesskey
        values["<secretkey:1>"] = pairs[0].secretkey
    for shown in sorted(set(_PLACEHOLDER.findall(_all_text(exchanges)))):
        field, number = shown
        values.setdefault(f"<{field}:{number}>", f"wrong-{field}-{number}")
    return values


def _all_text(exchanges: Sequence[Exchange]) -> str:
    texts = []
    for exchange in exchanges:
        request = exchange.request
        texts += [request.query, request.body.decode("utf-8", "replace")]
        texts += [value for _, value in request.headers]
    return "\n".join(texts)


def replay(
    exchanges: Sequence[Exchange], url: str, scenario: Scenario, *, timeout: float = 10.0
) -> list[report.Outcome]:
    """Send each recorded request to `url`, in order, and pair its answer with the recorded one."""
    values = credentials(exchanges, scenario)
    expected, actual = Normaliser(), Normaliser()
    outcomes = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for number, exchange in enumerate(exchanges, 1):
            answer = _send(client, url, exchange, values)
            account = _account(exchange)
            outcomes.append(
                report.Outcome(
                    number=number,
                    request=report.short(number, exchange),
                    kind=report.kind(exchange),
                    expected=expected.lines(exchange.answer, account),
                    actual=actual.lines(answer, account),
                )
            )
    return outcomes


def _account(exchange: Exchange) -> str:
    """Whose balance an answer shows: the username, else the access key."""
    fields = exchange.request.fields
    return fields.get("username") or fields.get("accesskey") or ""


def _send(
    client: httpx.Client, url: str, exchange: Exchange, values: dict[str, str]
) -> Answer | None:
    request = exchange.request
    query = Redactor.restore(request.query.encode("utf-8"), values).decode("utf-8")
    body = Redactor.restore(request.body, values)
    headers = [
        (name, Redactor.restore(value.encode("utf-8"), values).decode("utf-8"))
        for name, value in request.headers
        if name.lower() not in _SET_BY_CLIENT and name.lower() != "x-forwarded-proto"
    ]
    headers.append(("x-forwarded-proto", request.scheme))
    address = url + request.path + (f"?{query}" if query else "")
    try:
        got = client.request(request.method, address, content=body, headers=headers)
    except httpx.HTTPError:
        return None  # a reset or a timeout: compared with a recorded lack of answer
    return Answer(
        status=got.status_code,
        headers=list(got.headers.multi_items()),
        body_b64=encode(got.content),
    )
