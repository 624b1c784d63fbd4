"""Docs that run: the README's commands and its scenario example work as written."""

from __future__ import annotations

import ast
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


COVERED_BY = {
    "parameters": ["test_wire.py::test_query_and_body_are_merged", "test_wire.py::test_a_name_sent_twice_is_joined_with_a_comma"],
    "text encoding": ["test_wire.py::test_percent_encoded_windows_1252_falls_back", "test_no_500.py::test_a_charset_that_is_no_text_encoding_is_an_unknown_one"],
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
