"""The OpenAPI document of the control API: valid, complete, and true to the running app.

Schemathesis loads the document the app serves and fuzzes every operation in process against a
simulator seeded with messages of every kind and a journal of every outcome, checking that no
answer is a server error and that every answer (status, content type, headers, body) is one the
document describes. Answers the fuzzer cannot reach on its own (a long-poll, a dropped part, a
missing token) are checked against the document directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.result import Err
from schemathesis.python.asgi import get_client, shutdown_lifespans
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.server.app import GatewayApp, create_app
from gateway_sim.store.store import FLUSH_DELAY, Retention, Store
from tests.conftest import BALANCE, SEND, START, SUBACCOUNT, build_app
from tests.helpers import post_mms
from tests.helpers_callbacks import advance
from tests.helpers_callbacks import scenario as callbacks_scenario

DOCUMENT = "/_sim/openapi.json"
CONFIG = schemathesis.Config.from_dict({"seed": 1})
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]
LOGIN = {"username": "demo", "password": "demo"}
FIRST_ID = "10011000000000000001"  # the MMS that `seed` sends first: the document's example id
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


# -- a seeded simulator -----------------------------------------------------------------------


def send_mms(client: TestClient, parts: list[tuple[str, str, bytes]]) -> str:
    return post_mms(client, parts, text="pics")


def seed(client: TestClient) -> None:
    """Messages of every kind (an MMS first), and journal entries of every outcome."""
    assert send_mms(client, [("a.gif", "image/gif", GIF), ("b.txt", "text/plain", b"hi")]) == (
        f"ID:{FIRST_ID}"
    )
    for fields in (
        {"text": "hi", "delrpt": "1", "usercontext": "ctx"},
        {"type": "2", "hex": "00480069"},
        {"type": "3", "udh": "0605040B8423F0", "ud": "C0FFEE"},
        {"type": "4", "href": "https://example.com/x", "text": "see"},
        {"type": "6", "text": "call me"},
        {"to": "07700900123,447700900900,12", "text": "partly"},
        {"password": "wrong", "text": "refused"},
    ):
        client.post(SEND, data={**LOGIN, "to": "07700900123", **fields})
    client.get(BALANCE, params=LOGIN)
    client.post(SUBACCOUNT, data={**LOGIN, "subacc_username": "kid", "subacc_password": "pw"})
    client.put(SEND)


class Simulator:
    """A seeded app, fresh for each fuzzed operation, and Schemathesis's client for it."""

    def __init__(self) -> None:
        self.app = build_app()
        seed(TestClient(self.app))
        # Not entered: requests go in process without starting the app's lifespan (which would
        # otherwise run on Schemathesis's event loop), so the app is closed here, in `close`.
        self.session = get_client(cast(Any, self.app))  # an ASGI app; its types say dict

    def close(self) -> None:
        # A flush timer still pending would fire on Schemathesis's event loop (which outlives the
        # test) after the store has closed, and fail there: let it fire first.
        time.sleep(FLUSH_DELAY * 3)
        self.app.close()


def served_document(app: GatewayApp | None = None) -> dict[str, Any]:
    simulator = app or build_app()
    try:
        document: dict[str, Any] = TestClient(simulator).get(DOCUMENT).json()
    finally:
        if app is None:
            simulator.close()
    return document


DOCUMENTED = served_document()
schema = schemathesis.openapi.from_dict(DOCUMENTED, config=CONFIG)


def operation(path: str, method: str = "GET") -> Any:
    return schema[path][method]


def check(response: Any, path: str, method: str = "GET", **case: Any) -> None:
    """Validate a response the test got itself against the document (raises on a failure)."""
    operation(path, method).Case(**case).validate_response(response, checks=CHECKS)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    simulator = Simulator()
    yield simulator
    simulator.close()


# -- the document -----------------------------------------------------------------------------


def test_the_served_document_is_valid_openapi_and_is_spec() -> None:
    app = build_app()
    try:
        loaded = schemathesis.openapi.from_asgi(DOCUMENT, app, config=CONFIG)
        loaded.validate()
        problems = [
            result.err() for result in loaded.get_all_operations() if isinstance(result, Err)
        ]
        assert problems == []
        assert loaded.raw_schema == served_document(app) == DOCUMENTED
    finally:
        shutdown_lifespans()
        app.close()


def documented_operations() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in DOCUMENTED["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }


def routed_operations(app: GatewayApp) -> set[tuple[str, str]]:
    assert isinstance(app.control, Starlette)  # no control token: the control API itself
    found = set()
    for route in app.control.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette answers HEAD for every GET
                found.add(("/_sim" + route.path, method))
    return found


def test_every_route_of_the_control_api_is_documented(app: GatewayApp) -> None:
    assert routed_operations(app) == documented_operations()


def test_path_parameters_are_declared() -> None:
    for path, item in DOCUMENTED["paths"].items():
        templated = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for name, operation_ in item.items():
            declared = {p["name"] for p in operation_.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, f"{name.upper()} {path}"


# -- the fuzzer -------------------------------------------------------------------------------


@schema.exclude(operation_id=["waitForMessage", "streamEvents"]).parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_app_keeps_to_its_document(case: schemathesis.Case[Any], simulator: Simulator) -> None:
    case.call_and_validate(checks=CHECKS, app=simulator.app, session=simulator.session)


# -- answers the fuzzer cannot reach ----------------------------------------------------------


def test_wait_answers_as_documented(client: TestClient) -> None:
    wait = "/_sim/messages/wait"
    missing = client.get(wait, params={"timeout": "0"})
    assert missing.status_code == 408
    check(missing, wait, query={"timeout": 0})
    too_long = client.get(wait, params={"timeout": "301"})
    assert too_long.status_code == 400
    check(too_long, wait, query={"timeout": 301})
    seed(client)
    found = client.get(wait, params={"type": "mms", "timeout": "1"})
    assert found.status_code == 200
    assert found.json()["message"]["id"] == FIRST_ID
    check(found, wait, query={"type": "mms", "timeout": 1})


def test_parts_answer_as_documented(client: TestClient) -> None:
    seed(client)
    parts = "/_sim/messages/{id}/parts/{n}"
    for n, status in (("0", 200), ("1", 200), ("2", 404), ("x", 400)):
        response = client.get(f"/_sim/messages/{FIRST_ID}/parts/{n}")
        assert response.status_code == status
        check(response, parts, path_parameters={"id": FIRST_ID, "n": n})
    gif = client.get(f"/_sim/messages/{FIRST_ID}/parts/0")
    assert (gif.content, gif.headers["content-type"]) == (GIF, "image/gif")


def test_a_dropped_part_answers_as_documented() -> None:
    store = Store(retention=Retention(max_content_bytes=len(GIF)))
    app = create_app(load_scenario(DEFAULT_SCENARIO), clock=ManualClock(START), store=store)
    try:
        client = TestClient(app)
        for _ in range(2):
            assert send_mms(client, [("a.gif", "image/gif", GIF)]).startswith("ID:")
        message = client.get(f"/_sim/messages/{FIRST_ID}")
        assert message.json()["content"][0]["dropped"] is True
        check(message, "/_sim/messages/{id}", path_parameters={"id": FIRST_ID})
        gone = client.get(f"/_sim/messages/{FIRST_ID}/parts/0")
        assert gone.status_code == 410
        check(gone, "/_sim/messages/{id}/parts/{n}", path_parameters={"id": FIRST_ID, "n": 0})
    finally:
        app.close()


@pytest.mark.parametrize(("path", "method"), sorted(documented_operations()))
def test_every_operation_documents_the_missing_token(path: str, method: str) -> None:
    app = create_app(
        load_scenario(DEFAULT_SCENARIO), clock=ManualClock(START), control_token="sesame"
    )
    try:
        parameters = {"id": FIRST_ID, "n": 0, "username": "demo", "name": "rule"}
        used = {k: v for k, v in parameters.items() if "{" + k + "}" in path}
        response = TestClient(app).request(method, path.format(**used))
        assert response.status_code == 401
        check(response, path, method, path_parameters=used)
    finally:
        app.close()


# -- odd inputs that once broke the document (500s, plain-text 404s, null fields) -------------


@pytest.mark.parametrize(
    ("method", "url", "template", "body"),
    [
        pytest.param(
            "GET",
            "/_sim/messages?limit=%C2%B2",
            "/_sim/messages",
            None,
            id="limit-superscript-two",
        ),
        pytest.param(
            "GET",
            "/_sim/messages?cursor=%C2%B2",
            "/_sim/messages",
            None,
            id="cursor-superscript-two",
        ),
        pytest.param(
            "GET",
            "/_sim/messages?type=%C2%B2",
            "/_sim/messages",
            None,
            id="type-superscript-two",
        ),
        pytest.param(
            "GET",
            "/_sim/requests?cursor=10000000000000000000",
            "/_sim/requests",
            None,
            id="cursor-beyond-int64",
        ),
        pytest.param(
            "GET",
            f"/_sim/messages/{FIRST_ID}/parts/%C2%B2",
            "/_sim/messages/{id}/parts/{n}",
            None,
            id="part-superscript-two",
        ),
        pytest.param(
            "GET",
            f"/_sim/messages/{FIRST_ID}/parts/10000000000000000000",
            "/_sim/messages/{id}/parts/{n}",
            None,
            id="part-beyond-int64",
        ),
        pytest.param(
            "GET",
            "/_sim/messages/a%0Ab",
            "/_sim/messages/{id}",
            None,
            id="newline-in-path",
        ),
        pytest.param(
            "PUT",
            "/_sim/accounts/a%0Ab",
            "/_sim/accounts/{username}",
            {"password": "pw"},
            id="newline-in-a-username",
        ),
        pytest.param(
            "PUT",
            "/_sim/accounts/demo",
            "/_sim/accounts/{username}",
            {"credit": None},
            id="account-credit-null",
        ),
        pytest.param(
            "PUT",
            "/_sim/accounts/demo",
            "/_sim/accounts/{username}",
            {"default_sender": None},
            id="account-sender-null",
        ),
        pytest.param(
            "GET",
            "/_sim/scenario",
            "/_sim/scenario",
            None,
            id="scenario-rule-keys",
        ),
    ],
)
def test_odd_inputs_answer_as_documented(
    method: str, url: str, template: str, body: Any, client: TestClient
) -> None:
    seed(client)
    parameters = {"id": FIRST_ID, "n": 0, "username": "demo"}
    used = {k: v for k, v in parameters.items() if "{" + k + "}" in template}
    with TestClient(client.app, raise_server_exceptions=False) as raw:
        response = raw.request(method, url, json=body) if body else raw.request(method, url)
    check(response, template, method, path_parameters=used)


def test_method_not_allowed_names_the_allowed_methods(client: TestClient) -> None:
    response = client.post("/_sim/messages")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) >= {"GET", "DELETE"}


# -- the views and the document agree ----------------------------------------------------------


def shown_keys(name: str) -> tuple[set[str], set[str]]:
    """The keys a view's schema names, and those it requires."""
    found = DOCUMENTED["components"]["schemas"][name]
    return set(found["properties"]), set(found.get("required", ()))


def test_every_key_an_answer_carries_is_documented_and_the_other_way_round() -> None:
    dead = "http://127.0.0.1:9"  # the discard port: every callback attempt fails, and is listed
    with TestClient(build_app(callbacks_scenario(dead))) as client:
        seed(client)
        client.post(SEND, data={**LOGIN, "to": "07700900123", "text": "x", "delrpt": "1"})
        advance(client, 1)
        for rule in (
            {
                "name": "plain",
                "match": {"to": "447700900999"},
                "action": {"error": "GATEWAY_ERROR"},
            },
            {"name": "once", "sequence": [{"error": "GATEWAY_ERROR"}], "times": 1},
        ):
            assert client.post("/_sim/rules", json=rule).status_code == 201
        messages = client.get("/_sim/messages").json()["messages"]
        requests = client.get("/_sim/requests").json()["requests"]
        answers = {
            "MessagePage": [client.get("/_sim/messages", params={"limit": 1}).json()],
            "MessageView": messages,
            "ContentPartView": [part for message in messages for part in message["content"]],
            "StatusView": [status for message in messages for status in message["statuses"]],
            "RequestPage": [client.get("/_sim/requests", params={"limit": 1}).json()],
            "RequestView": requests,
            "FileView": [file for request in requests for file in request["files"]],
            "AttemptPage": [client.get("/_sim/callbacks").json()],
            "AttemptView": client.get("/_sim/callbacks").json()["callbacks"],
            "AccountView": client.get("/_sim/accounts").json()["accounts"],
            "RuleView": client.get("/_sim/rules").json()["rules"],
        }
    for name, items in answers.items():
        documented, required = shown_keys(name)
        assert items, name
        for item in items:
            assert required <= set(item) <= documented, (name, set(item) ^ documented)
        # A rule leaves out its keys that are null; every other view shows all of its keys.
        assert set().union(*items) == documented, name
