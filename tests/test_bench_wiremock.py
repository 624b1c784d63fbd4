"""The peer benchmark's WireMock stubs (bench/wiremock.py) answer what the simulator answers.

WireMock itself is not run here (it needs Java and npm, the benchmark's own prerequisites): the
stubs are checked against the simulator, in-process on the benchmark's scenario, for the very
requests the benchmark sends, and their matchers against those requests. The report's verdicts on
the issue's targets (against WireMock, for gateway-sim and the side before the edge change) are
checked on made-up figures.
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

from gateway_sim.domain.scenario import load_scenario
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


def _phases(report: ModuleType, wrk: ModuleType, side: str, cold: float, warm: float) -> Any:
    def run(rate: float, p99: float) -> Any:
        return wrk.WrkResult(rate, int(rate * 5), 0, 0, "", 1.0, p99)

    return report.Phases(side, run(cold, 2.0), run(warm, 2.5), 100 * 1024)


def test_the_report_judges_the_targets_for_both_simulator_sides(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    """The issue's targets, judged on made-up figures: gateway-sim meets them all; the before side
    misses the cold ratio (2.5x), the memory share (6.5%) and the start-up (0.6 s); the
    throughput summary is the geometric mean of gateway-sim / before."""
    cases, _ = bench
    import peers_process
    import peers_report as report
    import wrk

    rates = {  # cold, warm req/s
        "baseline": (18_000, 18_000),
        "gateway-sim": (30_000, 20_000),
        "before": (20_000, 19_000),
        "wiremock": (8_000, 21_000),
    }
    phases = {side: [_phases(report, wrk, side, *rate)] for side, rate in rates.items()}
    phases["wiremock"] = [
        report.Phases(
            "wiremock",
            wrk.WrkResult(8e3, 1, 0, 0, "", 3.0, 50.0),
            wrk.WrkResult(21e3, 1, 0, 0, "", 3.0, 50.0),
            0,
        )
    ]
    memory = {
        side: peers_process.MemoryRun(side, 500_000, settled_kib=mib * 1024)
        for side, mib in {"gateway-sim": 100, "before": 300, "wiremock": 4_600}.items()
    }
    startup = {"gateway-sim": [0.3, 0.4, 0.35], "before": [0.6, 0.7, 0.55], "wiremock": [0.9]}
    result = report.Result(
        [],
        ("baseline", "gateway-sim", "before", "wiremock"),
        [report.CaseRows(_case(cases, "single"), phases)],
        memory=memory,
        startup=startup,
    )
    assert [t.judge(result, "gateway-sim").met for t in report.TARGETS] == [True] * 5
    assert [t.judge(result, "before").met for t in report.TARGETS] == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert result.targets_met
    text = report.render(result)
    assert "today's edge gains **26%** against the edge before" in text  # sqrt(1.5 * 20 / 19)
    assert (
        "| single send, req/s cold: at least 3x WireMock's | 3.75x (30,000 vs 8,000 req/s)" in text
    )


def test_an_error_voids_a_target(bench: tuple[ModuleType, ModuleType]) -> None:
    cases, _ = bench
    import peers_report as report
    import wrk

    def phases(side: str, rate: float, non_2xx: int) -> Any:
        run = wrk.WrkResult(rate, 1, non_2xx, 0, "", 1.0, 2.0)
        return [report.Phases(side, run, run, 0)]

    result = report.Result(
        [],
        ("gateway-sim", "wiremock"),
        [
            report.CaseRows(
                _case(cases, "single"),
                {
                    "gateway-sim": phases("gateway-sim", 9e3, 1),
                    "wiremock": phases("wiremock", 1e3, 0),
                },
            )
        ],
    )
    verdicts = [t.judge(result, "gateway-sim") for t in report.TARGETS]
    assert [v.met for v in verdicts] == [False, False, False, None, None]
    assert "; 2 non-2xx + socket errors" in verdicts[0].figure  # cold and warm
    assert not result.targets_met
