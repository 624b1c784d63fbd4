"""Debian's Chromium, driven by Playwright for Python, for the tests of real pages: where it is,
the flags it runs with, and launching it (a test is skipped where it is missing, failed on CI)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "inbox"
"""Where the page tests save their screenshots (not committed: CI keeps them)."""
WAIT_MS = 10_000
Start = Callable[..., LiveServer]
"""The `live_server` fixture: starts an app on a free port."""
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(*extra_args: str) -> Iterator[Any]:
    """Yield a launched headless Chromium (with `extra_args` after CHROMIUM_ARGS), closed after;
    for a fixture to `yield from`."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (make browser)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
        )
        yield launched
        launched.close()
