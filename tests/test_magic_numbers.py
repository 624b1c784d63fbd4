"""The default scenario's magic recipients, each sent to over a real socket as a client would."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SEND, LiveServer, build_app

LOGIN = {"username": "demo", "password": "demo", "text": "hi"}
README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def http(live_server: Callable[..., LiveServer]) -> Iterator[httpx.Client]:
    server = live_server(build_app())
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def send(http: httpx.Client, to: str, timeout: float = 5) -> httpx.Response:
    return http.post(SEND, data={**LOGIN, "to": to}, timeout=timeout)


@pytest.mark.parametrize(
    ("number", "answer"),
    [
        ("07700900900", "ERR:INVALID_NUMBER"),
        ("07700900801", "ERR:GATEWAY_ERROR"),
        ("07700900802", "ERR:INTERNAL_ERROR"),
        ("07700900803", "DELAY:2"),
        ("07700900808", "ERR:INSUFFICIENT_CREDIT"),
    ],
)
def test_magic_answers(http: httpx.Client, number: str, answer: str) -> None:
    reply = send(http, number)
    assert (reply.status_code, reply.text) == (200, answer)


def test_slow(http: httpx.Client) -> None:
    started = time.monotonic()
    assert send(http, "07700900804").text == "ID:10011000000000000001"
    assert 2.0 <= time.monotonic() - started < 4


def test_connection_reset(http: httpx.Client) -> None:
    with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
        send(http, "07700900805")


def test_hang(http: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        send(http, "07700900806", timeout=0.5)


def test_http_500(http: httpx.Client) -> None:
    reply = send(http, "07700900807")
    assert (reply.status_code, reply.text) == (500, "Internal Server Error")


def test_delivery_fails(http: httpx.Client) -> None:
    assert send(http, "07700900809").text == "ID:10011000000000000001"
    message = http.get("/_sim/messages/10011000000000000001").json()
    assert message["delivery"]["final"] == 6
    assert message["rule"] == "magic-delivery-fails"


def test_the_readme_lists_every_magic_number() -> None:
    table = README.split("### Magic numbers", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"`(07700 ?9008\d\d|07700 ?900900)`", table))
    assert {n.replace(" ", "") for n in listed} == {
        "07700900900",
        *(f"0770090080{d}" for d in range(1, 10)),
    }
