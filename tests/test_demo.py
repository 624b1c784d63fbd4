"""`gateway-sim demo` against a real server: seeded traffic of every kind, the same every time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from gateway_sim.server.demo import png

SCRIPT = Path(sys.executable).parent / "gateway-sim"


def demo_run(seed: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    server = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)  # type: ignore[union-attr]
        result = subprocess.run(
            [str(SCRIPT), "demo", "--url", url, "--count", "30", "--seed", seed],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        messages = httpx.get(url + "/_sim/messages?limit=1000").json()["messages"]
        requests = httpx.get(url + "/_sim/requests?limit=1000").json()["requests"]
        return result.stdout, messages, requests
    finally:
        server.terminate()
        server.communicate(timeout=10)


def test_demo_makes_every_kind_of_traffic_and_repeats_with_a_seed() -> None:
    summary, messages, requests = demo_run("7")
    assert re.fullmatch(
        r"\d+ sent \(\d+ MMS\), \d+ refused, \d+ replies from handsets, into http://\S+\n", summary
    )
    kinds = {(m["direction"], m["kind"]) for m in messages}
    assert ("outbound", "text") in kinds
    assert ("outbound", "mms") in kinds
    assert ("inbound", "text") in kinds
    assert any(r["outcome"] == "refused" or r["answer"].startswith("DELAY") for r in requests)
    mms = next(m for m in messages if m["kind"] == "mms")
    assert mms["content"][0]["content_type"] == "image/png"
    again = demo_run("7")
    assert [m["text"] for m in again[1]] == [m["text"] for m in messages]
    assert [m["text"] for m in demo_run("8")[1]] != [m["text"] for m in messages]


def test_png_is_a_real_png() -> None:
    picture = png(3, 2, (255, 0, 0))
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    assert picture[12:16] == b"IHDR"
    assert picture.endswith(b"IEND\xaeB`\x82")


def test_demo_reports_an_unreachable_simulator() -> None:
    result = subprocess.run(
        [str(SCRIPT), "demo", "--url", "http://127.0.0.1:9", "--count", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
