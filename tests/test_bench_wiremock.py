"""The peer benchmark's WireMock stubs (bench/wiremock.py) answer what the simulator answers.

WireMock itself is not run here (it needs Java and npm, the benchmark's own prerequisites): the
stubs are checked against the simulator, in-process on the benchmark's scenario, for the very
requests the benchmark sends, and their matchers against those requests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.testclient import TestClient

from gateway_sim.scenario import load_scenario
from tests.conftest import build_app

BENCH = Path(__file__).resolve().parent.parent / "bench"
_ID = re.compile(r"ID:[0-9]{20}")


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """bench/cases.py and bench/wiremock.py, imported as the benchmark imports them."""
    monkeypatch.syspath_prepend(str(BENCH))
    import cases
    import wiremock

    return cases, wiremock


def _case(cases: ModuleType, name: str) -> Any:
    return next(case for case in cases.all_cases() if case.name == name)


def _ids_masked(text: str) -> str:
    return _ID.sub("ID:<id>", text)


@pytest.mark.parametrize("name", ["single", "hundred", "mms", "latency"])
def test_each_stub_answers_like_the_simulator(
    bench: tuple[ModuleType, ModuleType], name: str
) -> None:
    cases, wiremock = bench
    case = _case(cases, name)
    (stub,) = wiremock.stubs(name)
    app = build_app(load_scenario(case.scenario))
    with TestClient(app) as client:
        answer = client.post(
            case.path, content=case.body, headers={"Content-Type": case.content_type}
        )
    app.close()
    assert answer.status_code == 200
    assert case.check(answer.text) is None
    response = stub["response"]
    assert response["status"] == 200
    assert case.check(response["body"]) is None
    assert _ids_masked(response["body"]) == _ids_masked(answer.text)
    assert response["headers"]["Content-Type"] == answer.headers["content-type"]
    assert response.get("fixedDelayMilliseconds", 0) == case.latency_ms


@pytest.mark.parametrize("name", ["single", "hundred", "latency"])
def test_send_stubs_match_the_benchmark_request(
    bench: tuple[ModuleType, ModuleType], name: str
) -> None:
    cases, wiremock = bench
    case = _case(cases, name)
    (stub,) = wiremock.stubs(name)
    request = stub["request"]
    fields = parse_qs(case.body.decode())
    assert (request["method"], request["urlPath"]) == ("POST", case.path)
    for field, pattern in request["formParameters"].items():
        assert fields[field] == [pattern["equalTo"]]


def test_mms_stub_matches_the_username_part(bench: tuple[ModuleType, ModuleType]) -> None:
    cases, wiremock = bench
    case = _case(cases, "mms")
    (stub,) = wiremock.stubs("mms")
    (part,) = stub["request"]["multipartPatterns"]
    header = part["headers"]["Content-Disposition"]["contains"]
    value = part["bodyPatterns"][0]["equalTo"]
    assert stub["request"]["urlPath"] == case.path
    assert f"{header}\r\nContent-Type: text/plain\r\n\r\n{value}\r\n".encode() in case.body


def test_callbacks_stub_posts_the_report_form_only_for_delrpt(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    _, wiremock = bench
    reporting, plain = wiremock.stubs("callbacks", "http://127.0.0.1:9/status")
    assert reporting["priority"] < plain["priority"]
    assert reporting["request"]["formParameters"]["delrpt"] == {"equalTo": "1"}
    assert "delrpt" not in plain["request"]["formParameters"]
    assert "serveEventListeners" not in plain
    (listener,) = reporting["serveEventListeners"]
    parameters = listener["parameters"]
    assert listener["name"] == "webhook"
    assert parameters["url"] == "http://127.0.0.1:9/status"
    assert parameters["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = parameters["body"].partition("}}")[2]  # after the template's formData assignment
    assert list(parse_qs(form)) == ["msgid", "status", "toaddr"]


def test_written_mappings_are_the_stubs_as_json(
    bench: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    _, wiremock = bench
    root = wiremock.write_root(tmp_path / "root", wiremock.stubs("hundred"))
    written = json.loads((root / "mappings" / "stubs.json").read_text())
    assert written == {"mappings": wiremock.stubs("hundred")}
    assert (root / "__files").is_dir()
