"""The legacy gateway paths (`/smsgateway/...`) as plain ASGI endpoints.

They are looked up by lower-cased path (ASP.NET paths are case-insensitive) ahead of Starlette's
router: the hot path reads the request, asks the domain, writes the answer and journals the
exchange, nothing more. `settle` decides a request into one of three results: a `Reply` to send
now, a `Delayed` reply (a rule's latency, a database file committing its message) or a rule's
`Fault` (a fault or an HTTP status), and `serve` finishes each. The newer APIs (`keyed.py`,
`json_api.py`) add their paths here with a `Dialect`: how their requests are prepared
and their refusals rendered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from time import perf_counter
from typing import NamedTuple, Protocol

from gateway_sim.domain.accounts import Account
from gateway_sim.domain.errors import GatewayError, InternalError, InvalidRequest
from gateway_sim.domain.gateway import Gateway
from gateway_sim.domain.rules import Decision
from gateway_sim.domain.text import header_media_type
from gateway_sim.store.repository import Repository
from gateway_sim.wire import faults
from gateway_sim.wire.answers import AnswerFormat, respond
from gateway_sim.wire.asgi import Receive, Scope, Send, host_of
from gateway_sim.wire.exchanges import Reply, exchange_of, with_account
from gateway_sim.wire.request import (
    BodyTooLarge,
    ClientGone,
    GatewayRequest,
    HeadersTooLarge,
    read_request,
)

log = logging.getLogger("gateway_sim")
TOO_LONG = b"Bad Request - Request Too Long"
"""What IIS (HTTP.sys) says of headers over its limit, with HTTP 400."""


class Delayed(NamedTuple):
    """A request processed at once whose `reply` must wait: for a rule's latency, or for a
    database file to commit its message."""

    request: GatewayRequest
    decision: Decision | None
    reply: Reply


class Fault(NamedTuple):
    """A request a rule answers with a fault or an HTTP status (`_apply` carries it out)."""

    request: GatewayRequest
    decision: Decision
    account: str | None
    """The account the request names (`Reply.account`)."""


Settled = Reply | Delayed | Fault
"""What `settle` decides a request into."""


Handler = Callable[[GatewayRequest, "Decision | None"], Reply]

Hold = Callable[[str], Awaitable[None]]
"""What the answer to a send waits for first, given its message id: the reports a rule's
`before_answer` posts before it (`DeliveryReports.posted`)."""


class Dialect(Protocol):
    """What sets a family of newer paths apart from the legacy ones."""

    def prepare(self, request: GatewayRequest, scope: Scope) -> GatewayError | None:
        """Complete the request's fields before rules and domain see them; or refuse it at
        once (before any rule) with the error returned."""

    def refusal(self, line: str, reason: str) -> Reply:
        """The answer for a whole-request refusal `line` (`ERR:<code>` or `DELAY:<n>`)."""

    def routes(self) -> Mapping[str, Handler]:
        """Its paths (lower case) and their handlers."""


class LegacyEndpoints:
    """Routes the emulated legacy paths to the domain, renders its answers, journals them."""

    def __init__(self, gateway: Gateway, store: Repository) -> None:
        self.gateway = gateway
        self.store = store
        """The gateway's store, whole: commits to wait for, the journal."""
        self.routes: dict[str, Handler] = {
            "/smsgateway/sendmsg.aspx": self.send_reply,
            "/smsgateway/default.aspx": self.send_reply,
            "/smsgateway/getbalance.aspx": self._balance,
            "/smsgateway/getbalance/default.aspx": self._balance,
            "/smsgateway/createsubacc.aspx": self._create_subaccount,
            "/smsgateway/retrievemms.aspx": self._retrieve_mms,
        }
        self.dialects: dict[str, Dialect] = {}
        self.reload()

    def register(self, dialect: Dialect) -> None:
        """Answer a newer dialect's paths, prepared and refused in that dialect."""
        routes = dialect.routes()
        self.routes.update(routes)
        self.dialects.update(dict.fromkeys(routes, dialect))

    def reload(self) -> None:
        """Take up the settings of the gateway's current scenario."""
        settings = self.gateway.scenario.settings
        self.answers = AnswerFormat.from_settings(settings)
        self.max_body_bytes = settings.max_body_bytes
        self.max_header_bytes = settings.max_header_bytes
        self.durable = self.store.persistent
        """With a database file, a send is answered only once its message is committed."""

    def handler_for(self, path: str) -> Handler | None:
        """The handler of an emulated path, matched case-insensitively."""
        return self.routes.get(path.lower())

    async def serve(
        self, handler: Handler, scope: Scope, receive: Receive, send: Send, hold: Hold | None
    ) -> None:
        """Answer one request on an emulated path; a send's answer waits for `hold` first."""
        started = perf_counter()
        if scope["method"] not in ("GET", "POST"):
            reason = f"method {scope['method']} is not allowed; use GET or POST"
            await self._refuse(
                scope, send, 405, b"Method Not Allowed", reason, started=started, allow=b"GET, POST"
            )
            return
        try:
            request = await read_request(scope, receive, self.max_body_bytes, self.max_header_bytes)
        except HeadersTooLarge as too_large:
            await self._refuse(scope, send, 400, TOO_LONG, str(too_large), started=started)
            return
        except BodyTooLarge as too_large:
            await self._refuse(
                scope, send, 413, b"Request Entity Too Large", str(too_large), started=started
            )
            return
        except ClientGone:  # as the edge logs it for /_sim: no traceback, nothing journaled
            log.info("the client went away mid-request: %s %s", scope["method"], scope["path"])
            return
        match self.settle(handler, scope, request):
            case Reply() as reply:
                if hold is not None:
                    await _held(hold, reply)
                await respond(send, 200, reply.body, content_type=reply.content_type)
                self._journal(scope, request, 200, reply, started=started)
            case Delayed() as delayed:
                await self._delayed(delayed, hold, scope=scope, send=send, started=started)
            case Fault(request, decision, account):
                await self._apply(
                    decision, handler, request, account, hold, scope=scope, receive=receive,
                    send=send, started=started,
                )  # fmt: skip

    def settle(self, handler: Handler, scope: Scope, request: GatewayRequest) -> Settled:
        """Decide and process a request; its answer, when nothing has to be awaited. The
        account the request names is resolved once, here, for the journal."""
        dialect = self.dialects.get(request.path) if self.dialects else None
        if dialect is not None:
            refused = dialect.prepare(request, scope)
            if refused is not None:
                reply = dialect.refusal(refused.line, refused.reason)
                return reply._replace(account=self.gateway.account_named(request.fields))
        account = self.gateway.account_named(request.fields)
        decision = (
            None
            if request.malformed or not len(self.gateway.rules)
            else self.gateway.decide(request.path, request.fields, account, host_of(scope))
        )
        if decision is not None and decision.action.awaited:
            return Fault(request, decision, account)
        if decision is None:
            reply = with_account(self._answer(handler, request), account)
        else:
            reply = self._rule_reply(decision, handler, request)
            reason = _rule_reason(decision, reply.reason, "")
            reply = reply._replace(reason=reason, rule=decision.rule, account=account)
        if (decision is not None and decision.latency) or (
            reply.message_id is not None and self.durable
        ):
            return Delayed(request, decision, reply)
        return reply

    async def _delayed(
        self, delayed: Delayed, hold: Hold | None, *, scope: Scope, send: Send, started: float
    ) -> None:
        """Answer once the commit is done and the rule's latency has passed."""
        request, decision, reply = delayed
        if reply.message_id is not None and self.durable:
            reply = await self._stored(request, reply)
        if decision is not None:
            await sleep_until(started + decision.latency)
        if hold is not None:
            await _held(hold, reply)
        await respond(send, 200, reply.body, content_type=reply.content_type)
        self._journal(scope, request, 200, reply, started=started)

    async def _stored(self, request: GatewayRequest, reply: Reply) -> Reply:
        """With a database: `reply` once its message is committed (and the gateway told of
        it); else its cost is refunded and it is `ERR:INSUFFICIENT_CREDIT` when a shared ledger
        found too little, or `ERR:INTERNAL_ERROR` when the commit failed (the vendor's code for
        a gateway that cannot process now: clients fail over). A request cancelled while it
        waits (the server stopping) is settled all the same, once the commit is done."""
        message_id = reply.message_id
        assert message_id is not None
        store, gateway = self.store, self.gateway
        try:
            stored = await store.committed(message_id)
        except asyncio.CancelledError:
            store.when_committed(message_id, lambda kept: gateway.confirm(message_id, stored=kept))
            raise
        gateway.confirm(message_id, stored=stored)
        if stored:
            return reply
        why = f"message {message_id} could not be stored; its cost was refunded"
        error = store.refusal(message_id) or InternalError(why)
        refusal = self._refusal(request.path, error.line, error.reason)
        return refusal._replace(rule=reply.rule, account=reply.account)

    def _answer(
        self, handler: Handler, request: GatewayRequest, decision: Decision | None = None
    ) -> Reply:
        """The gateway's own answer (after a rule's latency, or with its recipient errors)."""
        try:
            if request.malformed:
                raise InvalidRequest(request.malformed)
            return handler(request, decision)
        except GatewayError as error:
            return self._refusal(request.path, error.line, error.reason)

    def _refusal(self, path: str, line: str, reason: str) -> Reply:
        dialect = self.dialects.get(path)
        return self.text_refusal(line, reason) if dialect is None else dialect.refusal(line, reason)

    def text_refusal(self, line: str, reason: str) -> Reply:
        """A refusal as the legacy paths answer it: the single line."""
        return Reply(self.answers.body([line]), f"{line}: {reason}" if reason else "")

    async def _apply(
        self,
        decision: Decision,
        handler: Handler,
        request: GatewayRequest,
        account: str | None,
        hold: Hold | None,
        *,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
    ) -> None:
        """Answer as a rule's fault or HTTP status says; the journal names the rule and what it
        did. A request that is processed (truncate, dribble) is processed at once; only what is
        sent waits for the latency."""
        action = decision.action
        status, note = 200, ""
        if action.fault in ("reset", "close", "hang", "garbage"):
            await sleep_until(started + decision.latency)
            note = await faults.early(action.fault, scope, receive, send)
            reply, status = Reply(b"", ""), 0
        elif action.http_status is not None:
            await sleep_until(started + decision.latency)
            status = action.http_status
            body = (action.body if action.body is not None else HTTPStatus(status).phrase).encode()
            extra = (
                [(b"retry-after", str(action.retry_after).encode())] if action.retry_after else []
            )
            await respond(send, status, body, extra)
            reply = Reply(body, "")
        else:
            reply = self._rule_reply(decision, handler, request)
            if reply.message_id is not None and self.durable:
                reply = await self._stored(request, reply)
            await sleep_until(started + decision.latency)
            if hold is not None:
                await _held(hold, reply)
            if action.fault == "truncate":
                note = await faults.truncate(send, reply.body)
            else:  # dribble: the only other fault that processes the request
                note = await faults.dribble(send, reply.body, action.dribble_ms / 1000)
        reason = _rule_reason(decision, reply.reason, note)
        reply = reply._replace(reason=reason, rule=decision.rule, account=account)
        self._journal(scope, request, status, reply, started=started)

    def _rule_reply(self, decision: Decision, handler: Handler, request: GatewayRequest) -> Reply:
        """The answer a rule gives in place of the gateway's, or the gateway's own."""
        action = decision.action
        if action.error is not None:
            return self._refusal(request.path, f"ERR:{action.error}", "")
        if action.delay_reply is not None:
            return self._refusal(request.path, f"DELAY:{action.delay_reply}", "")
        return self._answer(handler, request, decision)

    def send_reply(
        self, request: GatewayRequest, decision: Decision | None, account: Account | None = None
    ) -> Reply:
        """A send's answer in lines, as every plain-text path gives it (`account`: already
        logged in, by keys)."""
        outcome = self.gateway.submit(
            request.fields, request.files, endpoint=request.path, decision=decision, account=account
        )
        message_id = outcome.message.id if outcome.message else None
        return Reply(
            self.answers.send_answer(outcome.shown, outcome.results, outcome.accepted),
            outcome.reason,
            message_id,
            outcome=outcome.journaled,
        )

    def _retrieve_mms(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        part = self.gateway.retrieve_mms(request.fields)
        content_type = header_media_type(part.content_type)  # never a header unchecked
        reason = f"MMS part {part.filename!r}, {len(part.data)} bytes of {content_type}"
        return Reply(part.data, reason, content_type=content_type.encode("ascii"))

    def _balance(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        balance = self.gateway.balance(request.fields)
        return Reply(self.answers.body([f"BALANCE:{balance}"]), "balance told")

    def _create_subaccount(self, request: GatewayRequest, decision: Decision | None) -> Reply:
        account = self.gateway.create_subaccount(request.fields)
        self.store.state_changed()
        body = self.answers.body([f"OK:{int(account.credit)}"])
        return Reply(body, f"sub-account {account.username!r} created")

    def _journal(
        self, scope: Scope, request: GatewayRequest, status: int, reply: Reply, *, started: float
    ) -> None:
        self.store.record(
            exchange_of(
                self.gateway.clock.now(),
                scope,
                request,
                status,
                reply,
                store=self.store,
                started=started,
            )
        )

    def journal_refusal(self, scope: Scope, status: int, reason: str, received: int) -> None:
        """Journal a request to an emulated path that the server's edge refused (a body that
        stalled, or too many under way), with the body bytes that had arrived."""
        if self.handler_for(scope["path"]) is not None:
            request = GatewayRequest({}, scope["path"].lower(), body_size=received)
            reply = Reply(reason.encode(), reason)
            self._journal(scope, request, status, reply, started=perf_counter())

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        status: int,
        body: bytes,
        reason: str,
        *,
        started: float,
        allow: bytes = b"",
    ) -> None:
        extra = [(b"allow", allow)] if allow else [(b"connection", b"close")]
        await respond(send, status, body, extra)
        request = GatewayRequest({}, scope["path"].lower())
        self._journal(scope, request, status, Reply(body, reason), started=started)


async def _held(hold: Hold, reply: Reply) -> None:
    if reply.message_id is not None:
        await hold(reply.message_id)


def _rule_reason(decision: Decision, answer_reason: str, note: str) -> str:
    parts = [f"rule {decision.rule!r} fired"]
    if decision.latency:
        parts.append(f"waited {decision.latency * 1000:.0f} ms")
    if note:
        parts.append(note)
    if answer_reason:
        parts.append(answer_reason)
    return "; ".join(parts)


async def sleep_until(deadline: float) -> None:
    """Wait until `perf_counter()` reaches `deadline` (a rule's latency, counted from the start
    of the request)."""
    await asyncio.sleep(max(0.0, deadline - perf_counter()))
