"""Delivery report pathologies on demand, per rule (a rule's `delivery`): a duplicated report,
reports out of order, a report that arrives before the send's answer, a report that never comes.
Against a real HTTP receiver, on the manual clock (and once on the real one)."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock, SystemClock
from gateway_sim.domain.scenario import ScenarioError, parse_scenario
from gateway_sim.server.app import create_app
from gateway_sim.store.store import open_store
from tests.conftest import SEND, START, build_app
from tests.helpers import LOGIN
from tests.helpers_callbacks import Receiver, advance, scenario

FIRST = "10011000000000000001"
ONE, TWO = "447700900123", "447700900124"
AT = "2026-01-02T03:04:{:02d}+00:00"  # START is 03:04:05; the default step is 1 s
BOTH = [f"{ONE},ID:{FIRST}", f"{TWO},ID:{FIRST}"]  # the answer to a send to ONE and TWO
SLOW = 0.3  # how long the slow receiver takes to answer each report


def rule(delivery: str) -> str:
    return f"rules: [{{name: odd, action: {{delivery: {delivery}}}}}]\n"


def report(status: int, to: str = ONE, msgid: str = FIRST) -> dict[str, str]:
    return {"msgid": msgid, "status": str(status), "toaddr": to}


def send(client: TestClient, to: str = "07700900123") -> str:
    answer = client.post(SEND, data={**LOGIN, "to": to, "text": "x", "delrpt": "1"})
    assert answer.status_code == 200
    return answer.text


def history(client: TestClient, msgid: str = FIRST) -> list[tuple[str, int, str]]:
    statuses = client.get(f"/_sim/messages/{msgid}").json()["statuses"]
    return [(s["to"], s["status"], s["at"]) for s in statuses]


def attempts(client: TestClient) -> list[tuple[int, int, str, int | None, str, dict[str, str]]]:
    """(callback, attempt, at, status, outcome, fields), oldest first."""
    shown = client.get("/_sim/callbacks").json()["callbacks"]
    return [
        (a["callback"], a["attempt"], a["at"], a["status"], a["outcome"], a["fields"])
        for a in reversed(shown)
    ]


def slow(receiver: Receiver) -> Receiver:
    """Make the receiver take SLOW seconds before it takes in (and answers) each report."""
    base: type[BaseHTTPRequestHandler] = receiver.server.RequestHandlerClass  # type: ignore[assignment]

    class Slow(base):  # type: ignore[valid-type, misc]
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            time.sleep(SLOW)
            super().do_POST()

    receiver.server.RequestHandlerClass = Slow
    return receiver


def wait_for(receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.01)


# -- duplicate ----------------------------------------------------------------------------------


def test_duplicate_posts_the_final_report_twice(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url, rule("{duplicate: true}")))) as client:
        assert send(client) == f"ID:{FIRST}"
        assert advance(client, 3)["fired"] == 3 + 3  # each report posts once
        assert [form for _, form in receiver.received] == [report(2), report(3), report(4)]
        assert advance(client, 1)["fired"] == 1 + 1
        assert advance(client, 600)["fired"] == 0
        assert [path for path, _ in receiver.received] == ["/status"] * 4
        assert [form for _, form in receiver.received] == [
            report(2),
            report(3),
            report(4),
            report(4),
        ]
        assert history(client) == [
            (ONE, 2, AT.format(6)),
            (ONE, 3, AT.format(7)),
            (ONE, 4, AT.format(8)),
            (ONE, 4, AT.format(9)),
        ]
        # two callbacks, not one retried: each is delivered (and would be retried) on its own
        assert attempts(client) == [
            (1, 1, AT.format(6), 200, "delivered", report(2)),
            (2, 1, AT.format(7), 200, "delivered", report(3)),
            (3, 1, AT.format(8), 200, "delivered", report(4)),
            (4, 1, AT.format(9), 200, "delivered", report(4)),
        ]
        assert client.get(f"/_sim/messages/{FIRST}").json()["delivery"] == {
            "final": 4,
            "steps": [2, 3],
            "delay_seconds": None,
            "never": False,
            "duplicate": True,
        }


# -- out of order -------------------------------------------------------------------------------


def test_out_of_order_posts_the_final_report_first(receiver: Receiver) -> None:
    rules = rule("{out_of_order: true}")
    with TestClient(build_app(scenario(receiver.url, rules))) as client:
        assert send(client, "07700900123,07700900124").splitlines() == BOTH
        advance(client, 1)
        assert [form for _, form in receiver.received] == [report(4, ONE), report(4, TWO)]
        advance(client, 9)
        assert [form for _, form in receiver.received] == [
            report(4, ONE),
            report(4, TWO),
            report(3, ONE),
            report(3, TWO),
            report(2, ONE),
            report(2, TWO),
        ]
        # the history keeps the order the reports were posted in, not 2 -> 3 -> 4
        assert history(client) == [
            (ONE, 4, AT.format(6)),
            (TWO, 4, AT.format(6)),
            (ONE, 3, AT.format(7)),
            (TWO, 3, AT.format(7)),
            (ONE, 2, AT.format(8)),
            (TWO, 2, AT.format(8)),
        ]


def test_out_of_order_keeps_the_rules_final_steps_and_delay(receiver: Receiver) -> None:
    rules = rule("{out_of_order: true, final: 6, steps: [2], delay_seconds: 5}")
    with TestClient(build_app(scenario(receiver.url, rules))) as client:
        send(client)
        advance(client, 4)
        assert receiver.received == []
        advance(client, 1)
        assert [form for _, form in receiver.received] == [report(6)]
        advance(client, 5)
        assert [form for _, form in receiver.received] == [report(6), report(2)]
        assert history(client) == [(ONE, 6, AT.format(10)), (ONE, 2, AT.format(15))]


# -- before the answer --------------------------------------------------------------------------


def test_before_answer_reports_arrive_before_the_send_answer(receiver: Receiver) -> None:
    slow(receiver)
    app = build_app(scenario(receiver.url, rule("{before_answer: true}")))
    with TestClient(app) as client:
        started = time.monotonic()
        answer = send(client, "07700900123,07700900124")
        took = time.monotonic() - started
        # when the answer comes, both first reports are in, one after the other, delivered
        arrived = [form for _, form in receiver.received]
        assert arrived == [report(2, ONE), report(2, TWO)]
        assert took >= 2 * SLOW
        assert answer.splitlines() == BOTH
        assert attempts(client) == [
            (1, 1, AT.format(5), 200, "delivered", report(2, ONE)),
            (2, 1, AT.format(5), 200, "delivered", report(2, TWO)),
        ]
        assert history(client) == [(ONE, 2, AT.format(5)), (TWO, 2, AT.format(5))]
        # the others follow a step apart, counted from the send
        assert advance(client, 1)["fired"] == 2 + 2
        wait_for(receiver, 4)
        assert advance(client, 1)["fired"] == 2 + 2
        assert advance(client, 600)["fired"] == 0
        assert [form for _, form in receiver.received] == [
            report(2, ONE),
            report(2, TWO),
            report(3, ONE),
            report(3, TWO),
            report(4, ONE),
            report(4, TWO),
        ]
        assert [(to, status, at) for to, status, at in history(client)][2:] == [
            (ONE, 3, AT.format(6)),
            (TWO, 3, AT.format(6)),
            (ONE, 4, AT.format(7)),
            (TWO, 4, AT.format(7)),
        ]
        (exchange,) = client.get("/_sim/requests").json()["requests"]
        assert (exchange["message_id"], exchange["rule"]) == (FIRST, "odd")


def test_a_failed_early_report_does_not_hold_the_answer_and_is_retried(
    receiver: Receiver,
) -> None:
    receiver.statuses = [500]
    app = build_app(scenario(receiver.url, rule("{before_answer: true, steps: []}")))
    with TestClient(app) as client:
        assert send(client) == f"ID:{FIRST}"
        assert [form for _, form in receiver.received] == [report(4)]
        assert attempts(client) == [(1, 1, AT.format(5), 500, "retrying", report(4))]
        advance(client, 59)
        assert len(receiver.received) == 1
        advance(client, 1)  # the account retries every 60 s
        assert [form for _, form in receiver.received] == [report(4), report(4)]
        assert attempts(client)[1] == (
            1,
            2,
            "2026-01-02T03:05:05+00:00",
            200,
            "delivered",
            report(4),
        )


def test_all_pathologies_together(receiver: Receiver) -> None:
    rules = rule("{before_answer: true, out_of_order: true, duplicate: true, final: 6}")
    app = build_app(scenario(receiver.url, rules))
    with TestClient(app) as client:
        send(client)
        assert [form for _, form in receiver.received] == [report(6)]
        advance(client, 10)
        assert [form for _, form in receiver.received] == [
            report(6),
            report(6),
            report(3),
            report(2),
        ]
        assert history(client) == [
            (ONE, 6, AT.format(5)),
            (ONE, 6, AT.format(6)),
            (ONE, 3, AT.format(7)),
            (ONE, 2, AT.format(8)),
        ]


def test_before_answer_on_the_real_clock(receiver: Receiver) -> None:
    text = scenario(receiver.url, rule("{before_answer: true}")).replace(
        "version: 1\n", "version: 1\nsettings: {report_step_seconds: 0.5}\n"
    )
    app = create_app(parse_scenario(text), clock=SystemClock())
    with TestClient(app) as client:
        send(client)
        assert [form for _, form in receiver.received] == [report(2)]
        wait_for(receiver, 3)
        assert [form for _, form in receiver.received] == [report(2), report(3), report(4)]


def test_before_answer_outside_a_request_goes_first_on_the_scheduler(receiver: Receiver) -> None:
    """The gateway used directly (no event loop running): the first report is simply due now."""
    app = build_app(scenario(receiver.url, rule("{before_answer: true}")))
    with TestClient(app) as client:
        fields = {**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"}
        app.gateway.submit(
            fields, decision=app.gateway.decide(SEND, fields, app.gateway.account_named(fields))
        )
        assert receiver.received == []
        assert advance(client, 0)["fired"] == 1
        assert [form for _, form in receiver.received] == [report(2)]
        advance(client, 2)
        assert [form for _, form in receiver.received] == [report(2), report(3), report(4)]


def test_before_answer_holds_the_answer_of_the_app_itself(receiver: Receiver) -> None:
    slow(receiver)
    with TestClient(build_app(scenario(receiver.url, rule("{before_answer: true}")))) as client:
        send(client)
        arrived = [form for _, form in receiver.received]
        wait_for(receiver, 1)  # let the report finish either way
        assert arrived == [report(2)]


@pytest.mark.parametrize("db", [False, True], ids=["in memory", "database file"])
@pytest.mark.parametrize(
    "also", ["", ", latency_ms: 20", ", fault: dribble, dribble_ms: 1", ", fault: truncate"]
)
def test_every_way_a_send_is_answered_waits_for_its_before_answer_report(
    receiver: Receiver, tmp_path: Path, also: str, db: bool
) -> None:
    """At once, after a rule's latency or a commit (`Delayed`), or slowly or cut short (a
    rule's `Fault`): the send's answer starts only once its first report is posted."""
    slow(receiver)
    rules = f"rules: [{{name: odd, action: {{delivery: {{before_answer: true}}{also}}}}}]\n"
    store = open_store(str(tmp_path / "sim.db")) if db else None
    app = create_app(
        parse_scenario(scenario(receiver.url, rules)), clock=ManualClock(START), store=store
    )
    with TestClient(app) as client:
        answer = client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        arrived = [form for _, form in receiver.received]
        assert answer.status_code == 200
        assert arrived == [report(2)]


# -- never, and what a rule may say -------------------------------------------------------------


def test_never_sends_no_report_at_all(receiver: Receiver) -> None:
    with TestClient(build_app(scenario(receiver.url, rule("{never: true}")))) as client:
        assert send(client) == f"ID:{FIRST}"
        assert client.get("/_sim/clock").json()["pending"] == 0
        assert advance(client, 3600)["fired"] == 0
        assert receiver.received == []
        assert history(client) == []
        assert attempts(client) == []


@pytest.mark.parametrize(
    ("delivery", "problem"),
    [
        (
            "{never: true, duplicate: true}",
            "rules[0].action.delivery: never sends no report, so it does not go with duplicate",
        ),
        (
            "{never: true, out_of_order: true, before_answer: true}",
            "rules[0].action.delivery: never sends no report, "
            "so it does not go with out_of_order, before_answer",
        ),
        (
            "{duplicated: true}",
            "rules[0].action.delivery.duplicated: unknown key; allowed keys: "
            "final, steps, delay_seconds, never, duplicate, out_of_order, before_answer",
        ),
        (
            "{before_answer: maybe}",
            "rules[0].action.delivery.before_answer: Input should be a valid boolean, "
            "unable to interpret input (got 'maybe')",
        ),
    ],
)
def test_bad_pathologies_are_refused(delivery: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(scenario("http://127.0.0.1:9", rule(delivery)))
    assert str(refused.value) == f"<scenario>: {problem}"


def test_rules_show_only_the_pathologies_that_are_on(receiver: Receiver) -> None:
    rules = rule("{out_of_order: true, before_answer: false}")
    with TestClient(build_app(scenario(receiver.url, rules))) as client:
        (shown,) = client.get("/_sim/rules").json()["rules"]
        assert shown["action"] == {
            "delivery": {"final": 4, "steps": [2, 3], "never": False, "out_of_order": True},
            "dribble_ms": 100,
        }
