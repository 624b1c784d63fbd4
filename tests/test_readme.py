"""Docs that run: the README's commands and its scenario example work as written."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import BaseModel
from starlette.testclient import TestClient

from gateway_sim.control.views_records import MessageView, RequestView
from gateway_sim.domain.errors import JSON_ERROR_NUMBERS
from gateway_sim.domain.rule_schema import Action, Match
from gateway_sim.domain.scenario import load_scenario, parse_scenario
from tests.conftest import build_app, free_port

pytest_plugins = ["pytester"]

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


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


COVERED_BY = {
    "parameters": ["test_wire.py::test_query_and_body_are_merged", "test_wire.py::test_a_name_sent_twice_is_joined_with_a_comma"],
    "text encoding": ["test_wire.py::test_percent_encoded_windows_1252_falls_back", "test_no_500.py::test_a_charset_that_is_no_character_set_is_an_invalid_request", "test_no_500.py::test_a_charset_no_codec_has_is_read_as_none_named"],
    "content types": ["test_no_500.py::test_inbound_refuses_a_part_whose_content_type_is_no_media_type", "test_no_500.py::test_a_clients_mms_part_of_no_media_type_is_kept_as_octets"],
    "answers": ["test_wire.py::test_multi_line_answer_joined_by_crlf", "test_wire.py::test_lf_and_trailing_newline_settings"],
    "transport errors": ["test_wire.py::test_unknown_path_is_404", "test_wire.py::test_other_methods_get_405", "test_wire.py::test_body_over_max_body_bytes_is_413"],
    "storage failures": ["test_write_errors.py::test_a_send_whose_commit_fails_alone_is_refused_and_refunded"],
    "message ids": ["test_send_checks.py::test_one_id_per_submission_shared_by_recipients", "test_send_checks.py::test_ids_are_zero_padded_to_twenty_digits"],
    "order of checks": ["test_send_checks.py::test_order_of_checks", "test_send_checks.py::test_error_table"],
    "malformed multipart": ["test_mms.py::test_multipart_without_closing_delimiter_is_invalid"],
    "`maxconcat`": ["test_billing.py::test_truncation_to_maxconcat", "test_send_checks.py::test_maxconcat_is_ignored_for_binary_wap_and_mms"],
    "parts": ["test_billing.py::test_parts", "test_billing.py::test_an_emoji_never_straddles_a_part"],
    "prices": ["test_billing.py::test_prices_over_http", "test_billing.py::test_fractional_prices_are_exact"],
    "WAP push": ["test_send_checks.py::test_error_table"],
    "unicode (type 2)": ["test_send_checks.py::test_unicode_hex_is_decoded_either_case", "test_properties.py::test_unicode_hex_round_trips_any_text"],
    "recipients": ["test_send_checks.py::test_one_hundred_numbers_are_allowed_and_counted_before_deduplication"],
    "numbers": ["test_numbers.py::test_normalise", "test_numbers.py::test_unroutable_globs", "test_invariant.py::test_a_recipient_cannot_write_a_line_of_the_answer"],
    "credit": ["test_send_checks.py::test_insufficient_credit_charges_nothing_and_uses_no_id", "test_concurrency.py::test_fifty_concurrent_sends_against_credit_for_twenty"],
    "balance": ["test_accounts.py::test_balance_is_whole_credits_rounded_down"],
    "MMS": ["test_mms.py::test_mms_to_two_recipients", "test_mms.py::test_numeric_sender_is_allowed"],
    "sender": ["test_send_checks.py::test_blank_sender_uses_account_default_and_given_sender_is_kept"],
    "sub-accounts": ["test_accounts.py::test_create_subaccount", "test_accounts.py::test_subaccount_errors"],
    "callbacks": ["test_callbacks.py::test_a_failing_receiver_is_retried_on_the_account_schedule", "test_callbacks.py::test_callbacks_ignore_proxy_settings_in_the_environment"],
    "received SMS": ["test_inbound.py::test_inbound_sms_is_kept_and_forwarded_as_form_fields", "test_inbound.py::test_inbound_json_format"],
    "delivery reports": ["test_callbacks.py::test_reports_follow_the_default_timeline_with_exact_fields", "test_callbacks.py::test_rules_choose_the_final_status_or_no_report"],
    "received MMS": ["test_inbound.py::test_inbound_mms_is_forwarded_and_its_parts_fetched_with_retrievemms"],
    "HTTPS only": ["test_api_https.py::test_plain_http_is_not_secure_before_anything_else", "test_api_https.py::test_a_trusted_proxy_forwards_https_and_only_https"],
    "access keys": ["test_api_https.py::test_key_errors_in_order", "test_api_https.py::test_awkward_keys_round_trip_urlencoded_by_post_and_get"],
    "daily allowance": ["test_api_https.py::test_daily_allowance_counts_recipients_per_utc_day_on_every_send_path"],
    "JSON requests": ["test_api_json.py::test_the_vendors_shape_is_sent", "test_no_500.py::test_a_json_field_of_the_wrong_kind_is_invalid_request"],
    "JSON answers": ["test_api_json.py::test_per_recipient_ids_and_invalid_numbers", "test_api_json.py::test_fractional_credits_keep_their_decimals"],
    "JSON error numbers": ["test_api_json.py::test_every_error_code_has_a_json_number"],
}  # fmt: skip
"""Each row of the README's "What is simulated" table (by its topic) and tests that hold it."""


def what_is_simulated_topics(readme: str) -> list[str]:
    table = readme.split("## What is simulated", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    return [row.split("|")[1].strip() for row in rows[1:]]  # the header row left out


def test_every_row_of_what_is_simulated_is_tested() -> None:
    topics = what_is_simulated_topics(README)
    assert len(topics) == len(set(topics)), "a topic stands twice in the table"
    assert sorted(topics) == sorted(COVERED_BY), (
        f"rows without tests: {sorted(set(topics) - set(COVERED_BY))}; "
        f"tests for rows the table lacks: {sorted(set(COVERED_BY) - set(topics))}"
    )
    tests = Path(__file__).parent
    for topic, node_ids in COVERED_BY.items():
        assert node_ids, f"{topic}: no test named"
        for node_id in node_ids:
            file, name = node_id.split("::")
            defined = {
                node.name
                for node in ast.walk(ast.parse((tests / file).read_text()))
                if isinstance(node, ast.FunctionDef)
            }
            assert name in defined, f"{topic}: {node_id} does not exist"


def test_a_row_without_a_test_fails_the_check() -> None:
    table_end = README.index("\n## ", README.index("## What is simulated"))
    with_a_new_row = README[:table_end] + "\n| teleportation | - | - |" + README[table_end:]
    assert "teleportation" in what_is_simulated_topics(with_a_new_row)
    assert sorted(what_is_simulated_topics(with_a_new_row)) != sorted(COVERED_BY)


def test_the_pytest_plugin_example_passes(pytester: pytest.Pytester) -> None:
    (example,) = code_blocks("python")
    pytester.makepyfile(test_readme_example=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1)


def test_every_json_error_number_is_in_the_what_is_simulated_table() -> None:
    table = README.split("## What is simulated", 1)[1].split("\n## ", 1)[0]
    for code, number in JSON_ERROR_NUMBERS.items():
        assert f"`{code.lower()}` {number}" in table, code


def test_github_actions_snippet_uses_the_image_health_check() -> None:
    (snippet,) = [block for block in code_blocks("yml") if "services:" in block]
    workflow = yaml.safe_load(snippet)
    service = workflow["jobs"]["test"]["services"]["gateway-sim"]
    assert service["ports"] == ["8080:8080"]
    assert '--health-cmd "gateway-sim healthcheck"' in service["options"]
    dockerfile = (Path(__file__).parent.parent / "Dockerfile").read_text()
    assert 'CMD ["gateway-sim", "healthcheck"]' in dockerfile


def test_every_serve_flag_and_its_environment_twin_is_in_the_flag_table() -> None:
    from gateway_sim.server.cli import build_parser

    tables = README.split("| flag | environment twin | default |")[1:]
    table = "\n".join(part.split("\n\n", 1)[0] for part in tables)
    commands = next(a for a in build_parser()._actions if a.dest == "command")
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


# -- every shell example, run as written -------------------------------------------------------
# The README's ```sh blocks run in order, as a reader would run them: `make run ...` and
# `gateway-sim serve ...` start the simulator (stopping the one before; each on a free port, which
# stands for 8080 in what the examples send and print), every other line runs in bash, in a
# scratch folder, with the tests' virtual environment on PATH as `. .venv/bin/activate` puts it.
# The `# ` lines under a command are its output (stdout and stderr, as a terminal shows them);
# `# exit status N` after a command is its exit status (else 0).

NOT_RUN_MARK = re.compile(r"<!-- not run in CI: `([^`]+)` \((.+?)\) -->")
NOT_RUN_IN_CI = {"make test", "pipx install", "pip wheel", "pip install", "docker "}
"""The commands CI does not run, each marked in the README with the reason (right above its
block). A new one must be added here as well, so that the set stays small and looked at."""
SERVERS = ("make run", "gateway-sim serve")
VENV = Path(sys.executable).parent.parent
"""The environment the tests run in: what `make run` makes as .venv (in CI, that very one)."""


@dataclass
class Example:
    command: str
    output: list[str] | None = None
    """The lines the README shows under it; None when it shows none."""
    status: int = 0
    not_run: str | None = None
    """Why CI does not run it, from its README marker."""


def sh_examples(readme: str) -> list[Example]:
    examples: list[Example] = []
    blocks = re.findall(r"((?:<!--[^\n]*-->\n)*)```sh\n(.*?)```", readme, flags=re.S)
    for markers, block in blocks:
        not_run = dict(NOT_RUN_MARK.findall(markers))
        assert len(not_run) == markers.count("<!--"), f"a marker the test cannot read: {markers}"
        in_block: list[Example] = []
        for line in block.splitlines():
            if line.startswith("#"):
                assert in_block, f"output with no command above it: {line}"
                shown = in_block[-1].output = in_block[-1].output or []
                shown.append(line.removeprefix("#").removeprefix(" "))
            elif line.strip():
                command, _, note = line.partition("  #")
                status = re.match(r"\s*exit status (\d+)", note)
                reasons = [why for prefix, why in not_run.items() if command.startswith(prefix)]
                in_block.append(
                    Example(
                        command.strip(),
                        status=int(status.group(1)) if status else 0,
                        not_run=reasons[0] if reasons else None,
                    )
                )
        for prefix in not_run:
            assert any(e.command.startswith(prefix) for e in in_block), f"unused marker {prefix}"
        examples += in_block
    return examples


def make_run_recipe() -> str:
    """The Makefile's `run` recipe (its prerequisites install .venv, which the tests run in)."""
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n\t(.+)$", makefile, flags=re.M)
    assert recipe is not None, "no run: target in the Makefile"
    return recipe.group(1)


class Flow:
    """The examples' shell: the simulator the README last started, and a scratch folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.backup = 0
        self.server: subprocess.Popen[bytes] | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_SIM_")}
        self.env = {**env, "PATH": f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"}

    def serve(self, command: str) -> None:
        self.stop()
        if command.startswith("make run"):
            words = shlex.split(command)
            assert words[:2] == ["make", "run"]
            assert all(word.startswith("ARGS=") for word in words[2:])
            args = " ".join(word.removeprefix("ARGS=") for word in words[2:])  # make's text
            recipe = make_run_recipe().replace("$(BIN)", str(VENV / "bin"))
            command = recipe.replace("$(ARGS)", args)  # which the recipe's shell splits
            assert "$(" not in command, f"a make variable the test does not know: {command}"
        self.port = free_port()
        self.backup = free_port()  # stands for 8081, the second of `--port 8080,8081`
        command = command.replace("--port 8080,8081", f"--port {self.port},{self.backup}")
        log = self.folder / f"serve-{self.port}.log"
        with log.open("wb") as output:
            self.server = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.folder,
                env={**self.env, "GATEWAY_SIM_PORT": str(self.port)},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.server.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/_sim/ready").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{command} did not start: {log.read_text()}")

    def run(self, example: Example) -> None:
        command = example.command.replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
        command = command.replace("127.0.0.1:8081", f"127.0.0.1:{self.backup}")
        command = command.replace("--port 8081", f"--port {self.backup}")  # `record`'s port
        command = command.replace('"*:8080"', f'"*:{self.port}"')
        command = re.sub(r"(?<![\w/.])\.venv/", f"{VENV}/", command)
        if command.startswith("curl "):  # errors said, and an HTTP error fails
            command = "curl -sS --fail-with-body " + command.removeprefix("curl ")
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env={**self.env, "GATEWAY_SIM_PORT": str(self.port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        printed = result.stdout.replace(f"127.0.0.1:{self.port}", "127.0.0.1:8080")
        printed = printed.replace(f"127.0.0.1:{self.backup}", "127.0.0.1:8081")
        printed = printed.replace(f'"*:{self.port}"', '"*:8080"')
        assert result.returncode == example.status, (example.command, printed)
        if example.output is not None:
            assert printed.removesuffix("\n").split("\n") == example.output, example.command

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
            self.server = None


def test_every_shell_example_runs_and_prints_what_the_readme_shows(tmp_path: Path) -> None:
    examples = sh_examples(README)
    flow = Flow(tmp_path)
    try:
        for example in examples:
            if example.not_run is not None:
                continue
            if example.command.startswith(SERVERS):
                flow.serve(example.command)
            else:
                flow.run(example)
    finally:
        flow.stop()
    ran = [e for e in examples if e.not_run is None]
    assert sum(e.command.startswith(SERVERS) for e in ran) >= 3
    assert sum(e.output is not None for e in ran) >= 10


def test_the_examples_not_run_in_ci_are_few_and_say_why() -> None:
    markers = NOT_RUN_MARK.findall(README)
    assert {prefix for prefix, _ in markers} == NOT_RUN_IN_CI
    assert all(len(reason) > 20 for _, reason in markers)
    skipped = [e.command for e in sh_examples(README) if e.not_run is not None]
    assert len(skipped) <= 10, skipped


def test_an_example_that_breaks_fails_the_run(tmp_path: Path) -> None:
    flow = Flow(tmp_path)
    flow.run(Example("echo hi", ["hi"]))
    with pytest.raises(AssertionError):
        flow.run(Example("echo hi", ["ho"]))
    with pytest.raises(AssertionError):
        flow.run(Example("false"))
    flow.run(Example("false", status=1))
    (parsed,) = sh_examples("```sh\nx  # exit status 3\n# out\n#\n```\n")
    assert parsed == Example("x", ["out", ""], 3)


# -- the README and --help agree -----------------------------------------------------------------


def synopsis_flags(readme: str) -> dict[str, set[str]]:
    """The flags the README's synopsis (the first block of "Command line") gives each command."""
    block = readme.split("## Command line", 1)[1].split("```\n", 2)[1]
    flags: dict[str, set[str]] = {}
    command = None
    for line in block.splitlines():
        text = line.split("#", 1)[0]
        if not line.startswith(" "):
            command = text.split()[1] if text.startswith("gateway-sim ") else None
        if command is not None:
            flags.setdefault(command, set()).update(re.findall(r"--[a-z][a-z-]*", text))
    return flags


def test_the_synopsis_lists_the_flags_that_help_lists() -> None:
    from gateway_sim.server.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a.choices, dict))
    assert isinstance(commands.choices, dict)
    in_help = {
        name: {
            flag
            for action in sub._actions
            for flag in action.option_strings
            if flag.startswith("--") and flag != "--help"
        }
        for name, sub in commands.choices.items()
    }
    assert synopsis_flags(README) == in_help
    assert synopsis_flags(README.replace(" [--password P]", "")) != in_help  # it can fail


def documented_keys(model: type[BaseModel]) -> set[str]:
    return {f.serialization_alias or f.alias or n for n, f in model.model_fields.items()}


def test_every_field_of_a_message_a_journal_entry_and_the_clock_is_documented() -> None:
    control = README.split("## Control API", 1)[1]
    message = control.split("A message, as listed", 1)[1].split("```json\n", 1)[1]
    assert set(json.loads(message.split("```", 1)[0])) == documented_keys(MessageView)
    entry = control.split("A journal entry: ", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r'"(\w+)"', entry)) == documented_keys(RequestView)
    with TestClient(build_app()) as client:  # no view model: the answers are the truth
        shown = set(client.get("/_sim/clock").json())
        advanced = client.post("/_sim/clock/advance", json={"seconds": 1})
        assert advanced.status_code == 200, advanced.text
    for path, keys in (
        ("GET /_sim/clock", shown),
        ("POST /_sim/clock/advance", set(advanced.json())),
    ):
        row = next(line for line in control.splitlines() if line.startswith(f"| `{path}`"))
        answer = re.findall(r"\{[^{}]*\}", row)[-1]
        assert set(re.findall(r'"(\w+)"', answer)) == keys, path
