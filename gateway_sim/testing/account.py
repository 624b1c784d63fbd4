"""A test's own account on the simulator (the plugin's `sim_account`): its credentials, and the
simulator's helpers narrowed to it, so that tests sharing one simulator (xdist workers, parallel
CI jobs) never see or disturb each other: its messages, waits and journal entries, rules that
match it alone, and a reset of it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, Unpack

from gateway_sim.testing.client import (
    Filters,
    MessageFilters,
    RequestFilters,
    SimAccount,
    SimClient,
    SimMessage,
    SimRequest,
)


class Session(Protocol):
    """What an account needs of the session's simulator (the plugin's `GatewaySim`)."""

    url: str
    api: SimClient


class SimTestAccount:
    """A test's own account, and the simulator's helpers narrowed to it."""

    def __init__(
        self,
        sim: Session,
        username: str,
        password: str,
        account: SimAccount,
        *,
        accesskey: str = "",
        secretkey: str = "",
    ) -> None:
        self.sim = sim
        self.username = username
        self.password = password
        self.accesskey = accesskey
        self.secretkey = secretkey
        self.credit = account.credit
        """The credit the account started with."""
        self.default_sender = account.default_sender
        self.default_country = account.default_country
        self.rules: list[str] = []
        """The names of the rules it added (`add_rule`), removed at the end of its test."""

    def __repr__(self) -> str:
        return f"<SimTestAccount {self.username} on {self.sim.url}>"

    @property
    def credentials(self) -> dict[str, str]:
        """`{"username": ..., "password": ...}`, to merge into a gateway request's fields."""
        return {"username": self.username, "password": self.password}

    @property
    def keys(self) -> dict[str, str]:
        """`{"accesskey": ..., "secretkey": ...}`, the fields of an `/api/https` request."""
        return {"accesskey": self.accesskey, "secretkey": self.secretkey}

    @property
    def json_auth(self) -> dict[str, str]:
        """The `auth` object of an `/api/json` request."""
        return {"authtype": "accesskey", **self.keys}

    def messages(
        self, *, limit: int | None = 100, **filters: Unpack[MessageFilters]
    ) -> list[SimMessage]:
        """This account's accepted messages, newest first (`account` is always this one)."""
        filters["account"] = self.username
        return self.sim.api.messages(limit=limit, **filters)

    def wait_for_message(
        self, to: str | None = None, timeout: float = 5.0, **filters: Unpack[Filters]
    ) -> SimMessage:
        """This account's newest matching message, waiting up to `timeout` seconds for one;
        a timeout fails with what the account did send and which of its requests were refused."""
        __tracebackhide__ = True
        filters["account"] = self.username
        return self.sim.api.wait_for_message(to, timeout, **filters)

    def requests(
        self, *, limit: int | None = 100, **filters: Unpack[RequestFilters]
    ) -> list[SimRequest]:
        """The journal entries of requests made with this account's username, newest first."""
        filters["account"] = self.username
        return self.sim.api.requests(limit=limit, **filters)

    def assert_no_refused_requests(self, *, since: datetime | str | None = None) -> None:
        """Fail, listing path, answer and reason of each, if a request made with this account's
        username was refused, only partly accepted or an HTTP error."""
        __tracebackhide__ = True
        self.sim.api.assert_no_refused_requests(self.username, since=since)

    def account(self) -> SimAccount:
        """The account as the simulator has it now."""
        found = self.sim.api.account(self.username)
        if found is None:
            raise AssertionError(f"account {self.username!r} is gone from the simulator")
        return found

    def balance(self) -> Decimal:
        """The account's credit now (exact, not rounded)."""
        return self.account().credit

    def reset(self) -> SimAccount:
        """This account alone back to its start: its messages, journal entries and callbacks
        forgotten, its starting credit back. Never the simulator's global reset, which would
        start over every other test's account too."""
        return self.sim.api.reset_account(self.username)

    def add_rule(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """Add `rule` (as a scenario gives one: `match`, `action` or `sequence`, `times`) so
        that it matches this account only: `match.account` is set to its username, and a rule
        whose match names another account is refused (`ValueError`). Its `name` (default
        `rule-N`) is prefixed with the username, so that parallel tests never clash; the rule
        is removed at the end of the test. Returns the rule as the simulator has it."""
        match = dict(rule.get("match") or {})
        named = match.get("account")
        if named is not None and str(named).casefold() != self.username.casefold():
            raise ValueError(
                f"sim_account {self.username!r} adds rules for itself only, not for {named!r}"
            )
        name = f"{self.username}.{rule.get('name') or f'rule-{len(self.rules) + 1}'}"
        added = self.sim.api.add_rule(
            {**rule, "name": name, "match": {**match, "account": self.username}}
        )
        self.rules.append(name)
        return added

    def remove_rules(self) -> None:
        """Remove the rules `add_rule` added (done at the end of the test)."""
        while self.rules:
            self.sim.api.delete_rule(self.rules.pop(), missing_ok=True)
