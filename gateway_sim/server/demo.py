"""`gateway-sim demo`: realistic, seeded traffic into a running simulator, for demos and UI work.

It sends as a client would (texts from Faker, some with delivery reports, some MMS with small
generated pictures, some to magic numbers that fail) and injects replies from handsets, all
through the simulator's own HTTP interfaces. The same seed gives the same traffic.
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

SEND = "/smsgateway/sendmsg.aspx"
MMS = "/smsgateway/default.aspx"
FAILING = ("07700900900", "07700900801", "07700900803", "07700900808")
"""Magic numbers of the default scenario: unroutable, gateway error, throttled, no credit."""


@dataclass
class Tally:
    """What the demo did."""

    sent: int = 0
    refused: int = 0
    mms: int = 0
    replies: int = 0
    answers: list[str] = field(default_factory=list)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small solid-colour PNG, made by hand (no imaging library needed)."""
    return png_of(width, height, lambda x, y: rgb)


def png_of(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """An RGB PNG whose pixel at (x, y) is `pixel(x, y)`."""

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


def run(url: str, *, count: int, seed: int, username: str, password: str) -> Tally:
    """Make `count` sends (and replies to about a third of them) against the simulator at `url`."""
    from faker import Faker  # noqa: PLC0415 (only the demo needs it)

    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    tally = Tally()
    login = {"username": username, "password": password}
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(count):
            roll = rng.random()
            to = rng.choice(FAILING) if roll < 0.15 else f"077009{rng.randrange(100, 800):05d}"
            if roll > 0.85:
                answer = _send_mms(http, login, to, fake, rng)
                tally.mms += 1
            else:
                text = f"Hi {fake.first_name()}, {fake.sentence(nb_words=8)}"
                fields = {**login, "to": to, "text": text, "maxconcat": "3"}
                if rng.random() < 0.5:
                    fields["delrpt"] = "1"
                answer = http.post(SEND, data=fields).text
            tally.answers.append(answer)
            if not answer.startswith("ID:"):
                tally.refused += 1
                continue
            tally.sent += 1
            if rng.random() < 0.35:
                reply = {
                    "account": username,
                    "from": _international(to),
                    "text": fake.sentence(nb_words=5),
                    "reply_to": answer.removeprefix("ID:"),
                }
                if http.post("/_sim/inbound", json=reply).status_code == 201:
                    tally.replies += 1
    return tally


def _send_mms(
    http: httpx.Client, login: dict[str, str], to: str, fake: Any, rng: random.Random
) -> str:
    picture = png(64, 48, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    boundary = f"demo{rng.randrange(10**9)}"
    fields = {**login, "to": to, "type": "5", "text": f"Photo from {fake.city()}"}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; filename="photo.png"\r\n'
        f"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
        + base64.encodebytes(picture)
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    return http.post(MMS, content=body, headers=headers).text


def _international(national: str) -> str:
    return "44" + national[1:] if national.startswith("0") else national
