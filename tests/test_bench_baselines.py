"""The benchmark's own servers start and answer the benchmark's requests exactly: every case's
baseline (bare Starlette, python-multipart, the sleeping app, the simulator with its store
disabled), the bare ASGI ceiling and the simulator itself, spawned as `bench/run.py` spawns them
(not timed here)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    monkeypatch.syspath_prepend(str(BENCH))
    import cases
    import servers

    return cases, servers


@pytest.mark.parametrize("name", ["single", "hundred", "mms", "store", "latency"])
def test_each_case_baseline_and_simulator_answer_as_the_benchmark_checks(
    bench: tuple[ModuleType, ModuleType], name: str, tmp_path: Path
) -> None:
    cases, servers = bench
    case = next(c for c in cases.all_cases() if c.name == name)
    sides = [
        (True, servers.baseline_command(case.baseline)),
        (False, servers.simulator_command(case.scenario)),
    ]
    for baseline, command in sides:
        with servers.serve(name, command, tmp_path / f"{name}-{baseline}.log") as server:
            cases.verify(server.host, server.port, case, baseline=baseline)


@pytest.mark.parametrize("name", ["single", "hundred"])
def test_the_ceiling_answers_what_the_simulator_answers(
    bench: tuple[ModuleType, ModuleType], name: str, tmp_path: Path
) -> None:
    cases, servers = bench
    case = next(c for c in cases.all_cases() if c.name == name)
    command = servers.baseline_command("ceiling")
    with servers.serve(name, command, tmp_path / f"{name}-ceiling.log") as server:
        cases.verify(server.host, server.port, case, baseline=False)
