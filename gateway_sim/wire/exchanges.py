"""What the journal keeps of a request to an emulated path: the answer it was given (`Reply`)
and the `Exchange` recorded for it.
"""

from __future__ import annotations

import sys
from datetime import datetime
from time import perf_counter
from typing import NamedTuple

from gateway_sim.domain.records import Exchange, JournalOutcome, outcome_of_answer
from gateway_sim.store.repository import Repository
from gateway_sim.wire.asgi import Scope
from gateway_sim.wire.form import form_fields
from gateway_sim.wire.request import GatewayRequest

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"


class Reply(NamedTuple):
    """An answer body and why it was given."""

    body: bytes
    reason: str
    message_id: str | None = None
    content_type: bytes = TEXT
    outcome: JournalOutcome | None = None
    """How the journal classifies the answer, where the handler knows (else it is read off the
    answer's lines)."""
    rule: str | None = None
    """The rule that fired for it, if one did."""
    account: str | None = None
    """The account the request names, as the domain resolved it once for the whole request
    (`Gateway.account_named`: its `username`, else its access key's owner)."""


def with_account(reply: Reply, account: str | None) -> Reply:
    """`reply` with the account the request names: rebuilt positionally (account is the last
    field): `_replace`'s keyword machinery costs more, on the path every send takes."""
    return Reply(*reply[:-1], account)


def exchange_of(
    at: datetime,
    scope: Scope,
    request: GatewayRequest,
    status: int,
    reply: Reply,
    *,
    store: Repository,
    started: float,
) -> Exchange:
    """The journal's record of a request and its answer, made `at`, `started` on the
    perf_counter clock.

    Its fields are dropped and parsed again when read if they are still what the raw query and
    body give (`content_type` set), go to the in-memory journal (a database file's journal
    stores them at once) and the store will keep those bytes whole (else it keeps the fields,
    see entries.py: parsing the whole bytes again would only repeat the gateway's work)."""
    if reply.content_type in (TEXT, JSON):
        answer = reply.body.decode("utf-8", "replace")
    else:
        answer = f"<{len(reply.body)} bytes of {reply.content_type.decode('latin-1')}>"
    reparsable = (
        request.content_type is not None
        and store.keeps_journal_in_memory
        and len(request.body) <= store.retention.max_journal_body_bytes
        and len(request.query) <= store.retention.max_journal_body_bytes
    )
    return Exchange(
        at=at,
        method=sys.intern(scope["method"]),
        path=sys.intern(scope["path"]),
        client=_client(scope),
        parsed=None if reparsable else request.fields,
        body_size=request.body_size,
        status=status,
        answer=answer,
        outcome=(reply.outcome if status == 200 else None) or outcome_of_answer(status, answer),
        reason=reply.reason,
        account=reply.account,
        message_id=reply.message_id,
        rule=reply.rule,
        files=tuple(
            {
                "filename": f.part.filename,
                "content_type": f.part.content_type,
                "size": len(f.part.data),
            }
            for f in request.files
        )
        if request.files
        else (),
        query=request.query,
        body=request.body,
        seconds=perf_counter() - started,
        content_type=request.content_type or "",
        parser=form_fields if reparsable else None,
    )


_CLIENTS: dict[tuple[str, int], str] = {}
"""`host:port` of the connections seen lately, one string each for all their requests."""
_CLIENTS_KEPT = 4096


def _client(scope: Scope) -> str:
    client = scope.get("client")
    if not client:
        return ""
    if type(client) is not tuple:  # a list, from some servers: not a key
        return f"{client[0]}:{client[1]}"
    shown = _CLIENTS.get(client)
    if shown is None:
        if len(_CLIENTS) >= _CLIENTS_KEPT:
            _CLIENTS.clear()
        shown = _CLIENTS[client] = f"{client[0]}:{client[1]}"
    return shown
