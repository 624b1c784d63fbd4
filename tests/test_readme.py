"""Docs that run: the README's commands and its scenario example work as written."""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway_sim.domain.errors import JSON_ERROR_NUMBERS
from gateway_sim.domain.rule_schema import Action, Match
from gateway_sim.domain.scenario import load_scenario, parse_scenario
from tests.conftest import LiveServer, build_app

pytest_plugins = ["pytester"]

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_every_curl_command_works_and_prints_what_the_readme_says(live_server) -> None:  # type: ignore[no-untyped-def]
    """Every `curl` line of the README runs, in order, against one fresh simulator; where the
    README shows the output (a `# ...` line after it), the output is exactly that."""
    server: LiveServer = live_server(build_app(trust_proxy=True))  # as the README says
    port = server.url.rsplit(":", 1)[1]
    lines = [line for block in code_blocks("sh") for line in block.splitlines()] + [""]
    commands = [
        (line, after) for line, after in itertools.pairwise(lines) if line.startswith("curl ")
    ]
    assert len(commands) >= 5
    for command, after in commands:
        argv = shlex.split(command.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        result = subprocess.run(
            [*argv, "-sS", "--fail-with-body"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        if after.startswith("# "):
            assert result.stdout == after.removeprefix("# "), command


def test_quick_start_names_the_two_commands() -> None:
    (block, *_) = code_blocks("sh")
    assert "make run" in block
    assert "make test" in block


def test_every_yaml_example_is_a_valid_scenario() -> None:
    blocks = code_blocks("yaml")
    assert len(blocks) >= 2
    for block in blocks:
        text = block if block.startswith("version:") else "version: 1\n" + block
        parse_scenario(text, source="README.md")


def test_scenario_reference_documents_every_key() -> None:
    (example,) = [block for block in code_blocks("yaml") if "settings:" in block]
    scenario = parse_scenario(example, source="README.md")
    keys = set(type(scenario.settings).model_fields) | set(type(scenario.prices).model_fields)
    keys |= set(type(scenario.accounts[0]).model_fields) | set(type(scenario.numbers).model_fields)
    for key in keys:
        assert re.search(rf"^\s*(- )?{key}:", example, flags=re.M), (
            f"README does not document {key}"
        )


def test_rules_section_documents_every_match_and_action_key() -> None:
    section = README.split("## Failing on purpose: rules", 1)[1].split("\n## ", 1)[0]
    for model in (Match, Action):
        for name, field in model.model_fields.items():
            key = field.alias or name
            assert f"`{key}`" in section, f"README does not document rule key {key}"


@pytest.mark.parametrize("name", ["default.yaml", "low-credit.yaml", "multi-account.yaml"])
def test_named_scenarios_exist(name: str) -> None:
    assert f"scenarios/{name}" in README
    load_scenario(Path(__file__).parent.parent / "scenarios" / name)


def test_every_protocol_policy_is_in_the_what_is_simulated_table() -> None:
    protocol = Path(__file__).parent.parent.parent / "shared" / "PROTOCOL.md"
    if not protocol.exists():
        pytest.skip("shared/PROTOCOL.md is not beside the checkout")
    table = README.split("## What is simulated", 1)[1].split("\n## ", 1)[0]
    policies = len(re.findall(r"\*\*Policy", protocol.read_text(encoding="utf-8")))
    assert policies > 0
    for setting in (
        "line_ending",
        "trailing_newline",
        "id_start",
        "mms_max_bytes",
        "max_body_bytes",
        "subaccount_credit",
        "default_country",
        "numbers.validation: strict",
        "numbers.unroutable",
    ):
        assert setting in table, setting


def test_the_pytest_plugin_example_passes(pytester: pytest.Pytester) -> None:
    (example,) = code_blocks("python")
    pytester.makepyfile(test_readme_example=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1)


def test_every_json_error_number_is_in_the_what_is_simulated_table() -> None:
    table = README.split("## What is simulated", 1)[1].split("\n## ", 1)[0]
    for code, number in JSON_ERROR_NUMBERS.items():
        assert f"`{code.lower()}` {number}" in table, code


NOT_RUN_HERE = {
    "docker ": "no Docker engine runs where the tests run: tests/test_docker.py replays the image",
    "make ": "the two commands that run this very suite",
}


def sh_commands() -> list[str]:
    return [
        line.split("  #", 1)[0].strip()
        for block in code_blocks("sh")
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_every_shell_command_is_run_by_a_test_or_named_as_not_run_here() -> None:
    """`curl` lines run above, `gateway-sim` lines in test_every_gateway_sim_command_runs; the
    rest must be named, with the reason, in NOT_RUN_HERE."""
    for command in sh_commands():
        runnable = command.startswith(("curl ", "gateway-sim "))
        assert runnable or command.startswith(tuple(NOT_RUN_HERE)), command


def test_every_gateway_sim_command_runs(live_server) -> None:  # type: ignore[no-untyped-def]
    """Each `gateway-sim` line of the README's shell blocks exits 0 against a running simulator."""
    server: LiveServer = live_server(build_app())
    port = server.url.rsplit(":", 1)[1]
    script = Path(sys.executable).parent / "gateway-sim"
    commands = [line for line in sh_commands() if line.startswith("gateway-sim ")]
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        result = subprocess.run(
            [str(script), *argv[1:]], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)


def test_github_actions_snippet_uses_the_image_health_check() -> None:
    (snippet,) = [block for block in code_blocks("yml") if "services:" in block]
    workflow = yaml.safe_load(snippet)
    service = workflow["jobs"]["test"]["services"]["gateway-sim"]
    assert service["ports"] == ["8080:8080"]
    assert '--health-cmd "gateway-sim healthcheck"' in service["options"]
    dockerfile = (Path(__file__).parent.parent / "Dockerfile").read_text()
    assert 'CMD ["gateway-sim", "healthcheck"]' in dockerfile


def test_every_serve_flag_and_its_environment_twin_is_in_the_flag_table() -> None:
    from gateway_sim.server.cli import _parser

    tables = README.split("| flag | environment twin | default |")[1:]
    table = "\n".join(part.split("\n\n", 1)[0] for part in tables)
    commands = next(a for a in _parser()._actions if a.dest == "command")
    serve = commands.choices["serve"]  # type: ignore[index]
    flags = [a.option_strings[0] for a in serve._actions if a.option_strings[0] != "-h"]
    assert "--tls" in flags
    for flag in flags:
        twin = "GATEWAY_SIM_" + flag.removeprefix("--").upper().replace("-", "_")
        assert f"`{flag}`" in table, flag
        assert twin in table, twin


def test_the_limits_table_is_the_limits_module() -> None:
    """Every bound of `gateway_sim.domain.limits` is a row of the README's limits table, with its flag,
    its environment twin and its default; and the table has no other row."""
    from gateway_sim.domain.limits import LIMITS

    table = README.split("## Limits", 1)[1].split("| what it bounds |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert [(c[0], c[1], c[2]) for c in cells] == [
        (f"`{info.flag}`", f"`{info.env}`", info.shown) for info in LIMITS
    ]
