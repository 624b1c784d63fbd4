"""A small typed client of the simulator's control API (`/_sim`), for tests and scripts.

    with SimClient("http://127.0.0.1:8080") as sim:
        message = sim.wait_for_message(to="07700900123", account="demo", timeout=5)
        assert message.text == "hello"
        sim.assert_no_refused_requests(account="demo")

Results are frozen, typed objects (`SimMessage`, `SimRequest`, `SimAccount`: the control API's
own views, `gateway_sim.control.views`; and `SimHealth`), defined in
`gateway_sim.testing.client_records` and importable from here; every refused control request
raises `SimApiError` with the status, error code and detail the server gave. The two waiting and
checking helpers raise `AssertionError` subclasses whose message says what did happen instead,
so a failing test explains itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import httpx

from gateway_sim.testing.client_records import (
    MessageNotArrived,
    Outcome,
    RefusedRequests,
    SimAccount,
    SimApiError,
    SimContentPart,
    SimHealth,
    SimMessage,
    SimRequest,
)

__all__ = [
    "NOT_ACCEPTED",
    "MessageNotArrived",
    "Outcome",
    "RefusedRequests",
    "SimAccount",
    "SimApiError",
    "SimClient",
    "SimContentPart",
    "SimHealth",
    "SimMessage",
    "SimRequest",
]

NOT_ACCEPTED: tuple[Outcome, ...] = ("refused", "partial", "http_error")
"""The outcomes `assert_no_refused_requests` complains about."""

PAGE_MOST = 1000
WAIT_MOST = 300.0
WAIT_SLACK = 10.0
"""Seconds the HTTP timeout of a long-poll exceeds the wait itself."""
RECENT = 5
"""How many recent messages and requests a failure message lists."""


class Filters(TypedDict, total=False):
    """The filters every listing of messages or requests takes (None: not filtered)."""

    sender: str | None
    account: str | None
    type: int | str | None
    text: str | None
    since: datetime | str | None


class MessageFilters(Filters, total=False):
    """`Filters`, and the recipient (`to`: as sent, or normalised by the simulator)."""

    to: str | None


class RequestFilters(MessageFilters, total=False):
    """`MessageFilters`, and the journal's own: the outcome and the path."""

    outcome: Outcome | None
    path: str | None


class SimClient:
    """A synchronous client of the `/_sim` control API (an `httpx.Client`; close it when done).

    Message and request filters: `to` (a recipient, normalised by the server like a send),
    `sender` (the JSON `from`), `account`, `type` (1-6 or a kind name), `text` (a substring),
    `since` (a datetime or ISO 8601 text); requests also take `outcome` and `path`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- messages -------------------------------------------------------------------------

    def messages(
        self, *, limit: int | None = 100, **filters: Unpack[MessageFilters]
    ) -> list[SimMessage]:
        """Accepted messages matching the filters, newest first: at most `limit` (None: all),
        following `next_cursor` across pages."""
        params = _filters(filters)
        return [
            SimMessage.model_validate(item)
            for item in self._pages("/_sim/messages", "messages", params, limit)
        ]

    def message(self, message_id: str) -> SimMessage:
        """One message by id (`SimApiError` 404 if unknown)."""
        return SimMessage.model_validate(self._json("GET", f"/_sim/messages/{message_id}"))

    def part(self, message_id: str, n: int) -> bytes:
        """The raw bytes of MMS content part `n` (0-based) of a message."""
        response = self._request("GET", f"/_sim/messages/{message_id}/parts/{n}")
        return response.content

    def delete_messages(self) -> int:
        """Forget every stored message (all accounts!); tells how many there were."""
        return int(self._json("DELETE", "/_sim/messages")["deleted"])

    def wait_for_message(
        self, to: str | None = None, timeout: float = 5.0, **filters: Unpack[Filters]
    ) -> SimMessage:
        """The newest message matching the filters, as soon as one exists (long-poll).

        Raises `MessageNotArrived` (an `AssertionError`) after `timeout` seconds, listing the
        messages and refused requests of that account (or to that number) that did arrive.
        """
        __tracebackhide__ = True
        params = _filters({"to": to, **filters})
        remaining = max(0.0, float(timeout))
        while True:
            chunk = min(remaining, WAIT_MOST)
            try:
                data = self._json(
                    "GET",
                    "/_sim/messages/wait",
                    params={**params, "timeout": f"{chunk:g}"},
                    timeout=chunk + WAIT_SLACK,
                )
            except SimApiError as error:
                if error.status != 408:
                    raise
                remaining -= chunk
                if remaining > 0:
                    continue
                raise self._not_arrived(params, timeout) from None
            return SimMessage.model_validate(data["message"])

    def _not_arrived(self, params: Mapping[str, str], timeout: float) -> MessageNotArrived:
        wanted = ", ".join(f"{_python_name(k)}={v!r}" for k, v in params.items()) or "any"
        lines = [f"no message matching {wanted} arrived within {timeout:g} s"]
        account, to = params.get("account"), params.get("to")
        if account is not None:
            scope, context = f"of account {account!r}", {"account": account}
        elif to is not None:
            scope, context = f"to {to!r}", {"to": to}
        else:
            scope, context = "", {}
        recent = tuple(
            SimMessage.model_validate(item)
            for item in self._pages("/_sim/messages", "messages", context, RECENT)
        )
        heading = " ".join(filter(None, ["recent messages", scope]))
        lines.append(f"{heading} (newest first):" if recent else f"{heading}: none")
        lines.extend(f"  {message.describe()}" for message in recent)
        refused = self._not_accepted(context)
        if refused:
            heading = " ".join(filter(None, ["requests", scope, "that were not accepted"]))
            lines.append(f"{heading} (newest first):")
            lines.extend(f"  {request.describe()}" for request in refused[:RECENT])
        return MessageNotArrived("\n".join(lines), filters=params, recent=recent)

    # -- the request journal --------------------------------------------------------------

    def requests(
        self, *, limit: int | None = 100, **filters: Unpack[RequestFilters]
    ) -> list[SimRequest]:
        """Journal entries matching the filters, newest first: at most `limit` (None: all)."""
        params = _filters(filters)
        return [
            SimRequest.model_validate(item)
            for item in self._pages("/_sim/requests", "requests", params, limit)
        ]

    def assert_no_refused_requests(
        self, account: str | None = None, *, since: datetime | str | None = None
    ) -> None:
        """Fail (`RefusedRequests`, an `AssertionError`) if any gateway request of `account`
        (default: of every account) was refused, only partly accepted or an HTTP error, listing
        each with its path, exact answer and the simulator's reason."""
        __tracebackhide__ = True
        context = _filters({"account": account, "since": since})
        found = self._not_accepted(context)
        if not found:
            return
        scope = f" of account {account!r}" if account is not None else ""
        lines = [f"{len(found)} gateway request(s){scope} were not accepted (newest first):"]
        lines.extend(f"  {request.describe()}" for request in found)
        raise RefusedRequests("\n".join(lines), tuple(found))

    def _not_accepted(self, params: Mapping[str, str]) -> list[SimRequest]:
        found = [
            SimRequest.model_validate(item)
            for outcome in NOT_ACCEPTED
            for item in self._pages("/_sim/requests", "requests", {**params, "outcome": outcome})
        ]
        return sorted(found, key=lambda request: request.seq or 0, reverse=True)

    # -- accounts and rules -----------------------------------------------------------------

    def accounts(self) -> list[SimAccount]:
        return [
            SimAccount.model_validate(item)
            for item in self._json("GET", "/_sim/accounts")["accounts"]
        ]

    def account(self, username: str) -> SimAccount | None:
        """The account named `username` (case-insensitive), or None."""
        wanted = username.casefold()
        return next((a for a in self.accounts() if a.username.casefold() == wanted), None)

    def put_account(
        self,
        username: str,
        password: str | None = None,
        credit: Decimal | int | str | None = None,
        *,
        default_sender: str | None = None,
        default_country: str | None = None,
        access_keys: Mapping[str, str] | None = None,
        daily_allowance: int | None = None,
    ) -> SimAccount:
        """Create (a password is then required) or change an account; only given keys change.

        `access_keys` ({accesskey: secretkey}) replaces the account's key pairs; a
        `daily_allowance` below 0 lifts the cap."""
        body: dict[str, Any] = {}
        if password is not None:
            body["password"] = password
        if credit is not None:
            body["credit"] = str(credit)
        if default_sender is not None:
            body["default_sender"] = default_sender
        if default_country is not None:
            body["default_country"] = default_country
        if access_keys is not None:
            body["access_keys"] = [
                {"accesskey": access, "secretkey": secret} for access, secret in access_keys.items()
            ]
        if daily_allowance is not None:
            body["daily_allowance"] = daily_allowance if daily_allowance >= 0 else None
        return SimAccount.model_validate(self._json("PUT", f"/_sim/accounts/{username}", json=body))

    def delete_account(self, username: str, *, missing_ok: bool = False) -> bool:
        """Remove an account; with `missing_ok`, an unknown one is no error (returns False)."""
        return self._delete(f"/_sim/accounts/{username}", missing_ok)

    def reset_account(self, username: str) -> SimAccount:
        """This account alone back to its start (messages, journal and callbacks forgotten, its
        starting credit back); the others are untouched. `SimApiError` 404 if unknown."""
        data = self._json("POST", f"/_sim/accounts/{username}/reset")
        return SimAccount.model_validate(data["account"])

    def rules(self) -> list[dict[str, Any]]:
        """The running rules, in the order they are tried, with their counters."""
        return list(self._json("GET", "/_sim/rules")["rules"])

    def add_rule(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """Add `rule` (as a scenario gives one) after the running ones; as the server has it."""
        return dict(self._json("POST", "/_sim/rules", json=dict(rule)))

    def delete_rule(self, name: str, *, missing_ok: bool = False) -> bool:
        """Remove a running rule; with `missing_ok`, an unknown one is no error (False)."""
        return self._delete(f"/_sim/rules/{name}", missing_ok)

    # -- scenario and state -----------------------------------------------------------------

    def scenario(self) -> dict[str, Any]:
        """The loaded scenario, as JSON."""
        return dict(self._json("GET", "/_sim/scenario"))

    def load_scenario(self, text: str) -> list[str]:
        """Load a scenario (YAML or JSON text) and reset to it; tells its account names."""
        data = self._json(
            "PUT",
            "/_sim/scenario",
            content=text.encode("utf-8"),
            headers={"Content-Type": "application/yaml"},
        )
        return [str(name) for name in data.get("accounts", ())]

    def reset(self) -> None:
        """Back to the loaded scenario: accounts, credit, id counter, messages and journal, of
        every account (on a shared simulator, `reset_account` is the one to use)."""
        self._json("POST", "/_sim/reset")

    def health(self) -> SimHealth:
        data = self._json("GET", "/_sim/health")
        return SimHealth(
            status=str(data["status"]),
            version=str(data["version"]),
            uptime_seconds=float(data["uptime_seconds"]),
        )

    def ready(self) -> bool:
        return bool(self._json("GET", "/_sim/ready").get("ready"))

    # -- plumbing ---------------------------------------------------------------------------

    def _pages(
        self, path: str, key: str, params: Mapping[str, str], limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of a paged list, following `next_cursor` until `limit` (None: all)."""
        remaining = limit
        cursor: str | None = None
        while remaining is None or remaining > 0:
            page_size = PAGE_MOST if remaining is None else min(remaining, PAGE_MOST)
            query = {**params, "limit": str(page_size)}
            if cursor is not None:
                query["cursor"] = cursor
            data = self._json("GET", path, params=query)
            items = data[key]
            yield from items
            if remaining is not None:
                remaining -= len(items)
            cursor = data.get("next_cursor")
            if not cursor or not items:
                return

    def _delete(self, path: str, missing_ok: bool) -> bool:
        try:  # with `missing_ok`, a 404 is an answer: False
            self._request("DELETE", path)
        except SimApiError as error:
            if not (missing_ok and error.status == 404):
                raise
            return False
        return True

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.is_success:
            return response
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = response.text
        if isinstance(body, dict):
            error = str(body.get("error", "http_error"))
            detail = str(body.get("detail", ""))
        else:
            error, detail = "http_error", str(body)[:500]
        raise SimApiError(response.status_code, error, detail, body)


def _filters(given: Mapping[str, object]) -> dict[str, str]:
    """Query parameters from the filters: None dropped, `sender` sent as `from`."""
    params: dict[str, str] = {}
    for name, value in given.items():
        if value is None:
            continue
        key = "from" if name == "sender" else name
        params[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    return params


def _python_name(key: str) -> str:
    return "sender" if key == "from" else key
