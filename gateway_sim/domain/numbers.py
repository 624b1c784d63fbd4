"""Recipient numbers (README "What is simulated": recipients, numbers): split, normalise, validate
and de-duplicate.

Parsing goes through Google's libphonenumber data (the `phonenumbers` package) and is cached, so
a number that a test suite sends a thousand times is parsed once.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

from gateway_sim.domain.errors import INVALID_NUMBER
from gateway_sim.domain.scenario import Numbers

INVALID_NUMBER_LINE = f"ERR:{INVALID_NUMBER}"

_PUNCTUATION = str.maketrans("", "", " -.()")
_LINE_BREAKERS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029], "\ufffd")


class Recipient(NamedTuple):
    """One entry of `to`: as submitted (trimmed) and, when routable, normalised."""

    submitted: str
    number: str | None

    @property
    def valid(self) -> bool:
        return self.number is not None

    @property
    def shown(self) -> str:
        """How the recipient is listed in a multi-line answer: normalised, or as submitted with
        each control character and line separator as U+FFFD, so that no entry can write a line
        of the answer (`ID:...` of its own, which a client would read as accepted)."""
        if self.number is not None:
            return self.number
        return self.submitted.translate(_LINE_BREAKERS)


def is_digits(value: str) -> bool:
    """ASCII digits only (str.isdigit alone also takes '²' and other scripts' digits)."""
    return value.isascii() and value.isdigit()


def split_recipients(to: str) -> list[str]:
    """The non-empty, trimmed entries of a comma-separated `to`, in order, duplicates kept."""
    if "," not in to:  # one recipient, the common case
        entry = to.strip()
        return [entry] if entry else []
    return [entry for entry in (raw.strip() for raw in to.split(",")) if entry]


@lru_cache(maxsize=65_536)
def normalise(entry: str, region: str, strict: bool) -> str | None:
    """International digits without `+` for a routable-looking entry, else None."""
    cleaned = entry.translate(_PUNCTUATION)
    if cleaned.startswith("+"):
        digits, national = cleaned[1:], False
    elif cleaned.startswith("00"):
        digits, national = cleaned[2:], False
    else:
        digits, national = cleaned, cleaned.startswith("0")
    if not is_digits(digits):
        return None
    try:
        parsed = phonenumbers.parse(digits if national else "+" + digits, region)
    except phonenumbers.NumberParseException:
        return None
    judge = phonenumbers.is_valid_number if strict else phonenumbers.is_possible_number
    if not judge(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


PLAN_CACHE_SIZE = 65_536
"""Entries whose verdict is remembered (all regions together); past it, all are forgotten."""
ROUTING_CHARS_KEPT = 4_000_000
"""The `to` fields whose routing is remembered, in characters; past it, all are forgotten."""


class Routing(NamedTuple):
    """What a `to` field comes to: how many entries it has, and its recipients, judged and
    de-duplicated (left empty when the entries are over the limit: they are refused whole)."""

    entries: int
    recipients: tuple[Recipient, ...]
    shown: tuple[str, ...]
    """Each recipient as a multi-line answer lists it."""
    routable: tuple[str, ...]
    """The normalised numbers of the routable recipients."""

    @property
    def all_routable(self) -> bool:
        return len(self.routable) == len(self.recipients)

    def sorted_out(
        self, forced: dict[str, str]
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str | None, ...]]:
        """Routable numbers, refused entries, and each recipient's result: its error (`forced`
        gives a rule's error for a number), or None for the id that it will share."""
        if not forced and self.all_routable:  # the common case, known from the routing alone
            return self.routable, (), (None,) * len(self.recipients)
        routable: list[str] = []
        rejected: list[str] = []
        results: list[str | None] = []
        for submitted, number in self.recipients:
            if number is None:
                rejected.append(submitted)
                results.append(INVALID_NUMBER_LINE)
            elif number in forced:
                rejected.append(submitted)
                results.append(f"ERR:{forced[number]}")
            else:
                routable.append(number)
                results.append(None)
        return tuple(routable), tuple(rejected), tuple(results)

    @classmethod
    def of(cls, entries: int, recipients: tuple[Recipient, ...]) -> Routing:
        shown = tuple(recipient.shown for recipient in recipients)
        routable = tuple(number for _, number in recipients if number is not None)
        return cls(entries, recipients, shown, routable)


class NumberPlan:
    """The scenario's number policy: validation strictness and unroutable ranges.

    Each entry's verdict in each region is remembered, and so is each whole `to` field's
    routing: a test suite sends the same numbers again and again, and then a send of 100
    recipients costs one dictionary look-up for them instead of a hundred.
    """

    def __init__(self, numbers: Numbers) -> None:
        self._strict = numbers.validation == "strict"
        patterns = "|".join(fnmatch.translate(glob) for glob in numbers.unroutable)
        self._unroutable = re.compile(patterns) if patterns else None
        self._verdicts: dict[str, dict[str, Recipient]] = {}
        """Region -> entry -> its verdict."""
        self._judged = 0
        self._routings: dict[tuple[str, str], Routing] = {}
        self._routing_chars = 0

    def judge(self, entry: str, region: str) -> str | None:
        """The normalised number for `entry`, or None when it cannot be routed."""
        return self._recipient(entry, region).number

    def _recipient(self, entry: str, region: str) -> Recipient:
        in_region = self._verdicts.get(region)
        if in_region is None:
            in_region = self._verdicts[region] = {}
        recipient = in_region.get(entry)
        if recipient is not None:
            return recipient
        number = normalise(entry, region, self._strict)
        if number is not None and self._unroutable and self._unroutable.match(number):
            number = None
        if self._judged >= PLAN_CACHE_SIZE:
            self._verdicts.clear()
            self._judged = 0
            in_region = self._verdicts[region] = {}
        recipient = in_region[entry] = Recipient(entry, number)
        self._judged += 1
        return recipient

    def routing(self, to: str, region: str, limit: int) -> Routing:
        """The entries of a `to` field judged in `region` and de-duplicated after normalising
        (first occurrence kept); none are judged when there are more than `limit`."""
        key = (to, region)
        known = self._routings.get(key)
        if known is not None:
            return known
        entries = split_recipients(to)
        if len(entries) > limit:
            return Routing.of(len(entries), ())
        routing = Routing.of(len(entries), tuple(self.recipients(entries, region)))
        if self._routing_chars + len(to) > ROUTING_CHARS_KEPT:
            self._routings.clear()
            self._routing_chars = 0
        self._routings[key] = routing
        self._routing_chars += len(to)
        return routing

    def recipients(self, entries: list[str], region: str) -> list[Recipient]:
        """Judge each entry and drop duplicates after normalising; first occurrence kept."""
        seen: set[str] = set()
        result: list[Recipient] = []
        for entry in entries:
            recipient = self._recipient(entry, region)
            number = recipient.number
            key = number if number is not None else "\0" + entry
            if key not in seen:
                seen.add(key)
                result.append(recipient)
        return result
