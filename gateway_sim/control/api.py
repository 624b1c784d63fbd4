"""The control API under `/_sim`: inspect messages and the request journal, wait for a message
(`waits`), manage accounts and rules, load (`loading`) or reset the scenario, and tell health.
JSON in, JSON out; every refused request gets a 4xx (or 503) with `{"error": …, "detail": …}`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway_sim import __version__
from gateway_sim.control.bodies import (
    Problem,
    json_body,
    parse_account_change,
    parse_top_up,
    read_arrival,
)
from gateway_sim.control.filters import BadFilter, attempt_query, exchange_query, message_query
from gateway_sim.control.loading import ScenarioLoads
from gateway_sim.control.openapi import document
from gateway_sim.control.rule_routes import RuleRoutes
from gateway_sim.control.views import AccountView, RuleView, View, cursor_of
from gateway_sim.control.views_records import (
    AttemptPage,
    AttemptView,
    MessagePage,
    MessageView,
    RequestPage,
    RequestView,
)
from gateway_sim.control.waits import LongPolls
from gateway_sim.domain.accounts import Account, Accounts, allowance_day
from gateway_sim.domain.numbers import is_digits
from gateway_sim.domain.records import Message
from gateway_sim.effects.inbound import InboundError
from gateway_sim.inbox.routes import event_stream, part_response
from gateway_sim.store.repository import Unavailable, shared
from gateway_sim.wire.asgi import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]

if TYPE_CHECKING:
    from gateway_sim.control.simulator import Simulator

MAX_PART = 10_000
MAX_ADVANCE = 10 * 365 * 86_400


def build(sim: Simulator, token: str | None) -> Any:
    """The control API as an ASGI app, guarded by a bearer token when one is set."""
    api = ControlApi(sim)
    rules = RuleRoutes(sim)
    routes = [
        Route("/openapi.json", api.openapi),
        Route("/health", api.health),
        Route("/ready", api.ready),
        _route("/messages", GET=api.list_messages, DELETE=api.delete_messages),
        Route("/messages/wait", LongPolls(sim, api.message_view).wait_for_message),
        Route("/messages/{id}", api.get_message),
        Route("/messages/{id}/parts/{n}", api.get_part),
        Route("/requests", api.list_requests),
        Route("/accounts", api.list_accounts),
        _route("/accounts/{username}", PUT=api.put_account, DELETE=api.delete_account),
        Route("/accounts/{username}/topup", api.top_up, methods=["POST"]),
        Route("/accounts/{username}/reset", api.reset_account, methods=["POST"]),
        _route("/scenario", GET=api.get_scenario, PUT=api.put_scenario),
        Route("/reset", api.reset, methods=["POST"]),
        _route("/rules", GET=rules.list_rules, POST=rules.add_rule),
        Route("/clock", api.get_clock, methods=["GET"]),
        Route("/clock/advance", api.advance_clock, methods=["POST"]),
        Route("/callbacks", api.list_callbacks, methods=["GET"]),
        Route("/inbound", api.post_inbound, methods=["POST"]),
        _route("/rules/{name}", PATCH=rules.switch_rule, DELETE=rules.delete_rule),
        Route("/events", event_stream(sim.feed)),
    ]
    api.routes = routes
    handlers = {
        Problem: _problem,
        HTTPException: _http_problem,
        BadFilter: _bad_filter,
        Unavailable: _unavailable,
    }
    control = Starlette(routes=routes, exception_handlers=handlers)
    return control if not token else _Guard(control, token)


def _route(path: str, **handlers: Endpoint) -> Route:
    """One route for several methods, so that a 405 names every allowed method."""

    async def endpoint(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, endpoint, methods=list(handlers))


class _Guard:
    """Refuse control requests without `Authorization: Bearer <token>` (401)."""

    def __init__(self, app: Starlette, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            response = _json(
                401,
                {"error": "unauthorized", "detail": "send Authorization: Bearer <control token>"},
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        """The bearer header; or, for the event stream only (an `EventSource` cannot set
        headers), a `token` query parameter."""
        # compare_digest: the time taken must not tell how much of a guess was right
        sent = dict(scope["headers"]).get(b"authorization")
        if sent is not None and hmac.compare_digest(sent, self.expected):
            return True
        if not scope["path"].endswith("/_sim/events"):
            return False
        tokens = parse_qs(scope["query_string"].decode("latin-1")).get("token", [])
        return len(tokens) == 1 and hmac.compare_digest(
            f"Bearer {tokens[0]}".encode(), self.expected
        )


class ControlApi:
    """The handlers; each reads or changes the running `Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.store = sim.store
        self.loads = ScenarioLoads(sim)
        self.routes: list[Route] = []
        self._document: dict[str, Any] | None = None

    @property
    def _region(self) -> str:
        return self.sim.gateway.scenario.settings.default_country

    def message_view(self, message: Message) -> MessageView:
        """A message as shown, with its delivery status history."""
        return MessageView.of(message, tuple(self.store.statuses(message.id)))

    async def openapi(self, request: Request) -> Response:
        # Made at the first request for it: making it is a twentieth of `serve`'s start.
        if self._document is None:
            self._document = document(self.routes)
        return _json(200, self._document)

    async def health(self, request: Request) -> Response:
        uptime = time.monotonic() - self.sim.started
        return _json(
            200, {"status": "ok", "version": __version__, "uptime_seconds": round(uptime, 3)}
        )

    async def ready(self, request: Request) -> Response:
        problem = self.store.problem()
        if problem is not None:  # a replica whose database is gone: route elsewhere, restart it
            return _json(503, {"ready": False, "detail": problem})
        return _json(200, {"ready": True})

    async def list_messages(self, request: Request) -> Response:
        query = message_query(request.query_params, self._region)
        found = self.store.messages(query)
        page = [self.message_view(message) for _, message in found]
        return _show(200, MessagePage(items=page, next_cursor=cursor_of(found, query.limit)))

    async def delete_messages(self, request: Request) -> Response:
        deleted = self.store.clear()
        return _json(200, {"deleted": deleted})

    async def get_message(self, request: Request) -> Response:
        message_id = request.path_params["id"]
        message = self.store.get(message_id)
        if message is None:
            raise Problem(404, "not_found", f"no message with id {message_id!r}")
        return _show(200, self.message_view(message))

    async def get_part(self, request: Request) -> Response:
        message_id, raw_n = request.path_params["id"], request.path_params["n"]
        # At most 9 digits before int(): Python refuses to convert over 4,300 (a 500).
        if not is_digits(raw_n) or len(raw_n) > 9 or int(raw_n) > MAX_PART:
            raise Problem(400, "bad_part", f"part number must be 0 to {MAX_PART}, not {raw_n!r}")
        n = int(raw_n)
        part = self.store.part(message_id, n)
        if part is None:
            raise Problem(404, "not_found", f"message {message_id!r} has no content part {n}")
        if part.dropped:
            raise Problem(410, "dropped", "the bytes of this part were dropped by retention")
        return part_response(part, n)

    async def list_requests(self, request: Request) -> Response:
        query = exchange_query(request.query_params, self._region)
        found = self.store.exchanges(query)
        page = [RequestView.of(exchange, seq) for seq, exchange in found]
        return _show(200, RequestPage(items=page, next_cursor=cursor_of(found, query.limit)))

    async def list_accounts(self, request: Request) -> Response:
        replicated = shared(self.store)
        if replicated is not None:  # other replicas' debits, exact as the ledger has them now
            self.sim.gateway.accounts = Accounts.from_saved(replicated.accounts())
        today = allowance_day(self.sim.gateway.clock.now())
        shown = [AccountView.of(a, today).shown() for a in self.sim.gateway.accounts]
        return _json(200, {"accounts": shown})

    async def put_account(self, request: Request) -> Response:
        username = request.path_params["username"]
        change = parse_account_change(await json_body(request))
        accounts = self.sim.gateway.accounts
        account = accounts.get(username)
        created = account is None
        for pair in change.access_keys or ():
            owner = accounts.key_owner(pair.accesskey)
            if owner is not None and owner is not account:
                detail = f"access key {pair.accesskey!r} belongs to account {owner.username!r}"
                raise Problem(409, "access_key_taken", detail)
        if account is None:
            if change.password is None:
                problem = "password: required to create an account"
                raise Problem(422, "invalid_account", problem, problems=[problem])
            credit = change.credit if change.credit is not None else Decimal(0)
            account = Account(username=username, password=change.password, credit=credit)
            accounts.add(account)
        changes = change.model_dump(exclude_unset=True)
        accounts.change(account, **changes)
        self.store.state_changed()
        if "credit" in changes:  # a shared ledger's credit is set there, and told back
            self._credit_is(account, self.store.credit_changed(username, to=account.credit))
        today = allowance_day(self.sim.gateway.clock.now())
        return _show(201 if created else 200, AccountView.of(account, today))

    async def top_up(self, request: Request) -> Response:
        """Add credit in one step (a PUT of a computed balance would race the sends)."""
        amount = parse_top_up(await json_body(request))
        username = request.path_params["username"]
        account = self.sim.gateway.accounts.get(username)
        if account is None:
            raise Problem(404, "not_found", f"no account named {username!r}")
        self.sim.gateway.accounts.top_up(account, amount)
        self._credit_is(account, self.store.credit_changed(username, add=amount))
        return _show(200, AccountView.of(account, allowance_day(self.sim.gateway.clock.now())))

    def _credit_is(self, account: Account, ledger: Decimal | None) -> None:
        """Take the shared ledger's credit, when there is one."""
        if ledger is not None:
            self.sim.gateway.accounts.change(account, credit=ledger)

    async def reset_account(self, request: Request) -> Response:
        """One account back to its start, for parallel jobs sharing one simulator."""
        username = request.path_params["username"]
        forgotten = self.sim.reset_account(username)
        account = self.sim.gateway.accounts.get(username)
        if forgotten is None or account is None:
            raise Problem(404, "not_found", f"no account named {username!r}")
        view = AccountView.of(account, allowance_day(self.sim.gateway.clock.now())).shown()
        return _json(200, {"status": "reset", "deleted": forgotten, "account": view})

    async def delete_account(self, request: Request) -> Response:
        username = request.path_params["username"]
        if not self.sim.gateway.accounts.remove(username):
            raise Problem(404, "not_found", f"no account named {username!r}")
        self.store.state_changed()
        return Response(status_code=204)

    async def get_scenario(self, request: Request) -> Response:
        return _json(200, self.sim.loaded_scenario.model_dump(mode="json", by_alias=True))

    async def put_scenario(self, request: Request) -> Response:
        scenario = await self.loads.load(request)
        return _json(200, {"status": "loaded", "accounts": [a.username for a in scenario.accounts]})

    async def reset(self, request: Request) -> Response:
        await self.sim.reset()
        return _json(200, {"status": "reset"})

    async def get_clock(self, request: Request) -> Response:
        return _json(200, self._clock())

    async def advance_clock(self, request: Request) -> Response:
        if not self.sim.scheduler.manual:
            raise Problem(409, "real_clock", "the clock is real; start with --clock manual")
        body = await json_body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not (0 <= seconds <= MAX_ADVANCE)
        ):
            raise Problem(422, "bad_seconds", f"seconds must be a number from 0 to {MAX_ADVANCE}")
        fired = await self.sim.scheduler.advance(float(seconds))
        if (replicated := shared(self.store)) is not None:  # the other replicas move with it
            replicated.clock_moved(self.sim.gateway.clock.now().isoformat())
        return _json(200, {**self._clock(), "fired": fired})

    def _clock(self) -> dict[str, Any]:
        return {
            "now": self.sim.gateway.clock.now().isoformat(),
            "mode": "manual" if self.sim.scheduler.manual else "real",
            "pending": len(self.sim.scheduler),
        }

    async def list_callbacks(self, request: Request) -> Response:
        query = attempt_query(request.query_params, self._region)
        found = self.store.attempts(query)
        page = [AttemptView.of(attempt, seq) for seq, attempt in found]
        return _show(200, AttemptPage(items=page, next_cursor=cursor_of(found, query.limit)))

    async def post_inbound(self, request: Request) -> Response:
        arrival = await read_arrival(request)
        try:
            message = self.sim.inbound.receive(arrival)
        except InboundError as refused:
            error = "not_found" if refused.status == 404 else "invalid_inbound"
            raise Problem(refused.status, error, str(refused)) from None
        return _show(201, self.message_view(message))


def _json(status: int, content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _show(status: int, view: View | RuleView) -> JSONResponse:
    return JSONResponse(view.shown(), status_code=status)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return _json(503, {"error": "store_unavailable", "detail": str(exc)})


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _json(exc.status, {"error": exc.error, "detail": exc.detail, **exc.extra})


async def _bad_filter(request: Request, exc: Exception) -> Response:
    return _json(400, {"error": "bad_filter", "detail": str(exc)})


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": error, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )
