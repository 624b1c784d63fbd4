"""The gateway's plain-text answers: single-line or `<number>,<result>` multi-line, with the
scenario's line ending and trailing-newline settings (README "What is simulated": parameters,
text encoding, answers), and how an answer is sent over ASGI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway_sim.domain.scenario import Settings
from gateway_sim.wire.asgi import Headers, Send
from gateway_sim.wire.exchanges import TEXT


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


async def respond(
    send: Send,
    status: int,
    body: bytes,
    extra: Headers | None = None,
    *,
    content_type: bytes = TEXT,
) -> None:
    """Send an answer whole: its status, headers (`answer_headers`) and body."""
    headers = answer_headers(body, content_type, extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def answer_headers(body: bytes, content_type: bytes, extra: Headers | None = None) -> Headers:
    """The headers of an answer: its type and length, and any `extra`."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers += extra
    return headers
