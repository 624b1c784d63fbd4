"""Accounts at run time: who may log in, their settings, and their credit (the ledger).

Credit is kept exactly (`Decimal`). Every debit checks and subtracts in one step under a lock,
so concurrent submissions can never overspend or drive a balance negative.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from gateway_sim import scenario
from gateway_sim.errors import LoginInvalid, NoPassword, NoUsername


@dataclass(slots=True)
class Account:
    """A live account; `credit` changes only through `Accounts`."""

    username: str
    password: str
    credit: Decimal
    default_sender: str = ""
    default_country: str | None = None
    parent: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    status_url: str | None = None
    inbound_url: str | None = None
    mms_url: str | None = None
    inbound_format: str = "form"
    retry_seconds: float = 300.0
    report_all: bool = False


class Accounts:
    """The account registry: case-insensitive usernames, exact passwords, atomic credit."""

    def __init__(self, accounts: Sequence[scenario.Account] = ()) -> None:
        self._by_key: dict[str, Account] = {}
        self._lock = threading.Lock()
        for spec in accounts:
            self.add(Account(**spec.model_dump()))

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._by_key.values()))

    def get(self, username: str) -> Account | None:
        return self._by_key.get(username.casefold())

    def add(self, account: Account) -> bool:
        """Register `account`; False (and nothing changes) when the name is taken."""
        key = account.username.casefold()
        with self._lock:
            if key in self._by_key:
                return False
            self._by_key[key] = account
            return True

    def change(self, account: Account, **changes: Any) -> None:
        """Set any of password, credit, default sender and default country."""
        with self._lock:
            for name, value in changes.items():
                setattr(account, name, value)

    def remove(self, username: str) -> bool:
        with self._lock:
            return self._by_key.pop(username.casefold(), None) is not None

    def saved(self) -> list[dict[str, Any]]:
        """Every account as plain data (credit as a decimal string), for a database file."""
        with self._lock:
            accounts = list(self._by_key.values())
        return [{**asdict(account), "credit": str(account.credit)} for account in accounts]

    @classmethod
    def from_saved(cls, saved: list[dict[str, Any]]) -> Accounts:
        accounts = cls()
        for data in saved:
            accounts.add(Account(**{**data, "credit": Decimal(data["credit"])}))
        return accounts

    def login(self, username: str | None, password: str | None) -> Account:
        """The account for a username/password pair, checked in the gateway's order."""
        if not username:
            raise NoUsername("the username field is missing or empty")
        if not password:
            raise NoPassword("the password field is missing or empty")
        account = self.get(username)
        if account is None:
            raise LoginInvalid(f"no account named {username!r}")
        if account.password != password:
            raise LoginInvalid(f"wrong password for account {account.username!r}")
        return account

    def top_up(self, account: Account, amount: Decimal) -> Decimal:
        """Add `amount` to the balance in one step; tell the new balance."""
        with self._lock:
            account.credit += amount
            return account.credit

    def try_debit(self, account: Account, amount: Decimal) -> bool:
        """Subtract `amount` if the balance covers it; tell whether it did."""
        with self._lock:
            if account.credit < amount:
                return False
            account.credit -= amount
            return True
