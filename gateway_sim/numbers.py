"""Recipient numbers (PROTOCOL.md section 8): split, normalise, validate and de-duplicate.

Parsing goes through Google's libphonenumber data (the `phonenumbers` package) and is cached, so
a number that a test suite sends a thousand times is parsed once.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

from gateway_sim.scenario import Numbers

_PUNCTUATION = str.maketrans("", "", " -.()")


class Recipient(NamedTuple):
    """One entry of `to`: as submitted (trimmed) and, when routable, normalised."""

    submitted: str
    number: str | None

    @property
    def valid(self) -> bool:
        return self.number is not None

    @property
    def shown(self) -> str:
        """How the recipient is listed in a multi-line answer."""
        return self.number if self.number is not None else self.submitted


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


class NumberPlan:
    """The scenario's number policy: validation strictness and unroutable ranges.

    Each (entry, region) verdict is remembered, so a number a test suite sends again and again
    costs one dictionary look-up.
    """

    def __init__(self, numbers: Numbers) -> None:
        self._strict = numbers.validation == "strict"
        patterns = "|".join(fnmatch.translate(glob) for glob in numbers.unroutable)
        self._unroutable = re.compile(patterns) if patterns else None
        self._verdicts: dict[tuple[str, str], str | None] = {}

    def judge(self, entry: str, region: str) -> str | None:
        """The normalised number for `entry`, or None when it cannot be routed."""
        key = (entry, region)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        number = normalise(entry, region, self._strict)
        if number is not None and self._unroutable and self._unroutable.match(number):
            number = None
        if len(self._verdicts) >= PLAN_CACHE_SIZE:
            self._verdicts.clear()
        self._verdicts[key] = number
        return number

    def recipients(self, entries: list[str], region: str) -> list[Recipient]:
        """Judge each entry and drop duplicates after normalising; first occurrence kept."""
        seen: set[str] = set()
        result: list[Recipient] = []
        verdicts = self._verdicts
        for entry in entries:
            number = verdicts.get((entry, region), "")  # "" is never a verdict: not judged yet
            if number == "":
                number = self.judge(entry, region)
            key = number if number is not None else "\0" + entry
            if key not in seen:
                seen.add(key)
                result.append(Recipient(entry, number))
        return result
