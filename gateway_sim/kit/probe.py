"""`gateway-sim probe`: a fixed set of requests sent to the real gateway and recorded through the
proxy's machinery (`proxy.forward`), to compare with the simulator later (`conform`).

The free set costs nothing on any account: each request is one the gateway refuses before it
sends anything (a field missing or malformed, a wrong login, plain HTTP where HTTPS is required,
an unknown path or method) or a balance call. `--paid` adds real sends to numbers the user
gives, priced before each from the balance, and stops before they would pass `--max-credit`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from gateway_sim.kit.capture import Sent, redactor_for
from gateway_sim.kit.proxy import Upstream, forward, upstream_client
from gateway_sim.kit.recording import Redactor, append

SEND = "/smsgateway/sendmsg.aspx"
BALANCE = "/smsgateway/getbalance.aspx"
DUMMY = "probe-not-a-password"
"""The password of a login probe without credentials: long and odd enough that its redaction
(everywhere it appears) touches nothing else."""
NOWHERE = "447700900000"
"""A UK number reserved for drama (Ofcom): the `to` of free probes, which never send."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One named request: its path, form fields (sent as the query), method and base URL."""

    name: str
    path: str
    fields: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    plain_http: bool = False
    sms: int = 0
    """SMS a paid probe may be charged for (each recipient entry, each part); 0 when free."""


def free_probes(username: str | None, password: str | None) -> list[Probe]:
    """The free set; those that need the account's credentials only when given."""
    probes = [
        Probe(
            "missing username",
            SEND,
            {"password": password or DUMMY, "to": NOWHERE, "text": "probe"},
        ),
        Probe(
            "missing password",
            SEND,
            {"username": username or "probe", "to": NOWHERE, "text": "probe"},
        ),
        Probe(
            "wrong username",
            SEND,
            {
                "username": f"{username or 'probe'}-no-such-user",
                "password": password or DUMMY,
                "to": NOWHERE,
                "text": "probe",
            },
        ),
        Probe(
            "api/https over plain HTTP",
            "/api/https/getbalance.aspx",
            {"accesskey": "probe-access-key-0000", "secretkey": "probe-secret-key-0000"},
            plain_http=True,
        ),
        Probe("unknown path", "/smsgateway/no-such-page.aspx"),
        Probe("wrong method", SEND, method="DELETE"),
    ]
    if username is None or password is None:
        return probes
    login = {"username": username, "password": password}
    text = {**login, "to": NOWHERE, "text": "probe"}
    return [
        *probes,
        Probe("missing to", SEND, {**login, "text": "probe"}),
        Probe("missing text", SEND, {**login, "to": NOWHERE}),
        Probe("unknown type", SEND, {**text, "type": "99"}),
        Probe("malformed hex", SEND, {**login, "to": NOWHERE, "type": "2", "hex": "00Z"}),
        Probe("malformed ud", SEND, {**login, "to": NOWHERE, "type": "3", "udh": "0", "ud": "XY"}),
        Probe("malformed href", SEND, {**text, "type": "4", "href": "ftp://example.com/"}),
        Probe("maxconcat out of range", SEND, {**text, "maxconcat": "99"}),
        Probe("balance", BALANCE, login),
        Probe("balance (Java SDK path)", "/smsgateway/getbalance/default.aspx", login),
    ]


def paid_probes(username: str, password: str, numbers: list[str]) -> list[Probe]:
    """The real sends: one, several (a duplicate and an invalid number among them), unicode,
    and a WAP push."""
    login = {"username": username, "password": password}
    first = numbers[0]
    several = [*numbers, first, "12"]
    return [
        Probe(
            "paid: single send", SEND, {**login, "to": first, "text": "gateway-sim probe"}, sms=1
        ),
        Probe(
            "paid: several recipients",
            SEND,
            {**login, "to": ",".join(several), "text": "gateway-sim probe"},
            sms=len(several),
        ),
        Probe(
            "paid: unicode",
            SEND,
            {
                **login,
                "to": first,
                "type": "2",
                "hex": "gateway-sim ✓".encode("utf-16-be").hex().upper(),
            },
            sms=1,
        ),
        Probe(
            "paid: WAP push",
            SEND,
            {**login, "to": first, "type": "4", "text": "probe", "href": "https://example.com/"},
            sms=1,
        ),
    ]


class Prober:
    """Sends probes upstream, appends each exchange to the recording, reads balances."""

    def __init__(self, upstream: Upstream, redactor: Redactor, args: argparse.Namespace) -> None:
        self.upstream = upstream
        self.redactor = redactor
        self.args = args

    async def send(self, probe: Probe) -> bytes | None:
        """Send `probe`; its answer's bytes (None when the upstream gave none)."""
        upstream = self.upstream
        if probe.plain_http:
            plain = _plain(upstream.url)
            if plain is None:
                print(f"skipped {probe.name}: no plain-HTTP port known for {upstream.url}")
                return None
            upstream = Upstream(plain, upstream.client)
        query = urlencode(probe.fields).encode("ascii")
        headers = [("user-agent", "gateway-sim probe")]
        sent = Sent(probe.method, probe.path, query, headers, b"")
        exchange, status, _, data = await forward(upstream, self.redactor, sent)
        append(self.args.out, exchange)
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        print(f"{probe.name}: {status} {first[:80]}")
        return data if exchange.answer is not None else None

    async def balance(self) -> float | None:
        answer = await self.send(Probe("balance", BALANCE, self._login()))
        text = (answer or b"").decode("ascii", "replace").strip()
        if not text.startswith("BALANCE:"):
            return None
        try:
            return float(text.removeprefix("BALANCE:"))
        except ValueError:
            return None

    def _login(self) -> dict[str, str]:
        return {"username": self.args.username, "password": self.args.password}

    async def paid(self, numbers: list[str]) -> int:
        """The paid set, each send priced first at the dearest credit per SMS seen (1 until a
        send shows it); stops before the next would pass --max-credit."""
        start = await self.balance()
        if start is None:
            print("gateway-sim probe: cannot read the balance; no paid probe sent", file=sys.stderr)
            return 1
        balance, spent, per_sms = start, 0.0, 1.0
        for probe in paid_probes(self.args.username, self.args.password, numbers):
            if spent + probe.sms * per_sms > self.args.max_credit:
                print(
                    f"stopped before {probe.name}: it could pass --max-credit "
                    f"{self.args.max_credit}"
                )
                break
            await self.send(probe)
            now = await self.balance()
            if now is None:
                print("gateway-sim probe: cannot read the balance; stopped", file=sys.stderr)
                return 1
            spent += balance - now
            per_sms = max(per_sms, (balance - now) / probe.sms)
            balance = now
        print(f"paid probes spent {spent:g} credit (balance {start:g} -> {balance:g})")
        return 0


def _plain(url: str) -> str | None:
    """`url` over plain HTTP: itself when http, else port 80 when the https port is implied."""
    parts = urlsplit(url)
    if parts.scheme == "http":
        return url
    if parts.port is not None:
        return None
    return urlunsplit(("http", parts.netloc, parts.path, "", ""))


def run(args: argparse.Namespace) -> int:
    numbers = [number.strip() for number in args.to.split(",") if number.strip()]
    if args.paid and not (numbers and args.username and args.password and args.max_credit > 0):
        print(
            "gateway-sim probe: --paid needs --username, --password, --to and --max-credit",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_run(args, numbers))


async def _run(args: argparse.Namespace, numbers: list[str]) -> int:
    async with upstream_client(args.upstream_ca, args.upstream_timeout) as client:
        prober = Prober(Upstream(args.upstream, client), redactor_for(args.redact_usernames), args)
        for probe in free_probes(args.username, args.password):
            await prober.send(probe)
        if args.paid:
            return await prober.paid(numbers)
    print(f"recorded to {args.out}")
    return 0
