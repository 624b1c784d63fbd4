"""The gateway's plain-text answers: single-line or `<number>,<result>` multi-line, with the
scenario's line ending and trailing-newline settings (README "What is simulated": parameters,
text encoding, answers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway_sim.domain.scenario import Settings


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

    def send_answer(
        self, shown: Sequence[str], results: Sequence[str | None], accepted: str
    ) -> bytes:
        """One recipient: its bare result; several: one `number,result` line each. A result of
        None is `accepted` (the `ID:<id>` line)."""
        if len(shown) == 1:
            return self.body([results[0] or accepted])
        if not any(results):  # all accepted: one join
            text = f",{accepted}{self.line_ending}".join(shown) + f",{accepted}"
            if self.trailing_newline:
                text += self.line_ending
            return text.encode("utf-8")
        lines = zip(shown, results, strict=True)
        return self.body([f"{number},{result or accepted}" for number, result in lines])
