"""A `rate` rule keeps the recent times of each key (account or sender) it counts: keys that a
client makes up and never sends again are forgotten, so the rule's memory stays bounded however
many senders go by."""

from __future__ import annotations

from datetime import timedelta

from gateway_sim.domain.rule_schema import Rule
from gateway_sim.domain.rules import PRUNE_AT, Facts, RuleBook
from tests.conftest import SEND, START


def facts(sender: str, seconds: float) -> Facts:
    return Facts(
        path=SEND,
        account="demo",
        type=1,
        sender=sender,
        text="hi",
        recipients=lambda: ("447700900123",),
        now=START + timedelta(seconds=seconds),
    )


def book(per_second: float) -> RuleBook:
    rule = Rule.model_validate(
        {
            "name": "busy",
            "match": {"rate": {"per_second": per_second, "per": "sender"}},
            "action": {"error": "GATEWAY_ERROR"},
        }
    )
    return RuleBook([rule], seed=1, started=START, normalise_to=lambda entry: entry)


def test_senders_never_seen_again_are_forgotten() -> None:
    rules = book(per_second=5)
    for n in range(20_000):  # a new sender every 10 ms: 100 within any one-second window
        assert rules.decide(facts(f"sender-{n}", n / 100)) is None
    held = rules.keys_held("busy")
    assert held <= 2 * PRUNE_AT  # without the pruning: 20,000


def test_a_sender_over_its_rate_still_fires_after_a_pruning() -> None:
    rules = book(per_second=2)
    for n in range(3 * PRUNE_AT):
        rules.decide(facts(f"passer-{n}", n / 1000))
    seconds = 3 * PRUNE_AT / 1000
    fired = [rules.decide(facts("busy-one", seconds + n / 100)) for n in range(4)]
    assert [decision is not None for decision in fired] == [False, False, True, True]
