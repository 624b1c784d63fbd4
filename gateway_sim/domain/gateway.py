"""The domain core: a submission in, an outcome out, in the order of checks (README "What is
simulated": order of checks).

No HTTP here and no I/O: the edge (`wire/`) turns requests into field mappings and renders
what comes back; this module decides.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from gateway_sim.domain.accounts import SUBACCOUNT_DETAILS, Account, Accounts
from gateway_sim.domain.billing import PriceList
from gateway_sim.domain.clock import Clock, IdCounter, IdSource
from gateway_sim.domain.content import UploadedFile, build_content, message_type
from gateway_sim.domain.errors import (
    AccountExists,
    GatewayError,
    MsgidInvalid,
    NoMsgid,
    NoTo,
    ParameterInvalid,
    ParameterMissing,
    TooManyNumbers,
)
from gateway_sim.domain.numbers import NumberPlan, is_digits, normalise, split_recipients
from gateway_sim.domain.ports import MessageLog
from gateway_sim.domain.records import ContentPart, JournalOutcome, Message
from gateway_sim.domain.rule_schema import Rule
from gateway_sim.domain.rules import (
    Decision,
    Facts,
    RuleBook,
    SharedCounters,
    delivery_plan,
    reply_plan,
)
from gateway_sim.domain.scenario import Scenario

MAX_RECIPIENTS = 100


class Outcome(NamedTuple):
    """What a submission came to: each recipient as shown and its result (None: accepted, under
    the message's id), and why."""

    shown: tuple[str, ...]
    results: tuple[str | None, ...]
    reason: str
    message: Message | None = None

    @property
    def accepted(self) -> str:
        """The result line of an accepted recipient (`ID:<id>`); empty when none is."""
        return f"ID:{self.message.id}" if self.message is not None else ""

    @property
    def journaled(self) -> JournalOutcome:
        """How the journal classifies it: accepted, partial (some recipients refused), refused."""
        if self.message is None:
            return "refused"
        return "partial" if any(self.results) else "accepted"

    @property
    def lines(self) -> tuple[tuple[str, str], ...]:
        """One `(recipient, result)` pair per recipient."""
        accepted = self.accepted
        return tuple(zip(self.shown, (result or accepted for result in self.results), strict=True))


class Gateway:
    """Accounts, numbers, billing and the record of messages, for one running scenario."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Clock,
        store: MessageLog,
        seed: int = 0,
        ids: Callable[[int], IdSource] = IdCounter,
        counters: SharedCounters | None = None,
    ) -> None:
        self.clock = clock
        self.counters = counters
        """The rule counters replicas share, when they share a store."""
        self.new_ids = ids
        """Makes the id source from where it starts (a shared store's is its sequence)."""
        self.store = store
        self.seed = seed
        self.listeners: list[Callable[[Message], None]] = []
        """Told of each accepted send's message (delivery reports, long-polls, automatic
        replies); with a database file, once it is committed (`confirm`)."""
        self.ledger: Callable[[str], Decimal | None] | None = None
        """A shared store's ledger: an account's credit there (replicas debit it too)."""
        self._last_accepted: tuple[int, Decimal | None, str] = (0, None, "")
        self._uncommitted: dict[str, Message] = {}
        store.unstored = self.refund
        self.load(scenario)

    def load(self, scenario: Scenario, rules: RuleBook | None = None) -> None:
        """Start over from `scenario`: accounts and credit, a fresh id counter, fresh rules
        (`rules`, if `rule_book` made them already)."""
        self.scenario = scenario
        self._uncommitted = {}  # the store was cleared: no listener hears of those
        self.ids = self.new_ids(scenario.settings.id_start)
        self.accounts = Accounts(scenario.accounts)
        self.numbers = NumberPlan(scenario.numbers)
        self.price = PriceList(scenario.prices)
        self.rules = rules if rules is not None else self.rule_book(scenario)

    def rule_book(self, scenario: Scenario) -> RuleBook:
        """The rules of `scenario`, ready to run once it is loaded: a big scenario's can be
        made off the event loop (thousands of rules, each with its own seeded RNG)."""
        return self.rules_of(scenario, scenario.rules)

    def rules_of(self, scenario: Scenario, rules: Sequence[Rule]) -> RuleBook:
        """`rules`, ready to run on `scenario` (its numbers normalise their `to`)."""
        return RuleBook(
            rules,
            shared=self.counters,
            seed=self.seed,
            started=self.clock.now(),
            normalise_to=lambda entry: (
                self.numbers.judge(entry, scenario.settings.default_country) or entry.lstrip("+")
            ),
        )

    def decide(
        self, path: str, fields: Mapping[str, str], account_name: str | None, host: str = ""
    ) -> Decision | None:
        """The rule that fires for this request, if any (rules are checked before anything);
        `account_name` is the account it names (`account_named`), resolved once per request,
        `host` its Host header."""
        if not len(self.rules):
            return None
        username = account_name or ""
        account = self.accounts.get(username) if username else None
        region = (account and account.default_country) or self.scenario.settings.default_country

        def recipients() -> tuple[str, ...]:
            entries = split_recipients(fields.get("to", ""))
            return tuple(self.numbers.judge(entry, region) or entry for entry in entries)

        facts = Facts(
            path=path,
            account=username,
            type=_type_or_none(fields.get("type")),
            sender=fields.get("from", "").strip(),
            text=fields.get("text", ""),
            recipients=recipients,
            now=self.clock.now(),
            host=host,
        )
        return self.rules.decide(facts)

    def account_named(self, fields: Mapping[str, str]) -> str | None:
        """The account a request names: its `username`, else the owner of its `accesskey`."""
        username = fields.get("username")
        if username:
            return username
        owner = self.accounts.key_owner(fields.get("accesskey") or "")
        return owner.username if owner else None

    def key_login(self, fields: Mapping[str, str]) -> Account:
        """The account of the request's `accesskey`/`secretkey` pair (the newer APIs)."""
        return self.accounts.login_with_keys(fields.get("accesskey"), fields.get("secretkey"))

    def international(self, number: str, account: Account) -> str:
        """A handset's number as the gateway forwards it: international digits without `+`
        (a national number in the account's country), or as given when it is no phone number
        (a short code or an alphanumeric sender)."""
        region = account.default_country or self.scenario.settings.default_country
        return normalise(number.strip(), region, False) or number

    def accounts_get(self, username: str) -> Account | None:
        """The account named `username` now (the registry is replaced on reset)."""
        return self.accounts.get(username)

    def snapshot(self) -> dict[str, str]:
        """What a restart with a database file must get back: accounts, credit, id counter."""
        return {"next_id": str(self.ids.next_value), "accounts": json.dumps(self.accounts.saved())}

    def restore(self, saved: Mapping[str, str]) -> bool:
        """Take back the accounts and id counter of an earlier `snapshot`, if there is one;
        whether there was. A shared store saves no counter: its sequence is the counter."""
        if "accounts" not in saved:
            return False
        if "next_id" in saved:
            self.ids = self.new_ids(int(saved["next_id"]))
        self.accounts = Accounts.from_saved(json.loads(saved["accounts"]))
        return True

    def credit_is(self, username: str, credit: Decimal) -> None:
        """A shared store's ledger says the account's credit is `credit` now."""
        account = self.accounts.get(username)
        if account is not None:
            self.accounts.change(account, credit=credit)

    def submit(
        self,
        fields: Mapping[str, str],
        files: Sequence[UploadedFile] = (),
        *,
        endpoint: str = "sendmsg",
        decision: Decision | None = None,
        account: Account | None = None,
    ) -> Outcome:
        """Check, charge and record a send request; raise `GatewayError` for a whole refusal.

        The `account` is the one already logged in by access keys; without it, the fields'
        username and password log in. A fired rule's `recipient_error` refuses its matched
        recipients (not charged), and its `delivery` is recorded with the message for the
        delivery reports. The listeners are told of the message at once in memory; with a
        database file, once its send learns that it was committed (`confirm`).
        """
        if account is None:
            account = self.accounts.login(fields.get("username"), fields.get("password"))
        settings = self.scenario.settings
        region = account.default_country or settings.default_country
        routing = self.numbers.routing(fields.get("to", ""), region, MAX_RECIPIENTS)
        if not routing.entries:
            raise NoTo("the to field is missing or has no numbers")
        kind = message_type(fields.get("type"))
        given_sender = fields.get("from", "").strip()
        content = build_content(kind, fields, files, given_sender, settings.mms_max_bytes)
        if routing.entries > MAX_RECIPIENTS:
            raise TooManyNumbers(f"{routing.entries} numbers in to; at most {MAX_RECIPIENTS}")
        routable, rejected, results = routing.sorted_out(_forced_errors(decision))
        if not routable:
            return Outcome(routing.shown, results, "no recipient can be routed")
        cost = self.price(kind, content.parts)
        if len(routable) > 1:
            cost *= len(routable)
        now = self.clock.now()
        self.accounts.charge(account, cost, len(routable), now)
        try:
            message_id = self.ids.take()
        except GatewayError:  # a shared sequence out of reach: nothing charged after all
            self.accounts.refund(account, cost, len(routable), now)
            raise
        message = Message(
            id=message_id,
            account=account.username,
            endpoint=endpoint,
            type=kind,
            kind=content.kind,
            sender=given_sender or account.default_sender,
            recipients=routable,
            rejected=rejected,
            text=content.text,
            encoding=content.encoding,
            parts=content.parts,
            cost=cost,
            truncated=content.dropped > 0,
            created_at=now,
            content=content.files,
            udh=content.udh,
            ud=content.ud,
            href=content.href,
            delivery_report=fields.get("delrpt", "").strip() == "1",
            user_context=fields.get("usercontext") or None,
            rule=decision.rule if decision else None,
            delivery=delivery_plan(decision),
            auto_reply=reply_plan(decision),
        )
        self.store.add(message)
        if self.store.persistent:
            self._uncommitted[message.id] = message
        else:
            self._announce(message)
        reason = self._accepted(len(routable), cost)
        if content.dropped:
            reason += _cut(content.parts, content.dropped)
        return Outcome(routing.shown, results, reason, message)

    def confirm(self, message_id: str, *, stored: bool) -> None:
        """With a database file: a send's message was committed (`stored`), or could not be
        (its cost was refunded then, by `refund`). Only a stored one is told to the listeners:
        no report, reply or long-poll answer is ever made of a message that was not kept."""
        message = self._uncommitted.pop(message_id, None)
        if message is not None and stored:
            self._announce(message)

    def refund(self, message: Message) -> None:
        """The store could not keep `message`: give back what its send was charged (credit, and
        its count against the daily allowance), as if it had been refused."""
        account = self.accounts.get(message.account)
        if account is not None and message.direction == "outbound":
            self.accounts.refund(account, message.cost, len(message.recipients), message.created_at)

    def _announce(self, message: Message) -> None:
        for listener in self.listeners:
            listener(message)

    def _accepted(self, recipients: int, cost: Decimal) -> str:
        """Why a send was accepted; the text of the last one again for the same count and the
        same cost object (a price of the list, for one recipient): formatting a Decimal costs."""
        last = self._last_accepted
        if last[0] == recipients and last[1] is cost:
            return last[2]
        reason = f"accepted for {recipients} recipient(s), cost {cost}"
        self._last_accepted = (recipients, cost, reason)
        return reason

    def retrieve_mms(self, fields: Mapping[str, str]) -> ContentPart:
        """A part of an MMS the logged-in account received, by its file name."""
        account = self.accounts.login(fields.get("username"), fields.get("password"))
        message_id = fields.get("msgid", "").strip()
        if not message_id:
            raise NoMsgid("the msgid field is missing or empty")
        name = fields.get("msgpart", "")
        if not name:
            raise ParameterMissing("the msgpart field is missing or empty")
        message = self.store.get(message_id)
        if message is None or message.direction != "inbound" or message.account != account.username:
            raise MsgidInvalid(f"account {account.username!r} received no MMS {message_id!r}")
        for part in message.content:
            if part.filename == name and not part.dropped:
                return part
        raise MsgidInvalid(f"MMS {message_id!r} has no part {name!r}")

    def balance(self, fields: Mapping[str, str]) -> int:
        """The whole credits of the logged-in account, rounded down."""
        account = self.accounts.login(fields.get("username"), fields.get("password"))
        return math.floor(self._credit(account))

    def exact_balance(self, fields: Mapping[str, str]) -> Decimal:
        """The exact credit of the account logged in by access keys (the newer APIs)."""
        return self._credit(self.key_login(fields))

    def _credit(self, account: Account) -> Decimal:
        """The account's credit; a shared ledger's (`ledger`), read as the balance is asked."""
        credit = self.ledger(account.username) if self.ledger is not None else None
        if credit is not None:
            self.accounts.change(account, credit=credit)
        return account.credit

    def create_subaccount(self, fields: Mapping[str, str]) -> Account:
        """Create a sub-account of the logged-in account, starting with the scenario's credit."""
        parent = self.accounts.login(fields.get("username"), fields.get("password"))
        username, password = fields.get("subacc_username", ""), fields.get("subacc_password", "")
        if not username or not password:
            raise ParameterMissing("subacc_username and subacc_password are required")
        service = fields.get("subacc_service", "").strip()
        if service and not is_digits(service.removeprefix("-")):
            raise ParameterInvalid(f"subacc_service {service!r} is not an integer")
        account = Account(
            username=username,
            password=password,
            credit=Decimal(self.scenario.settings.subaccount_credit),
            default_sender=parent.default_sender,
            default_country=parent.default_country,
            parent=parent.username,
            details={name: fields[name] for name in SUBACCOUNT_DETAILS if fields.get(name)},
        )
        if not self.accounts.add(account):
            raise AccountExists(f"an account named {username!r} exists already")
        return account


def _type_or_none(raw: str | None) -> int | None:
    try:
        return message_type(raw)
    except GatewayError:
        return None


def _forced_errors(decision: Decision | None) -> dict[str, str]:
    if decision is None or decision.action.recipient_error is None:
        return {}
    return dict.fromkeys(decision.recipients, decision.action.recipient_error)


def _cut(parts: int, dropped: int) -> str:
    """What a journal reason adds for a text `maxconcat` cut (the send is still answered `ID:`,
    so this is where a person looking sees it): parts is maxconcat, as a cut text fills it."""
    return (
        f"; cut to {parts} part{'s' if parts > 1 else ''} by maxconcat {parts}, "
        f"{dropped} character{'s' if dropped > 1 else ''} dropped"
    )
