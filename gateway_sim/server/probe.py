"""Probes of a running simulator, for container health checks and scripts: `healthcheck` asks
once whether it is alive (`/_sim/health`), `readyz` whether it is ready (`/_sim/ready`) and can
wait until it is. Both exit 0 or 1, so they need no curl in the image.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

POLL_SECONDS = 0.2


class Probe:
    """Asks one simulator; `token` for a guarded control API, `ca` to check an https one's
    certificate (without it an https probe does not check the certificate: it asks whether the
    simulator answers, not whom to trust)."""

    def __init__(
        self, url: str, *, token: str | None = None, ca: str | None = None, timeout: float = 3.0
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.verify: str | bool = ca or False
        self.timeout = timeout

    def problem(self, path: str, expect: Callable[[object], bool]) -> str | None:
        """None when `path` answers 200 with JSON that `expect` accepts, else what is wrong."""
        try:
            answer = httpx.get(
                self.url + path, headers=self.headers, verify=self.verify, timeout=self.timeout
            )
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        if answer.status_code != 200:
            return f"HTTP {answer.status_code}: {answer.text[:200]}"
        try:
            body = answer.json()
        except ValueError:
            return f"not JSON: {answer.text[:200]!r}"
        return None if expect(body) else f"unexpected answer {body!r}"

    def healthy(self) -> str | None:
        return self.problem("/_sim/health", lambda body: _field(body, "status") == "ok")

    def ready(self) -> str | None:
        return self.problem("/_sim/ready", lambda body: _field(body, "ready") is True)

    def wait_ready(
        self,
        timeout: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str | None:
        """Ask until ready or `timeout` seconds have passed; None when ready, else the last
        problem seen."""
        deadline = monotonic() + timeout
        while True:
            problem = self.ready()
            if problem is None or monotonic() >= deadline:
                return problem
            sleep(min(POLL_SECONDS, max(0.0, deadline - monotonic())))


def _field(body: object, name: str) -> object:
    return body.get(name) if isinstance(body, dict) else None
