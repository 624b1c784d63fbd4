"""Property-based tests (Hypothesis) of the control API's bodies over a real socket: every `/_sim`
endpoint that takes a body (rules, a rule's switch, the scenario, accounts, top-ups, the clock,
inbound in JSON and in multipart) meets random shapes of its input: wrong JSON kinds, lone
surrogates (as `\\udfff` escapes and as a surrogate's own bytes, which schemathesis never sends),
bytes of no charset, UTF-7. The oracle: any answer but a 500, within a timeout (no hang); a 4xx
is `{"error", "detail"}`; and the reads still answer afterwards (nothing was poisoned).

Each body starts well-formed and has one to three of its values replaced or dropped, so the
random part reaches past the first check. Runs are derandomised and capped at 50 examples an
endpoint, so the whole file takes seconds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer, build_app
from tests.test_properties import (
    HTTP,
    field_bytes,
    file_parts,
    odd_files,
    surrogate_text,
    wrong_json,
)

Start = Callable[..., LiveServer]
TIMEOUT = 10.0
"""Seconds an answer may take: past it the request hung, and the property fails."""
SOME = settings(HTTP, max_examples=50)
"""Derandomised, as test_properties.py's; 50 examples an endpoint."""
SCENARIO = """
version: 1
accounts:
  - {username: demo, password: demo, credit: 1000, default_sender: "447700900000"}
"""
DROPPED = object()
POISONED = object()
"""A value kept but for a lone surrogate added: the rest of the body stays valid, so the
surrogate gets past validation to where text is kept and shown."""
lone_surrogate = st.characters(categories=["Cs"])
Slot = tuple[str, ...]

RULE: dict[str, Any] = {
    "name": "r",
    "match": {"to": "447700900999", "from": "x", "type": 1, "nth": 2, "rate": {"per_second": 1}},
    "action": {"error": "GATEWAY_ERROR", "latency_ms": 10, "delivery": {"final": 5}},
}
RULE_SLOTS: list[Slot] = [
    ("name",),
    ("match",),
    ("match", "to"),
    ("match", "from"),
    ("match", "type"),
    ("match", "nth"),
    ("match", "text"),
    ("match", "rate"),
    ("match", "rate", "per_second"),
    ("action",),
    ("action", "error"),
    ("action", "fault"),
    ("action", "http_status"),
    ("action", "latency_ms"),
    ("action", "delivery"),
    ("action", "delivery", "final"),
    ("action", "reply"),
]
ACCOUNT: dict[str, Any] = {
    "password": "pw",
    "credit": "12.5",
    "default_sender": "447700900000",
    "default_country": "GB",
    "status_url": "http://127.0.0.1:9/status",
    "inbound_format": "json",
    "retry_seconds": 5,
    "report_all": True,
    "access_keys": [{"accesskey": "ak", "secretkey": "sk"}],
    "daily_allowance": 10,
}
ACCOUNT_SLOTS: list[Slot] = [*((key,) for key in ACCOUNT), ("access_keys", "0"), ("x",)]
INBOUND_SMS: dict[str, Any] = {
    "account": "demo",
    "from": "07700900555",
    "text": "hi",
    "to": "447700900000",
    "sent": "2026-01-02T03:04:05+00:00",
    "reply_to": "07700900556",
}
INBOUND_MMS: dict[str, Any] = {
    **INBOUND_SMS,
    "text": None,
    "subject": "s",
    "parts": [{"filename": "a.png", "content_type": "image/png", "data": "iVBORw0K"}],
}
INBOUND_SLOTS: list[Slot] = [
    *((key,) for key in INBOUND_MMS),
    ("parts", "0"),
    ("parts", "0", "filename"),
    ("parts", "0", "content_type"),
    ("parts", "0", "data"),
    ("networkcode",),
]
SCENARIO_JSON: dict[str, Any] = {
    "version": 1,
    "accounts": [{"username": "demo", "password": "demo", "credit": 1000}],
    "rules": [RULE],
    "settings": {"max_body_bytes": 100000},
}
SCENARIO_SLOTS: list[Slot] = [
    ("version",),
    ("accounts",),
    ("accounts", "0"),
    ("accounts", "0", "username"),
    ("accounts", "0", "credit"),
    ("rules",),
    ("rules", "0"),
    ("rules", "0", "action"),
    ("settings",),
    ("settings", "max_body_bytes"),
]


@st.composite
def shaped(draw: st.DrawFn, base: dict[str, Any], slots: list[Slot]) -> object:
    """`base` with one to three of its values (at `slots`) replaced by any JSON, given a lone
    surrogate (a text, or the first text of a list), or dropped."""
    body: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        *outer, last = draw(st.sampled_from(slots))
        place: Any = body
        for step in outer:
            place = _at(place, step)
        # a lone surrogate in a valid body is the likeliest to get past validation: drawn most
        value = draw(st.sampled_from([POISONED, POISONED, DROPPED, wrong_json]))
        if isinstance(value, st.SearchStrategy):
            value = draw(value)
        if value is POISONED:
            value = _poisoned(_at(place, last), draw(lone_surrogate))
        if isinstance(place, dict) and value is DROPPED:
            place.pop(last, None)
        elif isinstance(place, dict):
            place[last] = value
        elif isinstance(place, list) and last.isdigit() and int(last) < len(place):
            if value is DROPPED:
                del place[int(last)]
            else:
                place[int(last)] = value
    return body


def _at(place: Any, step: str) -> Any:
    """What `place` holds at `step` (a key, or a list's index), or None."""
    if isinstance(place, list) and step.isdigit() and int(step) < len(place):
        return place[int(step)]
    return place.get(step) if isinstance(place, dict) else None


def _poisoned(value: object, surrogate: str) -> object:
    if isinstance(value, str):
        return value[:1] + surrogate + value[1:]
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [_poisoned(value[0], surrogate), *value[1:]]
    return surrogate


def _encoded(body: object, escaped: bool) -> bytes:
    """JSON with a lone surrogate as its `\\udfff` escape, or (unescaped) as its own bytes."""
    return json.dumps(body, ensure_ascii=escaped).encode("utf-8", errors="surrogatepass")


def _segment(text: str) -> str:
    """A path segment for `text`, lone surrogates as their own (invalid UTF-8) bytes."""
    return quote_from_bytes(text.encode("utf-8", errors="surrogatepass"), safe="") or "x"


@pytest.fixture
def http(live_server: Start) -> Iterator[httpx.Client]:
    """A real server (its clock manual, so the clock can be advanced), and a client of it whose
    every request must be answered within TIMEOUT."""
    server = live_server(build_app(SCENARIO))
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        yield client


def _answered(http: httpx.Client, answer: httpx.Response) -> None:
    """Any answer but a 500; a refusal is the control API's JSON; and every read still works."""
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    if answer.status_code >= 400:
        problem = answer.json()
        assert isinstance(problem, dict), problem
        assert {"error", "detail"} <= problem.keys(), problem
    for read in (
        "/_sim/messages?limit=1",
        "/_sim/requests?limit=1",
        "/_sim/rules",
        "/_sim/accounts",
    ):
        assert http.get(read).status_code == 200, read


JSON = {"content-type": "application/json"}


@SOME
@given(body=shaped(RULE, RULE_SLOTS), escaped=st.booleans())
def test_any_rule_is_answered(http: httpx.Client, body: object, escaped: bool) -> None:
    answer = http.post("/_sim/rules", content=_encoded(body, escaped), headers=JSON)
    _answered(http, answer)
    if answer.status_code == 201:  # keep the room under --max-rules for the next example
        name = answer.json()["name"]
        assert http.delete(f"/_sim/rules/{_segment(name)}").status_code == 204


NAMED = settings(SOME, max_examples=150)
"""Three endpoints drawn in one test: 50 examples each, about."""
named_bodies = st.one_of(
    st.tuples(
        st.just("PATCH /_sim/rules/{}"),
        st.one_of(st.just("magic"), surrogate_text),
        st.one_of(wrong_json, st.dictionaries(st.just("enabled"), wrong_json)),
    ),
    st.tuples(
        st.just("PUT /_sim/accounts/{}"),
        st.one_of(st.just("demo"), surrogate_text),
        shaped(ACCOUNT, ACCOUNT_SLOTS),
    ),
    st.tuples(
        st.just("POST /_sim/accounts/{}/topup"),
        st.one_of(st.just("demo"), surrogate_text),
        st.one_of(
            shaped({"credit": "10"}, [("credit",), ("extra",)]),
            st.just({"credit": "9" * 5000}),
            wrong_json,
        ),
    ),
)
"""A rule's switch, an account, a top-up: each at a path naming a rule or an account (a lone
surrogate in it as its own bytes), with a body of any shape."""


@NAMED
@given(request=named_bodies, escaped=st.booleans())
def test_any_body_at_a_named_path_is_answered(
    http: httpx.Client, request: tuple[str, str, object], escaped: bool
) -> None:
    route, name, body = request
    method, path = route.split(" ")
    answer = http.request(
        method, path.format(_segment(name)), content=_encoded(body, escaped), headers=JSON
    )
    _answered(http, answer)


@SOME
@given(
    body=st.one_of(
        shaped({"seconds": 60}, [("seconds",), ("extra",)]),
        st.just({"seconds": 1e300}),
        st.just({"seconds": float("nan")}),
        wrong_json,
    ),
    escaped=st.booleans(),
)
def test_any_clock_advance_is_answered(http: httpx.Client, body: object, escaped: bool) -> None:
    answer = http.post("/_sim/clock/advance", content=_encoded(body, escaped), headers=JSON)
    _answered(http, answer)


@SOME
@given(
    body=shaped(SCENARIO_JSON, SCENARIO_SLOTS),
    escaped=st.booleans(),
    content_type=st.sampled_from(["application/json", "text/yaml", "application/yaml", ""]),
)
def test_any_scenario_is_answered(
    http: httpx.Client, body: object, escaped: bool, content_type: str
) -> None:
    """JSON is YAML: one body serves both parsers."""
    headers = {"content-type": content_type} if content_type else {}
    _answered(http, http.put("/_sim/scenario", content=_encoded(body, escaped), headers=headers))


@SOME
@given(
    body=st.one_of(shaped(INBOUND_SMS, INBOUND_SLOTS), shaped(INBOUND_MMS, INBOUND_SLOTS)),
    escaped=st.booleans(),
)
def test_any_json_inbound_is_answered(http: httpx.Client, body: object, escaped: bool) -> None:
    answer = http.post("/_sim/inbound", content=_encoded(body, escaped), headers=JSON)
    _answered(http, answer)


INBOUND_FIELDS = {
    "account": b"demo",
    "from": b"07700900555",
    "text": b"hi",
    "subject": b"s",
    "sent": b"2026-01-02T03:04:05+00:00",
}
utf7_surrogate = st.builds(
    lambda surrogate, tail: (surrogate + tail).encode("utf-7"), lone_surrogate, st.text(max_size=4)
)
"""A text that starts with a lone surrogate, in UTF-7: `+2AA-` and the like."""
PART_CHARSETS = ["", "utf-8", "utf-7", "utf-16", "latin1", "rot13", "base64", "idna", "nonsense"]


@st.composite
def inbound_fields(draw: st.DrawFn) -> list[tuple[str, bytes, str]]:
    """The well-formed fields (no charset named), one to three of them replaced, each in a part
    naming a charset of its own (UTF-7 makes lone surrogates of `+2AA-`), or dropped."""
    fields = {name: (value, "") for name, value in INBOUND_FIELDS.items()}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*INBOUND_FIELDS, "to", "networkcode", "reply_to"]))
        value = draw(
            st.one_of(
                st.none(),
                st.tuples(field_bytes, st.sampled_from(PART_CHARSETS)),
                st.tuples(utf7_surrogate, st.just("utf-7")),
            )
        )
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return [(name, value, charset) for name, (value, charset) in fields.items()]


@SOME
@given(fields=inbound_fields(), files=odd_files)
def test_any_multipart_inbound_is_answered(
    http: httpx.Client,
    fields: list[tuple[str, bytes, str]],
    files: list[tuple[bytes | None, bytes, bytes]],
) -> None:
    """Fields, some in a part naming a charset, and file parts of odd names and content types."""
    body = b""
    for name, value, charset in fields:
        head = b'--XyZ\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n'
        if charset:
            head += b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        body += head + b"\r\n" + value.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    body += file_parts(files) + b"--XyZ--\r\n"
    multipart = {"content-type": "multipart/form-data; boundary=XyZ"}
    _answered(http, http.post("/_sim/inbound", content=body, headers=multipart))


BODY_ENDPOINTS = [
    ("POST", "/_sim/rules"),
    ("PATCH", "/_sim/rules/magic"),
    ("PUT", "/_sim/accounts/demo"),
    ("POST", "/_sim/accounts/demo/topup"),
    ("POST", "/_sim/clock/advance"),
    ("PUT", "/_sim/scenario"),
    ("POST", "/_sim/inbound"),
]


@SOME
@given(
    endpoint=st.sampled_from(BODY_ENDPOINTS),
    body=st.one_of(
        st.binary(max_size=200),
        wrong_json.map(lambda value: _encoded(value, escaped=False)),
        st.just(b"[" * 100_000),  # nested past the parser's depth
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-7",
            "text/yaml",
            "multipart/form-data; boundary=XyZ",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
            "",
        ]
    ),
)
def test_any_bytes_on_any_body_endpoint_are_answered(
    http: httpx.Client, endpoint: tuple[str, str], body: bytes, content_type: str
) -> None:
    method, path = endpoint
    headers = {"content-type": content_type} if content_type else {}
    _answered(http, http.request(method, path, content=body, headers=headers))
