"""`PUT /_sim/scenario` without stalling the server: the body is refused past
`Limits.max_scenario_bytes` before it is read (by its Content-Length) or as it arrives (a chunked
one), and the parsing and validation, which take seconds for a scenario of thousands of rules,
run in a worker thread while the event loop goes on answering other requests.

Loads are taken one at a time, in the order they came, so that two loads cannot finish in the
reverse order and at most one scenario's worth of parsing is held at once.

While a load runs, the interpreter hands over between threads every millisecond instead of every
five: the event loop's thread needs the interpreter back from the parsing thread several times
per request, and waits up to that interval each time (bench/RESULTS.md, "Measures behind the
bounds").
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from starlette.requests import Request

from gateway_sim.control.bodies import Problem
from gateway_sim.domain.limits import Limits
from gateway_sim.domain.rules import RuleBook
from gateway_sim.domain.scenario import OverLimit, Scenario, ScenarioError, parse_scenario

if TYPE_CHECKING:
    from gateway_sim.control.simulator import Simulator

SOURCE = "PUT /_sim/scenario"
SWITCH_INTERVAL = 0.001
"""Seconds a thread keeps the interpreter while another waits for it, during a load."""


class ScenarioLoads:
    """Loads scenarios into one simulator, one at a time."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._one_at_a_time = asyncio.Lock()

    async def load(self, request: Request) -> Scenario:
        """Read, parse and validate the request's scenario, then reset the simulator to it; a
        refusal is a `Problem` (413 too large, 400 not UTF-8, 422 invalid or too many accounts or
        rules)."""
        limits = self.sim.limits
        body = await read_body(request, limits.max_scenario_bytes)
        async with self._one_at_a_time:
            with _prompt_handover():
                scenario, rules = await asyncio.to_thread(self._prepare, body, limits)
            await self.sim.reset(scenario, rules)
        return scenario

    def _prepare(self, body: bytes, limits: Limits) -> tuple[Scenario, RuleBook]:
        """In a worker thread: the scenario, and its rules ready to run (so that the event loop
        only swaps them in)."""
        scenario = _parse(body, limits)
        return scenario, self.sim.gateway.rule_book(scenario)


@contextmanager
def _prompt_handover() -> Iterator[None]:
    """Python's thread switch interval at `SWITCH_INTERVAL` at most, for the duration (it is
    process-wide: the loads, one at a time, are the only ones to change it)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


async def read_body(request: Request, cap: int) -> bytes:
    """The body, unless its Content-Length or the bytes that arrive pass `cap` (413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(f"{int(declared)} bytes", cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(f"over {cap} bytes", cap)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, limits: Limits) -> Scenario:
    """In a worker thread: the body as a scenario, or the `Problem` that refuses it."""
    try:
        return parse_scenario(body.decode("utf-8"), source=SOURCE, limits=limits)
    except UnicodeDecodeError:
        raise Problem(400, "bad_body", "the scenario must be UTF-8 YAML or JSON") from None
    except OverLimit as over:
        status = 413 if over.error == "scenario_too_large" else 422
        raise Problem(status, over.error, str(over)) from None
    except ScenarioError as error:
        raise Problem(422, "invalid_scenario", str(error), problems=error.problems) from None


def _too_large(size: str, cap: int) -> Problem:
    detail = f"the scenario is {size}, over the limit of {cap} (--max-scenario-bytes)"
    return Problem(413, "body_too_large", detail)
