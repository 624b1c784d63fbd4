"""Automatic replies by rule: each recipient answers after a while, with a template or with a
seeded Faker sentence, forwarded like any inbound message."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.scenario import ScenarioError, parse_scenario
from tests.conftest import SEND, build_app
from tests.helpers_callbacks import Receiver, advance

LOGIN = {"username": "demo", "password": "demo"}


def scenario(url: str, reply: str) -> str:
    return (
        "version: 1\naccounts: [{username: demo, password: demo, credit: 10, "
        f"inbound_url: '{url}/in'}}]\n"
        f"rules: [{{name: echo, match: {{to: '4477009001*'}}, action: {{reply: {reply}}}}}]\n"
    )


def test_a_template_reply_arrives_after_its_delay_and_is_forwarded(receiver: Receiver) -> None:
    with TestClient(
        build_app(scenario(receiver.url, "{after_seconds: 3, text: 'Re: {text} ({id})'}"))
    ) as client:
        sent = client.post(
            SEND, data={**LOGIN, "to": "07700900123,07700900200", "text": "hi", "usercontext": "c1"}
        )
        assert sent.text.count("ID:") == 2
        advance(client, 2.9)
        assert client.get("/_sim/messages?from=447700900123").json()["messages"] == []
        advance(client, 0.1)
        (reply,) = client.get("/_sim/messages?from=447700900123").json()["messages"]
        assert reply["text"] == "Re: hi (10011000000000000001)"
        assert (reply["direction"], reply["reply_to"], reply["user_context"]) == (
            "inbound",
            "10011000000000000001",
            "c1",
        )
        assert client.get("/_sim/messages?from=447700900200").json()["messages"] == []  # rule's to
        assert [form["text"] for _, form in receiver.received] == ["Re: hi (10011000000000000001)"]


def faker_reply(url: str) -> str:
    with TestClient(build_app(scenario(url, "{after_seconds: 0}"))) as client:
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "hi"})
        advance(client, 0)
        (reply,) = client.get("/_sim/messages?from=447700900123").json()["messages"]
        text: str = reply["text"]
        return text


def test_faker_replies_are_seeded(receiver: Receiver) -> None:
    first, again = faker_reply(receiver.url), faker_reply(receiver.url)
    assert first == again
    assert len(first) > 5
    assert first.endswith(".")


def test_a_bad_template_is_refused_at_load() -> None:
    with pytest.raises(ScenarioError, match=r"rules\[0\]\.action\.reply\.text: use only"):
        parse_scenario(scenario("http://x", "{text: 'Hi {name}'}"), source="s.yaml")
