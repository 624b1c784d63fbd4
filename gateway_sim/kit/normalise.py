"""How `conform` makes a recorded answer and a replayed one comparable: message ids numbered by
first appearance, balances turned into their change since the previous one, the answer shown as
lines whose endings are visible. Everything else stays byte for byte."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from gateway_sim.kit.recording import Answer

COMPARED_HEADERS = ("content-type",)
"""The answer headers compared (with the status); the others (Date, Server, Content-Length, which
the body already decides) vary or say nothing of the protocol."""
NO_ANSWER = "(no answer)"

_ID = re.compile(rb'(ID:|"id"\s*:\s*"?)(\d+)')
_BALANCE = re.compile(rb'(BALANCE:|"balance"\s*:\s*"?)(-?\d+(?:\.\d+)?)')
_WRITTEN = {"\r\n": "\\r\\n", "\n": "\\n", "\r": "\\r"}


class Normaliser:
    """One side of a comparison (the recording, or the replay): its ids and balances so far, so
    that an id seen again keeps its number and a balance is told as a change."""

    def __init__(self) -> None:
        self.ids: dict[bytes, str] = {}
        self.balances: dict[str, Decimal] = {}

    def lines(self, answer: Answer | None, account: str) -> list[str]:
        """The answer as compared: status, compared headers, then the normalised body's lines
        with their endings shown (`\\r\\n`); a body without a final line break ends without one."""
        if answer is None:
            return [NO_ANSWER]
        head = [f"HTTP {answer.status}"]
        wanted = {name: value for name, value in answer.headers if name.lower() in COMPARED_HEADERS}
        head += [f"{name.title()}: {value}" for name, value in sorted(wanted.items())]
        return [*head, "", *visible(self.body(answer.body, account))]

    def body(self, data: bytes, account: str) -> bytes:
        data = _ID.sub(self._id, data)
        return _BALANCE.sub(lambda found: self._balance(found, account), data)

    def _id(self, found: re.Match[bytes]) -> bytes:
        shown = self.ids.setdefault(found.group(2), f"<id:{len(self.ids) + 1}>")
        return found.group(1) + shown.encode()

    def _balance(self, found: re.Match[bytes], account: str) -> bytes:
        text = found.group(2).decode("ascii")
        shape = re.sub(r"\d+", "n", text.lstrip("-"))
        try:
            value = Decimal(text)
        except InvalidOperation:  # the pattern admits only numbers; kept for safety's sake
            return found.group(0)
        before = self.balances.get(account)
        self.balances[account] = value
        change = "first" if before is None else f"{value - before:+}"
        return found.group(1) + f"<balance:{shape} {change}>".encode()


def visible(data: bytes) -> list[str]:
    """`data` as lines, each with its line ending written out, so `\\r\\n` and `\\n` differ."""
    if not data:
        return ["(empty body)"]
    text = data.decode("utf-8", "backslashreplace")
    # Only CR and LF break lines here (str.splitlines would also break on \x1c, \u2028, ...).
    pieces = re.split(r"(\r\n|\n|\r)", text)
    shown = [
        line + _WRITTEN[ending] for line, ending in zip(pieces[::2], pieces[1::2], strict=False)
    ]
    return shown if pieces[-1] == "" else [*shown, pieces[-1]]
