"""Query-string filters of the control API, parsed and checked straight into the query model of
each listed resource (`domain/queries.py`): a value that cannot be used, however long or odd, is
a 400 naming its parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from gateway_sim.control.views_records import ATTEMPT_OUTCOMES
from gateway_sim.domain.numbers import is_digits, normalise
from gateway_sim.domain.queries import AttemptQuery, ExchangeQuery, MessageQuery
from gateway_sim.domain.records import KIND_TYPES, KINDS, OUTCOMES

MAX_LIMIT = 1000
MAX_SEQ = 2**63 - 1


class BadFilter(ValueError):
    """A filter value that cannot be used; answered with 400 and this message."""


def message_query(params: Mapping[str, str], region: str) -> MessageQuery:
    """The filters of `/_sim/messages` and `/_sim/messages/wait` (checked in this order; the
    other lists check them too)."""
    return MessageQuery(
        to=_recipient(params.get("to"), region),
        sender=params.get("from") or None,
        account=params.get("account") or None,
        type=_message_type(params.get("type")),
        text=params.get("text") or None,
        since=_since(params.get("since")),
        limit=_integer(params, "limit", 100, 1, MAX_LIMIT),
        cursor=_cursor(params.get("cursor")),
    )


def exchange_query(params: Mapping[str, str], region: str) -> ExchangeQuery:
    """The filters of `/_sim/requests`: a message's (`to` as the request gave it), the
    outcome and the path."""
    shared = message_query(params, region)
    outcome = _one_of(params, "outcome", OUTCOMES)
    return ExchangeQuery(
        to=(params.get("to") or "").strip() or None,
        sender=shared.sender,
        account=shared.account,
        type=None if shared.type is None else str(shared.type),
        text=shared.text,
        since=shared.since,
        outcome=outcome,
        path=(params.get("path") or "").lower() or None,
        limit=shared.limit,
        cursor=shared.cursor,
    )


def attempt_query(params: Mapping[str, str], region: str) -> AttemptQuery:
    """The filters of `/_sim/callbacks`: the message, the outcome, and a message's filters
    (of which the account, the page size and the cursor apply)."""
    outcome = _one_of(params, "outcome", ATTEMPT_OUTCOMES)
    shared = message_query(params, region)
    return AttemptQuery(
        message_id=params.get("message_id") or None,
        account=shared.account,
        outcome=outcome,
        limit=shared.limit,
        cursor=shared.cursor,
    )


def _one_of(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in allowed:
        raise BadFilter(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def timeout_seconds(params: Mapping[str, str], default: float, most: float) -> float:
    raw = params.get("timeout")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadFilter(f"timeout must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= most:
        raise BadFilter(f"timeout must be from 0 to {most:g} seconds, not {raw!r}")
    return value


def _recipient(raw: str | None, region: str) -> str | None:
    """A recipient filter, normalised the way a send normalises it when it can be."""
    if not raw:
        return None
    entry = raw.strip()
    return normalise(entry, region, False) or entry.lstrip("+")


def _message_type(raw: str | None) -> int | None:
    if not raw:
        return None
    if raw in KIND_TYPES:
        return KIND_TYPES[raw]
    value = _whole_number(raw, max(KINDS))
    if value is not None and value in KINDS:
        return value
    allowed = ", ".join([*map(str, KINDS), *KIND_TYPES])
    raise BadFilter(f"type must be one of {allowed}, not {_shown(raw)}")


def _since(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):  # year 1 east of UTC is before the calendar starts
        raise BadFilter(
            f"since must be an ISO 8601 time such as 2026-01-02T03:04:05Z, not {_shown(raw)}"
        ) from None


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if not raw:
        return default
    value = _whole_number(raw, high)
    if value is None or value < low:
        raise BadFilter(f"{name} must be an integer from {low} to {high}, not {_shown(raw)}")
    return value


def _cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    value = _whole_number(raw, MAX_SEQ)
    if value is None:
        shown = _shown(raw)
        raise BadFilter(f"cursor must be a next_cursor value from an earlier page, not {shown}")
    return value


def _whole_number(raw: str, most: int) -> int | None:
    """ASCII digits of a number from 0 to `most`, else None. Their count is checked before
    `int`, which refuses more than 4,300 digits (a 500 it was, for `limit=` and 5,000 digits)."""
    if not is_digits(raw):
        return None
    significant = raw.lstrip("0")
    if len(significant) > len(str(most)):
        return None
    value = int(significant or "0")
    return value if value <= most else None


def _shown(raw: str) -> str:
    """A refused value as the answer quotes it: at most 40 characters of it."""
    return repr(raw) if len(raw) <= 40 else f"{raw[:40]!r}…"
