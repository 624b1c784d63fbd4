"""The rules that replicas on one PostgreSQL database share: the rules in force (a `rules` row
each, in the order they were added, with whether each is on) and their counters (`rule_counters`,
`rule_rates`), so that a `times: 3` rule fires exactly 3 times across all replicas, an `nth`
counts every replica's matches and a `rate` every replica's requests.

Each counter is one statement that counts and answers at once (`INSERT … ON CONFLICT DO UPDATE
… RETURNING`), so two replicas can never both take a rule's last firing. A rule's seeded
probability and latency draws stay each replica's own (README: replicas on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from gateway_sim.store.rows import micros

Reached = AbstractContextManager[psycopg.Connection[Any]]
"""The store's connection, held for a statement or a transaction (`SharedState.reached`)."""
MATCHED = (
    "INSERT INTO rule_counters VALUES (%s, 1, 0) ON CONFLICT (rule) DO UPDATE "
    "SET matched = rule_counters.matched + 1 RETURNING matched"
)
FIRED = (
    "INSERT INTO rule_counters VALUES (%(rule)s, 0, 1) ON CONFLICT (rule) DO UPDATE "
    "SET fired = rule_counters.fired + 1 "
    "WHERE %(most)s::bigint IS NULL OR rule_counters.fired < %(most)s::bigint RETURNING fired"
)


class RuleCounters:
    """`rules.SharedCounters` on a PostgreSQL connection (the store's, under its lock)."""

    def __init__(
        self, reached: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
    ) -> None:
        self.reached = reached

    def matched(self, rule: str) -> int:
        with self.reached() as db:
            row = db.execute(MATCHED, (rule,)).fetchone()
        return int(row[0]) if row else 0

    def fire(self, rule: str, most: int | None) -> int | None:
        with self.reached() as db:
            row = db.execute(FIRED, {"rule": rule, "most": most}).fetchone()
        return None if row is None else int(row[0]) - 1

    def over_rate(self, rule: str, key: str, now: datetime, window: float, most: float) -> bool:
        at = micros(now)
        since = at - int(window * 1_000_000)
        with self.reached() as db, db.transaction():
            # every key's old times, not only this one's: a key never seen again would stay
            db.execute("DELETE FROM rule_rates WHERE rule = %s AND at_us <= %s", (rule, since))
            db.execute("INSERT INTO rule_rates VALUES (%s, %s, %s)", (rule, key, at))
            row = db.execute(
                "SELECT COUNT(*) FROM rule_rates WHERE rule = %s AND key = %s", (rule, key)
            ).fetchone()
        return bool(row and row[0] > most)


def replace_rules(db: psycopg.Connection[Any], scenario: str) -> None:
    """Inside a start-over's transaction: the scenario's rules in force, all on, their counters
    from zero."""
    db.execute("TRUNCATE rules, rule_counters, rule_rates")
    rules = json.loads(scenario).get("rules") or []
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO rules (name, spec, enabled) VALUES (%s, %s, true)",
            [(rule["name"], json.dumps(rule)) for rule in rules],
        )


def add_rule(db: psycopg.Connection[Any], name: str, spec: str) -> bool:
    """A rule added on this replica; False when another replica has one of that name."""
    row = db.execute(
        "INSERT INTO rules (name, spec, enabled) VALUES (%s, %s, true) "
        "ON CONFLICT (name) DO NOTHING RETURNING name",
        (name, spec),
    ).fetchone()
    if row is not None:  # a rule of an earlier life of that name counted for itself
        db.execute("DELETE FROM rule_counters WHERE rule = %s", (name,))
        db.execute("DELETE FROM rule_rates WHERE rule = %s", (name,))
    return row is not None


def remove_rule(db: psycopg.Connection[Any], name: str) -> None:
    for table, column in (("rules", "name"), ("rule_counters", "rule"), ("rule_rates", "rule")):
        db.execute(f"DELETE FROM {table} WHERE {column} = %s", (name,))


def switch_rule(db: psycopg.Connection[Any], name: str, enabled: bool) -> None:
    db.execute("UPDATE rules SET enabled = %s WHERE name = %s", (enabled, name))


def rules_in_force(db: psycopg.Connection[Any]) -> list[tuple[dict[str, Any], bool]]:
    """Every rule in force, in order, and whether it is on."""
    rows = db.execute("SELECT spec, enabled FROM rules ORDER BY position").fetchall()
    return [(json.loads(row[0]), bool(row[1])) for row in rows]
