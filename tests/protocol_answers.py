"""What any gateway answer may look like (README "What is simulated": parameters, text encoding, answers, balance, sub-accounts), for the tests that
throw arbitrary input at the simulator: an answer from the protocol or a 4xx, never a 500."""

from __future__ import annotations

import re

_RESULT = rb"(?:ID:\d{20}|ERR:[A-Z_]+)"
PROTOCOL_ANSWER = re.compile(
    rb"\A(?:" + _RESULT + rb"|BALANCE:\d+|OK:\d+"
    rb"|[^,\r\n]+," + _RESULT + rb"(?:\r\n[^,\r\n]+," + _RESULT + rb")+)\Z"
)


def assert_protocol_answer(status: int, body: bytes) -> None:
    """HTTP 200 with a body the gateway may give, or a client error (404, 405, 413, ...)."""
    assert status < 500, (status, body[:200])
    if status == 200:
        assert PROTOCOL_ANSWER.match(body), body[:200]
    else:
        assert 400 <= status < 500, (status, body[:200])
