"""`gateway-sim demo` against a real server: seeded traffic of every kind, the same every time,
counted as the simulator counts it, and a clear failure when the simulator refuses it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

SCRIPT = Path(sys.executable).parent / "gateway-sim"
SUMMARY = re.compile(
    r"(\d+) sent \((\d+) of them MMS\), (\d+) refused, (\d+) replies from handsets, "
    r"into http://\S+\n"
)
TOKEN = "s3cret"


@contextmanager
def served(*flags: str) -> Iterator[str]:
    """`gateway-sim serve --port 0` in a subprocess; its URL."""
    server = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)  # type: ignore[union-attr]
        yield url
    finally:
        server.terminate()
        server.communicate(timeout=10)


def demo(
    url: str, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    outer = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_SIM_")}
    return subprocess.run(
        [str(SCRIPT), "demo", "--url", url, *flags],
        capture_output=True, text=True, timeout=60, check=False, env={**outer, **(env or {})},
    )  # fmt: skip


@dataclass
class Run:
    summary: str
    messages: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    pictures: list[bytes]


def demo_run(seed: str, count: int = 30) -> Run:
    with served() as url:
        result = demo(url, "--count", str(count), "--seed", seed)
        assert result.returncode == 0, result.stderr
        messages = httpx.get(url + "/_sim/messages?limit=1000").json()["messages"]
        requests = httpx.get(url + "/_sim/requests?limit=1000").json()["requests"]
        pictures = [
            httpx.get(f"{url}/_sim/messages/{m['id']}/parts/{part['n']}").content
            for m in reversed(messages)
            for part in m["content"]
        ]
        return Run(result.stdout, messages, requests, pictures)


def texts(run: Run) -> list[str]:
    return [m["text"] for m in run.messages]


def test_demo_makes_every_kind_of_traffic_counts_it_and_repeats_with_a_seed() -> None:
    run = demo_run("7")
    found = SUMMARY.fullmatch(run.summary)
    assert found is not None, run.summary
    sent, mms, refused, replies = map(int, found.groups())
    outbound = [m for m in run.messages if m["direction"] == "outbound"]
    inbound = [m for m in run.messages if m["direction"] == "inbound"]
    # The summary counts what the simulator holds: every MMS among the sent.
    assert sent + refused == 30
    assert sent == len(outbound)
    assert mms == sum(m["kind"] == "mms" for m in outbound) > 0
    assert replies == len(inbound) > 0
    assert refused == sum(r["outcome"] != "accepted" for r in run.requests)
    assert any(r["outcome"] == "refused" or r["answer"].startswith("DELAY") for r in run.requests)
    # Two-way: each reply answers a message the demo sent to that handset.
    by_id = {m["id"]: m for m in outbound}
    for reply in inbound:
        assert reply["reply_to"] in by_id
        assert by_id[reply["reply_to"]]["to"] == [reply["from"]]
    assert any("verification code" in text for text in texts(run))

    # MMS parts as the part endpoint serves them: images of a few KB.
    assert len(run.pictures) == mms
    for data in run.pictures:
        assert 2_000 <= len(data) <= 20_000
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.format in ("JPEG", "PNG")

    again = demo_run("7")
    assert texts(again) == texts(run)
    assert again.pictures == run.pictures
    assert texts(demo_run("8")) != texts(run)


def test_demo_without_the_control_token_says_so_and_sends_nothing() -> None:
    with served("--control-token", TOKEN) as url:
        refused = demo(url, "--count", "5")
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert "the control API of " + url in refused.stderr
        assert "401 unauthorized" in refused.stderr
        assert "--control-token (env GATEWAY_SIM_CONTROL_TOKEN)" in refused.stderr
        guarded = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.get(url + "/_sim/messages", headers=guarded).json()["messages"] == []

        by_env = demo(url, "--count", "20", env={"GATEWAY_SIM_CONTROL_TOKEN": TOKEN})
        assert by_env.returncode == 0, by_env.stderr
        by_flag = demo(url, "--count", "20", "--control-token", TOKEN)
        assert by_flag.returncode == 0, by_flag.stderr
        messages = httpx.get(url + "/_sim/messages", headers=guarded).json()["messages"]
        assert any(m["direction"] == "inbound" for m in messages)


def test_demo_fails_when_every_send_is_refused() -> None:
    with served() as url:
        result = demo(url, "--count", "4", "--password", "wrong")
    assert result.returncode == 1
    assert result.stdout.startswith("0 sent (0 of them MMS), 4 refused, 0 replies")
    assert "every send was refused (the first answer: 'ERR:LOGIN_INVALID')" in result.stderr
    assert "check --username ('demo') and --password" in result.stderr


def test_demo_reports_an_unreachable_simulator() -> None:
    result = demo("http://127.0.0.1:9", "--count", "1")
    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
