"""Injected behaviour: ordered rules (match -> action, their models in rule_schema.py) that make
the gateway fail, slow down or misbehave on purpose, reproducibly. The first matching rule wins;
`times` retires a rule after N firings and a `sequence` applies its actions in turn.
Probabilities and latencies are drawn from each rule's own seeded RNG, so the same scenario and
seed give the same faults.
"""

from __future__ import annotations

import fnmatch
import math
import random
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gateway_sim.domain.patterns import TextPattern
from gateway_sim.domain.records import KIND_TYPES, DeliveryPlan, ReplyPlan
from gateway_sim.domain.rule_schema import (
    ENDPOINT_ALIASES,
    RATE_WINDOW,
    Action,
    LogNormalLatency,
    Match,
    RateLimit,
    Rule,
    UniformLatency,
)

PRUNE_AT = 1024


@dataclass(frozen=True, slots=True)
class Facts:
    """What rules can match on, taken from one request."""

    path: str
    account: str
    type: int | None
    sender: str
    text: str
    recipients: Callable[[], tuple[str, ...]]
    now: datetime
    host: str = ""
    """The Host header as the client sent it."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A fired rule: its name, the action to apply, the latency drawn, matched recipients."""

    rule: str
    action: Action
    latency: float
    recipients: frozenset[str] = frozenset()


class SharedCounters(Protocol):
    """Rule counters that replicas share (a database's), so that a `times: 3` rule fires 3
    times in all, and `nth`, `sequence` and `rate` count every replica's requests."""

    def matched(self, rule: str) -> int:
        """Count a match of `rule`; how many it has had, this one included."""
        ...

    def fire(self, rule: str, most: int | None) -> int | None:
        """Count a firing of `rule` if it has fired fewer than `most` times (any number when
        None); its number from 0, or None when it has fired `most` times already."""
        ...

    def over_rate(self, rule: str, key: str, now: datetime, window: float, most: float) -> bool:
        """Count a request of `key` at `now`; whether those within `window` seconds are more
        than `most`."""
        ...


@dataclass(slots=True)
class _Live:
    """A rule at run time, with its counters and its own RNG."""

    spec: Rule
    rng: random.Random
    matched: int = 0
    fired: int = 0
    enabled: bool = True
    recent: dict[str, deque[datetime]] = field(default_factory=dict)
    """The times of each key's requests within the rate window (a `rate` rule's)."""
    prune_at: int = PRUNE_AT
    """How many keys `recent` may hold before those idle for a window are forgotten: doubled
    past what stays, so the pruning costs O(1) a request however many senders a client makes
    up."""
    text: TextPattern | None = None

    @property
    def most(self) -> int | None:
        """How many times the rule may fire (`times`, or its sequence's length)."""
        if self.spec.sequence is not None:
            return min(len(self.spec.sequence), self.spec.times or len(self.spec.sequence))
        return self.spec.times

    @property
    def retired(self) -> bool:
        most = self.most
        return most is not None and self.fired >= most


class RuleBook:
    """The ordered rules of a running scenario."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        seed: int,
        started: datetime,
        normalise_to: Callable[[str], str],
        shared: SharedCounters | None = None,
    ) -> None:
        self.seed = seed
        self.shared = shared
        """The replicas' counters, when they share a database; each rule's own otherwise."""
        self.started = started
        self._normalise_to = normalise_to
        self._patterns: dict[str, str] = {}
        self._holds_answers = False
        self._rules: list[_Live] = []
        self._by_name: dict[str, _Live] = {}  # a scenario of 10,000 rules loads in linear time
        for rule in rules:
            self.add(rule)

    def __len__(self) -> int:
        return len(self._rules)

    def add(self, rule: Rule) -> None:
        if rule.name in self._by_name:
            raise ValueError(f"a rule named {rule.name!r} exists already")
        seed = rule.match.seed if rule.match.seed is not None else self.seed
        rng = random.Random(seed * 1_000_003 + zlib.crc32(rule.name.encode()))
        live = _Live(rule, rng, text=rule.text_pattern)
        self._rules.append(live)
        self._by_name[rule.name] = live
        self._holds_answers = self._holds_answers or _holds_answer(rule)

    def remove(self, name: str) -> bool:
        gone = self._by_name.pop(name, None)
        if gone is None:
            return False
        self._rules = [live for live in self._rules if live is not gone]
        self._holds_answers = any(_holds_answer(live.spec) for live in self._rules)
        return True

    def enable(self, name: str, enabled: bool) -> bool:
        """Switch a rule on or off (an off rule is skipped, its counters kept); False when no
        rule has this name."""
        live = self._by_name.get(name)
        if live is None:
            return False
        live.enabled = enabled
        return True

    @property
    def holds_answers(self) -> bool:
        """Whether any rule may send a delivery report before the answer (so answers must be
        able to wait); false for most scenarios, which then skip that machinery."""
        return self._holds_answers

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                **live.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                "matched": live.matched,
                "fired": live.fired,
                "retired": live.retired,
                "enabled": live.enabled,
            }
            for live in self._rules
        ]

    def keys_held(self, name: str) -> int:
        """How many keys rule `name` holds recent times of (a `rate` rule's)."""
        live = self._by_name.get(name)
        return 0 if live is None else len(live.recent)

    def decide(self, facts: Facts) -> Decision | None:
        """The first live rule that matches `facts`, fired; None when no rule applies."""
        for live in self._rules:
            if live.retired or not live.enabled:
                continue
            recipients = self._matches(live, facts)
            if recipients is None:
                continue
            spec = live.spec
            if self.shared is None:
                n = live.fired
            else:
                found = self.shared.fire(spec.name, live.most)
                if found is None:  # it fired its last on another replica
                    live.fired = live.most or live.fired
                    continue
                n = found
            action = spec.sequence[n] if spec.sequence else spec.action
            assert action is not None
            live.fired = n + 1
            return Decision(
                spec.name, action, _draw_latency(action.latency_ms, live.rng), recipients
            )
        return None

    def _matches(self, live: _Live, facts: Facts) -> frozenset[str] | None:
        """None when the rule does not match; else the recipients it matched (maybe empty)."""
        match = live.spec.match
        if not _static_match(match, facts, live.text):
            return None
        matched: frozenset[str] = frozenset()
        if match.to is not None:
            matched = _matching_numbers(self._pattern(match.to), facts.recipients())
            if not matched:
                return None
        if not self._in_window(match, facts.now):
            return None
        if match.rate is not None and not self._over_rate(live, match.rate, facts):
            return None
        live.matched = (
            live.matched + 1 if self.shared is None else self.shared.matched(live.spec.name)
        )
        if match.nth is not None and live.matched != match.nth:
            return None
        if match.probability is not None and live.rng.random() >= match.probability:
            return None
        return matched

    def _over_rate(self, live: _Live, rate: RateLimit, facts: Facts) -> bool:
        key = facts.account.casefold() if rate.per == "account" else facts.sender
        if self.shared is None:
            return _over_rate(live, rate, facts, key)
        most = rate.per_second * RATE_WINDOW
        return self.shared.over_rate(live.spec.name, key, facts.now, RATE_WINDOW, most)

    def _pattern(self, raw: str) -> str:
        """A `to` pattern on normalised numbers: exact or glob; a national number is normalised."""
        found = self._patterns.get(raw)
        if found is None:
            bare = raw.strip()
            found = bare if any(c in bare for c in "*?[") else self._normalise_to(bare)
            self._patterns[raw] = found
        return found

    def _in_window(self, match: Match, now: datetime) -> bool:
        if match.after is None and match.for_ is None:
            return True
        elapsed = (now - self.started).total_seconds()
        start = match.after or 0.0
        if elapsed < start:
            return False
        return match.for_ is None or elapsed < start + match.for_


def _holds_answer(rule: Rule) -> bool:
    actions = rule.sequence or ([rule.action] if rule.action else [])
    return any(a.delivery is not None and a.delivery.before_answer for a in actions)


def _static_match(match: Match, facts: Facts, text: TextPattern | None) -> bool:
    if match.account is not None and not fnmatch.fnmatch(
        facts.account.casefold(), match.account.casefold()
    ):
        return False
    if match.endpoint is not None and not _endpoint_matches(match.endpoint, facts.path):
        return False
    if match.host is not None and not fnmatch.fnmatchcase(
        facts.host.casefold(), match.host.casefold()
    ):
        return False
    if match.type is not None:
        wanted = KIND_TYPES[match.type] if isinstance(match.type, str) else match.type
        if facts.type != wanted:
            return False
    if match.sender is not None and not fnmatch.fnmatchcase(facts.sender, match.sender):
        return False
    return text is None or text.found_in(facts.text)


def _endpoint_matches(pattern: str, path: str) -> bool:
    aliases = ENDPOINT_ALIASES.get(pattern.lower())
    if aliases is not None:
        return path in aliases
    return fnmatch.fnmatchcase(path, pattern.lower())


def _matching_numbers(pattern: str, recipients: tuple[str, ...]) -> frozenset[str]:
    if any(c in pattern for c in "*?["):
        return frozenset(number for number in recipients if fnmatch.fnmatchcase(number, pattern))
    return frozenset(number for number in recipients if number == pattern)


def _over_rate(live: _Live, rate: RateLimit, facts: Facts, key: str) -> bool:
    times = live.recent.setdefault(key, deque())
    while times and (facts.now - times[0]).total_seconds() >= RATE_WINDOW:
        times.popleft()
    times.append(facts.now)
    if len(live.recent) > live.prune_at:  # a key not seen again would stay: forget old ones
        live.recent = {
            k: seen
            for k, seen in live.recent.items()
            if (facts.now - seen[-1]).total_seconds() < RATE_WINDOW
        }
        live.prune_at = max(PRUNE_AT, 2 * len(live.recent))
    return len(times) > rate.per_second * RATE_WINDOW


def _draw_latency(
    latency: float | UniformLatency | LogNormalLatency | None, rng: random.Random
) -> float:
    """Seconds to wait before answering."""
    if latency is None:
        return 0.0
    if isinstance(latency, UniformLatency):
        return rng.uniform(latency.min, latency.max) / 1000
    if isinstance(latency, LogNormalLatency):
        return rng.lognormvariate(math.log(latency.median), latency.sigma) / 1000
    return latency / 1000


def reply_plan(decision: Decision | None) -> ReplyPlan | None:
    """The rule's reply plan; with the recipients its `to` matched, when it has a `to`."""
    if decision is None or decision.action.reply is None:
        return None
    reply = decision.action.reply
    only = tuple(sorted(decision.recipients)) if decision.recipients else None
    return ReplyPlan(reply.after_seconds, reply.text, only)


def delivery_plan(decision: Decision | None) -> DeliveryPlan | None:
    """The rule's delivery plan, recorded with the message for the delivery reports."""
    if decision is None or decision.action.delivery is None:
        return None
    d = decision.action.delivery
    return DeliveryPlan(
        d.final, d.steps, d.delay_seconds, d.never, d.duplicate, d.out_of_order, d.before_answer
    )
