"""`GET /metrics` in the Prometheus text format, at next to no cost per request.

Nothing is counted on the request path: the store hands what it was given (every 20 ms) to
`Tally.observe`, which adds the batch up in plain integers: requests by endpoint and outcome,
their latency into histogram buckets, messages by kind and direction, callback attempts by
outcome. A prometheus_client collector turns the tallies into metric families when scraped, and
reads what is current then: credit per account and the callbacks still pending.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from gateway_sim.domain.records import Attempt, Exchange, Message, Record

if TYPE_CHECKING:
    from gateway_sim.domain.gateway import Gateway
    from gateway_sim.effects.callbacks import CallbackQueue
    from gateway_sim.store.repository import Repository

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Request latency bucket bounds, in seconds (a simple send answers in well under 1 ms)."""


class Tally:
    """Counts of what the store wrote, added up batch by batch."""

    def __init__(self, buckets: Sequence[float] = BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.requests: Counter[tuple[str, str]] = Counter()
        self.messages: Counter[tuple[str, str]] = Counter()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.latency_counts = [0] * (len(self.buckets) + 1)  # the last one: above every bound
        self.latency_sum = 0.0

    def observe(self, records: Sequence[Record]) -> None:
        """Add up what the store was handed since the last batch (a store observer)."""
        requests, counts, buckets = self.requests, self.latency_counts, self.buckets
        for record in records:
            if isinstance(record, Exchange):
                requests[record.path.lower(), record.outcome] += 1
                counts[bisect.bisect_left(buckets, record.seconds)] += 1
                self.latency_sum += record.seconds
            elif isinstance(record, Message):
                self.messages[record.kind, record.direction] += 1
            elif isinstance(record, Attempt):
                self.attempts[record.kind, record.outcome] += 1


class SimulatorCollector(Collector):
    """The simulator's metrics, made when scraped."""

    def __init__(
        self, gateway: Gateway, store: Repository, callbacks: CallbackQueue, tally: Tally
    ) -> None:
        self.gateway, self.store, self.callbacks = gateway, store, callbacks
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        self.store.flush()  # count what was answered before the scrape
        tally = self.tally
        yield _counter(
            "gateway_sim_requests",
            "Requests to the emulated gateway paths, by endpoint and outcome.",
            ["endpoint", "outcome"],
            tally.requests.items(),
        )
        yield _counter(
            "gateway_sim_messages",
            "Messages kept, by kind and direction (outbound sends, inbound from handsets).",
            ["kind", "direction"],
            tally.messages.items(),
        )
        yield _counter(
            "gateway_sim_callback_attempts",
            "Callback attempts, by kind (status, inbound, mms) and outcome.",
            ["kind", "outcome"],
            tally.attempts.items(),
        )
        yield _counter(
            "gateway_sim_callbacks_failed",
            "Callbacks given up on (no HTTP 200 before they grew too old), by kind.",
            ["kind"],
            [((kind,), n) for (kind, outcome), n in tally.attempts.items() if outcome == "failed"],
        )
        pending = GaugeMetricFamily(
            "gateway_sim_callbacks_pending", "Callbacks waiting for their next attempt."
        )
        pending.add_metric([], self.callbacks.pending)
        yield pending
        credit = GaugeMetricFamily(
            "gateway_sim_account_credit", "Credit left, per account.", labels=["account"]
        )
        for account in self.gateway.accounts:
            credit.add_metric([account.username], float(account.credit))
        yield credit
        yield _histogram(
            "gateway_sim_request_duration_seconds",
            "Time from a request's start to its answer sent, on the emulated gateway paths.",
            tally,
        )


def registry_for(
    gateway: Gateway, store: Repository, callbacks: CallbackQueue, tally: Tally
) -> CollectorRegistry:
    """A registry of this simulator's own (tests run many in one process), with the process's
    CPU, memory and open files."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SimulatorCollector(gateway, store, callbacks, tally))
    ProcessCollector(registry=registry)
    return registry


def endpoint(registry: CollectorRegistry) -> Callable[[Request], Awaitable[Response]]:
    """The `/metrics` route's endpoint for `registry`."""

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


def _counter(
    name: str, documentation: str, labels: list[str], counts: Iterable[tuple[tuple[str, ...], int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, count in sorted(counts):
        family.add_metric(list(values), count)
    return family


def _histogram(name: str, documentation: str, tally: Tally) -> HistogramMetricFamily:
    cumulative, total = [], 0
    for bound, count in zip([*tally.buckets, float("inf")], tally.latency_counts, strict=True):
        total += count
        cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], cumulative, sum_value=tally.latency_sum)
    return family
