"""The long-poll `GET /_sim/messages/wait`: answer with the newest matching message, or wait for
the next one (woken through `events.MessageEvents`).

It owns the bounds on waiting: at most `Limits.max_waits` waits at once (past it, 503
`too_many_waits`), and a wait whose client has gone is dropped the moment the server says so
(ASGI `http.disconnect`), instead of holding its slot and its place among the waiters until its
timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway_sim.control.bodies import Problem
from gateway_sim.control.filters import message_query, timeout_seconds
from gateway_sim.control.views import View
from gateway_sim.domain.records import Message
from gateway_sim.wire.asgi import Receive

if TYPE_CHECKING:
    from gateway_sim.control.simulator import Simulator

WAIT_DEFAULT = 5.0
WAIT_MOST = 300.0
CLIENT_GONE = 499
"""The status of a wait whose client went away (nginx's "client closed request"): nobody reads
it, but a log of the request shows why it ended."""


class LongPolls:
    """The wait endpoint of one simulator; `show` renders a message as the control API shows it."""

    def __init__(self, sim: Simulator, show: Callable[[Message], View]) -> None:
        self.sim = sim
        self.show = show

    async def wait_for_message(self, request: Request) -> Response:
        region = self.sim.gateway.scenario.settings.default_country
        query = message_query(request.query_params, region)
        timeout = timeout_seconds(request.query_params, WAIT_DEFAULT, WAIT_MOST)
        # Nothing is awaited from this query to the subscription, so no message can slip between.
        found = self.sim.store.messages(query)
        if found:
            return self._found(found[0][1])
        if timeout == 0:
            raise _timed_out(timeout)
        events = self.sim.events
        most = self.sim.limits.max_waits
        if len(events) >= most:
            detail = f"{len(events)} waits are under way, the limit of {most} (--max-waits)"
            raise Problem(503, "too_many_waits", detail + "; try again later")
        waiter = events.subscribe(query.matches, to=query.to, account=query.account)
        gone = asyncio.ensure_future(_disconnected(request.receive))
        gone.add_done_callback(_retrieved)
        try:
            await asyncio.wait(
                (waiter.future, gone), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            events.unsubscribe(waiter)
            gone.cancel()
        if waiter.future.done():
            return self._found(waiter.future.result())
        if gone.done():
            gone.result()  # what ended the listening, if it failed (a body the edge refused)
            return JSONResponse(
                {"error": "client_gone", "detail": "the client closed the connection"},
                status_code=CLIENT_GONE,
            )
        raise _timed_out(timeout)

    def _found(self, message: Message) -> Response:
        return JSONResponse({"message": self.show(message).shown()})


def _timed_out(timeout: float) -> Problem:
    return Problem(408, "timeout", f"no matching message within {timeout:g} s")


def _retrieved(listening: asyncio.Future[None]) -> None:
    """Take a failure of the listening as seen (asyncio would log it as never retrieved when
    the wait ended for another reason first)."""
    if not listening.cancelled():
        listening.exception()


async def _disconnected(receive: Receive) -> None:
    """Return when the client has gone. A wait has no body to read (a body sent anyway is read
    and dropped), so the next message the server gives is the disconnect."""
    while (await receive())["type"] != "http.disconnect":
        pass
