"""The gateway's plain-text answers: single-line or `<number>,<result>` multi-line, with the
scenario's line ending and trailing-newline settings (PROTOCOL.md sections 1 and 3.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway_sim.scenario import Settings


@dataclass(frozen=True, slots=True)
class AnswerFormat:
    """How lines are joined into a response body."""

    line_ending: str = "\r\n"
    trailing_newline: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerFormat:
        ending = "\r\n" if settings.line_ending == "crlf" else "\n"
        return cls(ending, settings.trailing_newline)

    def body(self, lines: Sequence[str]) -> bytes:
        text = self.line_ending.join(lines)
        if self.trailing_newline:
            text += self.line_ending
        return text.encode("utf-8")

    def send_answer(self, lines: Sequence[tuple[str, str]]) -> bytes:
        """One recipient: its bare result; several: one `number,result` line each."""
        if len(lines) == 1:
            return self.body([lines[0][1]])
        return self.body([f"{number},{result}" for number, result in lines])
