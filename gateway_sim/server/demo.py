"""`gateway-sim demo`: realistic, seeded traffic into a running simulator, for demos and UI work.

It sends as a client would (what `demo_content` writes: reminders, codes, delivery notices, chats,
MMS postcards and cards; some with delivery reports, some to magic numbers that fail) and injects
the handsets' replies, all through the simulator's own HTTP interfaces. The same seed gives the
same traffic. A control API that refuses it (a control token not given) stops it with
`ControlRefused` before anything is sent.
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from gateway_sim.server.demo_content import Exchange, Script

SEND = "/smsgateway/sendmsg.aspx"
MMS = "/smsgateway/default.aspx"
FAILING = ("07700900900", "07700900801", "07700900803", "07700900808")
"""Magic numbers of the default scenario: unroutable, gateway error, throttled, no credit."""
FAILING_SHARE = 0.15


class ControlRefused(Exception):
    """The simulator's control API (`/_sim`) refused the demo: its status and error."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error


@dataclass
class Tally:
    """What the demo did: `sent` counts every accepted send, `mms` those of them that are MMS."""

    sent: int = 0
    refused: int = 0
    mms: int = 0
    replies: int = 0
    answers: list[str] = field(default_factory=list)


def png_of(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """An RGB PNG whose pixel at (x, y) is `pixel(x, y)`, made by hand (no imaging library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def run(
    url: str,
    *,
    count: int,
    seed: int,
    username: str,
    password: str,
    control_token: str | None = None,
) -> Tally:
    """Make `count` sends, and inject the replies their recipients send back, against the
    simulator at `url`. Raises `ControlRefused` if `/_sim` refuses it, `httpx.HTTPError` if the
    simulator cannot be reached."""
    script = Script(seed)
    rng = script.rng
    tally = Tally()
    login = {"username": username, "password": password}
    headers = {"authorization": f"Bearer {control_token}"} if control_token else {}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as http:
        _check(http.get("/_sim/health"))
        for _ in range(count):
            exchange = script.next()
            failing = rng.random() < FAILING_SHARE
            to = rng.choice(FAILING) if failing else f"077009{rng.randrange(100, 800):05d}"
            answer = _send(http, login, to, exchange, rng)
            tally.answers.append(answer)
            if not answer.startswith("ID:"):
                tally.refused += 1
                continue
            tally.sent += 1
            tally.mms += exchange.picture is not None
            if exchange.reply is not None:
                reply = {
                    "account": username,
                    "from": _international(to),
                    "text": exchange.reply,
                    "reply_to": answer.removeprefix("ID:"),
                }
                _check(http.post("/_sim/inbound", json=reply))
                tally.replies += 1
    return tally


def _check(response: httpx.Response) -> None:
    """Raise `ControlRefused` unless a control API call succeeded."""
    if response.is_success:
        return
    try:
        body = response.json()
        error = f"{body['error']}: {body['detail']}"
    except (ValueError, KeyError, TypeError):
        error = response.text[:200]
    raise ControlRefused(response.status_code, error)


def _send(
    http: httpx.Client, login: dict[str, str], to: str, exchange: Exchange, rng: random.Random
) -> str:
    fields = {**login, "to": to, "text": exchange.text}
    if exchange.report:
        fields["delrpt"] = "1"
    picture = exchange.picture
    if picture is None:
        return http.post(SEND, data={**fields, "maxconcat": "3"}).text
    # By hand: the gateway's own clients send each part base64-encoded, which httpx cannot.
    boundary = f"demo{rng.randrange(10**9)}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in {**fields, "type": "5"}.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; filename="{picture.filename}"\r\n'
        f"Content-Type: {picture.content_type}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n".encode()
        + base64.encodebytes(picture.data)
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    return http.post(MMS, content=body, headers=headers).text


def _international(national: str) -> str:
    return "44" + national[1:] if national.startswith("0") else national
