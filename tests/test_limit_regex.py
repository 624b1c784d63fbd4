"""A rule's text pattern cannot freeze the server: patterns run on RE2 (linear in the text), and a
pattern RE2 cannot run is refused when the rule is loaded, from a scenario or /_sim/rules.

On Python's `re`, `(a+)+$` against 34 `a`s and a `!` backtracks for hours with the event loop
held: the timing tests below fail that way (checked by swapping `re` back in, by hand).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway_sim.domain.patterns import MAX_PROGRAM_SIZE, SHOWN, PatternRefused, compile_text
from gateway_sim.domain.scenario import ScenarioError, parse_scenario
from tests.conftest import SEND, ClientFor, start_serve

SCENARIO = "version: 1\naccounts: [{username: demo, password: demo, credit: 1000}]\n"
BACKTRACKER = {"name": "backtracker", "match": {"text": "(a+)+$"}, "action": {"error": "NO_TEXT"}}
WORST_TEXT = "a" * 34 + "!"  # no match: Python's `re` tries every way of splitting the a's
LOGIN = {"username": "demo", "password": "demo", "to": "07700900123"}


def with_rules(*rules: str) -> str:
    return SCENARIO + "rules:\n" + "".join(f"  - {rule}\n" for rule in rules)


def test_a_backtracking_pattern_is_answered_at_once(client_for: ClientFor) -> None:
    client = client_for(
        with_rules("{name: backtracker, match: {text: '(a+)+$'}, action: {error: NO_TEXT}}")
    )
    assert client.post(SEND, data={**LOGIN, "text": "warm-up"}).text.startswith("ID:")
    started = time.perf_counter()
    answer = client.post(SEND, data={**LOGIN, "text": WORST_TEXT})
    elapsed = time.perf_counter() - started
    assert answer.text.startswith("ID:")
    assert elapsed < 1, f"{elapsed:.2f} s"
    assert client.post(SEND, data={**LOGIN, "text": "baaa"}).text == "ERR:NO_TEXT"


def test_a_backtracking_pattern_is_answered_at_once_over_real_sockets(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    command = [str(Path(sys.executable).parent / "gateway-sim"), "serve", "--port", "0"]
    process, url = start_serve([*command, "--scenario", str(scenario)])
    try:
        # The timeout leaves a stalled server time to show itself, and a test that fails soon.
        with httpx.Client(base_url=url, timeout=5) as http:
            assert http.post("/_sim/rules", json=BACKTRACKER).status_code == 201
            assert http.post(SEND, data={**LOGIN, "text": "warm-up"}).text.startswith("ID:")
            started = time.perf_counter()
            answer = http.post(SEND, data={**LOGIN, "text": WORST_TEXT})
            elapsed = time.perf_counter() - started
            assert answer.text.startswith("ID:")
            print(f"(a+)+$ against 34 a's and '!', over a socket: answered in {elapsed:.3f} s")
            assert elapsed < 1, f"{elapsed:.2f} s"
            assert http.post(SEND, data={**LOGIN, "text": "aaaa"}).text == "ERR:NO_TEXT"
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a server stuck in a match may not hear SIGTERM
            process.kill()
            process.communicate(timeout=10)


def test_a_backreference_is_refused_through_the_api(client_for: ClientFor) -> None:
    client = client_for(SCENARIO)
    rule = {"name": "echo", "match": {"text": r"(a)\1"}, "action": {}}
    refused = client.post("/_sim/rules", json=rule)
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_rule"
    assert body["detail"] == (
        "match.text: not a regular expression RE2 can run (rule 'echo'): "
        r"backreferences are not supported (got '(a)\\1')"
    )
    assert all(listed["name"] != "echo" for listed in client.get("/_sim/rules").json()["rules"])


def test_a_backreference_is_refused_in_a_scenario() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            with_rules(
                "{name: ok, action: {}}", r"{name: echo, match: {text: '(a)\1'}, action: {}}"
            ),
            source="rules.yaml",
        )
    assert caught.value.problems == [
        "rules[1].match.text: not a regular expression RE2 can run (rule 'echo'): "
        r"backreferences are not supported (got '(a)\\1')"
    ]


def test_a_refused_long_pattern_is_not_echoed_whole(client_for: ClientFor) -> None:
    pattern = "(" + "x" * 5_000  # RE2's own message quotes the rest of the pattern
    rule = {"name": "long", "match": {"text": pattern}, "action": {}}
    refused = client_for(SCENARIO).post("/_sim/rules", json=rule)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "missing )" in detail
    assert detail.count("x") <= 2 * SHOWN
    assert len(detail) < 400


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10", "backreferences are not supported"),
        ("(?P<a>x)(?P=a)", "backreferences by name are not supported"),
        ("(?=a)", "lookarounds are not supported"),
        ("a(?!b)", "lookarounds are not supported"),
        ("(?<=a)b", "lookarounds are not supported"),
        ("(?<!a)b", "lookarounds are not supported"),
        ("a++", "possessive quantifiers are not supported"),
        ("a{2}+", "possessive quantifiers are not supported"),
        ("(?>a)", "atomic groups are not supported"),
        ("(?(1)a|b)", "conditionals are not supported"),
        ("(?x) a", "the inline flags are i, m, s and U"),
        (r"end\Z", r"the end of the text is written \z"),
        (r"\u00e9", r"a code point is written \x{hhhh}"),
        ("x{,3}", "write {0,n}: RE2 reads {,n} as the text itself"),
        ("a{1001}", "counts go up to 1000"),
        (".{0,1000}", f"over {MAX_PROGRAM_SIZE:,}"),
        ("(", "missing ): ("),
    ],
)
def test_refused_patterns_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(PatternRefused, match=re.escape(reason)):
        compile_text(pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"[\12]", r"\123", r"\\1", "[{,3}]", "(?P<name>x)", "(?i)stop", "x{2,}", r"\x{e9}", "$"],
)
def test_what_python_and_re2_read_alike_is_taken(pattern: str) -> None:
    assert compile_text(pattern) is not None


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("bye", "good bye now"),
        ("bye", "BYE"),
        ("(?i)bye", "BYE"),
        ("(?i)é", "É"),
        ("^h.$", "hi"),
        ("^h.$", "hi!"),
        ("^h.$", "oh hi"),
        (r"code \d{6}", "your code 123456 ok"),
        (r"code \d{6}", "your code 12345"),
        (r"^\w+$", "hello_world"),
        (r"\bstop\b", "please stop."),
        (r"\bstop\b", "nonstop"),
        ("a|b", "xbx"),
        ("colou?r", "color"),
        ("(?P<word>x+?)y", "xxy"),
        ("(?s)a.b", "a\nb"),
        ("a.b", "a\nb"),
        ("(?m)^b$", "a\nb\nc"),
        ("[^0-9]", "123"),
        ("x{2,3}", "xx"),
        ("(a+)+$", "aaaa!"),  # short: on the worst text Python takes hours
        ("€", "price: 5 €"),
    ],
)
def test_searched_as_python_searched(pattern: str, text: str) -> None:
    """`re.search` as before (not anchored, case-sensitive unless `(?i)`), on fixed patterns."""
    found = compile_text(pattern)
    assert found is not None
    assert found.found_in(text) == (re.search(pattern, text) is not None)


@pytest.mark.parametrize(
    ("pattern", "text", "python", "re2"),
    [
        ("stop$", "stop\n", True, False),  # RE2's `$` is only the very end
        (r"\d", "٣", True, False),  # RE2's \d, \w, \s and \b are ASCII
        (r"\w", "é", True, False),
    ],
)
def test_known_differences_from_python(pattern: str, text: str, python: bool, re2: bool) -> None:
    found = compile_text(pattern)
    assert found is not None
    assert (re.search(pattern, text) is not None, found.found_in(text)) == (python, re2)


def test_a_lone_surrogate_in_the_text_does_not_raise() -> None:
    found = compile_text("a.b")
    assert found is not None
    assert not found.found_in("x\ud800y")
    assert found.found_in("a\ud800b")
