"""Accounts at run time: who may log in (username and password, or an access key pair), their
settings, and their credit (the ledger) and daily allowance.

Credit is kept exactly (`Decimal`). Every debit checks and subtracts in one step under a lock,
so concurrent submissions can never overspend or drive a balance negative.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway_sim.domain import scenario
from gateway_sim.domain.errors import (
    AuthParameterInvalid,
    AuthParameterMissing,
    DailyAllowanceExceeded,
    InsufficientCredit,
    LoginInvalid,
    NoPassword,
    NoUsername,
)

SUBACCOUNT_DETAILS = (  # what createsubacc.aspx keeps of a sub-account, beside its login
    "subacc_service",
    "subacc_fullname",
    "subacc_company",
    "subacc_address",
    "subacc_town",
    "subacc_county",
    "subacc_country",
    "subacc_postcode",
    "subacc_email",
    "subacc_phone",
    "subacc_fax",
)


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
    access_keys: list[dict[str, str]] = field(default_factory=list)
    daily_allowance: int | None = None
    allowance_day: str = ""
    allowance_used: int = 0
    starting_credit: Decimal | None = None
    """What a reset of this account alone gives back (default: the credit it was made with)."""
    resets: int = 0
    """How many times it was reset alone: work planned before (report steps) is dropped."""

    def __post_init__(self) -> None:
        if self.starting_credit is None:
            self.starting_credit = self.credit

    def used_on(self, day: str) -> int:
        """Messages counted against the daily allowance on `day` (an ISO date)."""
        return self.allowance_used if self.allowance_day == day else 0


def allowance_day(moment: datetime) -> str:
    """The day a daily allowance counts in: the UTC date of the simulator's clock."""
    return moment.astimezone(UTC).date().isoformat()


class Accounts:
    """The account registry: case-insensitive usernames, exact passwords and keys, atomic credit."""

    def __init__(self, accounts: Sequence[scenario.Account] = ()) -> None:
        self._by_key: dict[str, Account] = {}
        self._by_access_key: dict[str, Account] = {}
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
            self._index_keys(account)
            return True

    def change(self, account: Account, **changes: Any) -> None:
        """Set any of password, credit, default sender and country, callbacks, keys, allowance."""
        with self._lock:
            for name, value in changes.items():
                setattr(account, name, value)
            if "access_keys" in changes:
                self._unindex_keys(account)
                self._index_keys(account)

    def remove(self, username: str) -> bool:
        with self._lock:
            account = self._by_key.pop(username.casefold(), None)
            if account is not None:
                self._unindex_keys(account)
            return account is not None

    def key_owner(self, accesskey: str) -> Account | None:
        """The account an access key belongs to, if any (keys match exactly)."""
        return self._by_access_key.get(accesskey)

    def _index_keys(self, account: Account) -> None:
        for pair in account.access_keys:
            self._by_access_key[pair["accesskey"]] = account

    def _unindex_keys(self, account: Account) -> None:
        for accesskey, owner in list(self._by_access_key.items()):
            if owner is account:
                del self._by_access_key[accesskey]

    def saved(self) -> list[dict[str, Any]]:
        """Every account as plain data (credit as a decimal string), for a database file."""
        with self._lock:
            accounts = list(self._by_key.values())
        return [
            {
                **asdict(account),
                "credit": str(account.credit),
                "starting_credit": str(account.starting_credit),
            }
            for account in accounts
        ]

    @classmethod
    def from_saved(cls, saved: list[dict[str, Any]]) -> Accounts:
        accounts = cls()
        for data in saved:
            starting = data.get("starting_credit")
            credit, starting = (
                Decimal(data["credit"]),
                None if starting is None else Decimal(starting),
            )
            accounts.add(Account(**{**data, "credit": credit, "starting_credit": starting}))
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

    def restart(self, account: Account) -> None:
        """Give `account` its starting credit back and a fresh daily allowance, and count the
        reset (see `Account.resets`)."""
        with self._lock:
            assert account.starting_credit is not None  # set as it was made
            account.credit = account.starting_credit
            account.allowance_day, account.allowance_used = "", 0
            account.resets += 1

    def login_with_keys(self, accesskey: str | None, secretkey: str | None) -> Account:
        """The account for an access key pair: missing, then malformed, then wrong."""
        given = (("accesskey", accesskey), ("secretkey", secretkey))
        if not accesskey or not secretkey:
            missing = " and ".join(name for name, value in given if not value)
            raise AuthParameterMissing(f"{missing}: missing or empty")
        for name, value in (("accesskey", accesskey), ("secretkey", secretkey)):
            problem = scenario.key_problem(value)
            if problem:
                raise AuthParameterInvalid(f"{name} is malformed: {problem}")
        account = self._by_access_key.get(accesskey)
        if account is None:
            raise LoginInvalid(f"no account has the access key {accesskey!r}")
        for pair in account.access_keys:
            if pair["accesskey"] == accesskey and hmac.compare_digest(
                pair["secretkey"].encode(), secretkey.encode()
            ):
                return account
        raise LoginInvalid(f"wrong secret key for access key {accesskey!r}")

    def charge(self, account: Account, amount: Decimal, messages: int, now: datetime) -> None:
        """Debit `amount` for `messages` messages (one per recipient), within the account's
        daily allowance and its credit, in one step; else raise and change nothing."""
        if account.daily_allowance is None:
            if not self.try_debit(account, amount):
                raise InsufficientCredit(f"costs {amount}, balance is {account.credit}")
            return
        day = allowance_day(now)
        with self._lock:
            used = account.used_on(day)
            if used + messages > account.daily_allowance:
                raise DailyAllowanceExceeded(
                    f"{messages} message(s) on top of {used} sent on {day} (UTC) pass "
                    f"the daily allowance of {account.daily_allowance}"
                )
            if account.credit < amount:
                raise InsufficientCredit(f"costs {amount}, balance is {account.credit}")
            account.credit -= amount
            account.allowance_day, account.allowance_used = day, used + messages

    def refund(self, account: Account, amount: Decimal, messages: int, when: datetime) -> None:
        """Undo a `charge` of `amount` for `messages` messages made at `when` (their message
        could not be kept): the credit back, and the count against that day's allowance."""
        with self._lock:
            account.credit += amount
            if account.daily_allowance is not None and account.allowance_day == allowance_day(when):
                account.allowance_used = max(0, account.allowance_used - messages)

    def try_debit(self, account: Account, amount: Decimal) -> bool:
        """Subtract `amount` if the balance covers it; tell whether it did."""
        with self._lock:
            if account.credit < amount:
                return False
            account.credit -= amount
            return True
