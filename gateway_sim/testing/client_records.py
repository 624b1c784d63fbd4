"""The control API's answers as typed Python objects (the API's own views, `gateway_sim.control.
views`, read from its JSON, with a few helpers for failure messages), and
the errors `gateway_sim.testing.client.SimClient` raises: a refused control request
(`SimApiError`), and the two `AssertionError`s of its waiting and checking helpers, whose
messages say what happened instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway_sim.control.views import AccountView
from gateway_sim.control.views_records import ContentPartView, MessageView, RequestView
from gateway_sim.domain.records import JournalOutcome

Outcome = JournalOutcome
"""How the journal classifies an answer (the one list, domain/records.py)."""


class SimApiError(Exception):
    """A control request the simulator refused (4xx/5xx): status, error code and detail."""

    def __init__(self, status: int, error: str, detail: str, body: Any = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.body = body


class MessageNotArrived(AssertionError):
    """`wait_for_message` timed out; the message lists what did arrive instead."""

    def __init__(
        self, text: str, *, filters: Mapping[str, str], recent: tuple[SimMessage, ...]
    ) -> None:
        super().__init__(text)
        self.filters = dict(filters)
        self.recent = recent


class RefusedRequests(AssertionError):
    """`assert_no_refused_requests` found requests that were not (wholly) accepted."""

    def __init__(self, text: str, requests: tuple[SimRequest, ...]) -> None:
        super().__init__(text)
        self.requests = requests


SimContentPart = ContentPartView
"""The description of one MMS content part; fetch its bytes with `SimClient.part`."""


class SimMessage(MessageView):
    """An accepted message, as `GET /_sim/messages` shows it (`sender` is the JSON `from`)."""

    @property
    def raw(self) -> dict[str, Any]:
        """The message as the JSON shows it."""
        return self.shown()

    def describe(self) -> str:
        """One line for a failure message: id, account, sender, recipients and text."""
        shown = self.text if self.text is not None else f"({self.kind})"
        return (
            f"{self.id} [{self.account}] from {self.sender or '(none)'} "
            f"to {', '.join(self.to)}: {shown!r} at {self.created_at.isoformat()}"
        )


class SimRequest(RequestView):
    """One journal entry: a request to the emulated gateway, its answer and the reason."""

    @property
    def truncated(self) -> bool:
        """The journal kept only part of this request (`raw_body`, `raw_query`, field values or
        the answer), to fit `--max-journal-body-bytes`; the `*_truncated` flags tell which."""
        return (
            self.body_truncated
            or self.query_truncated
            or self.fields_truncated
            or self.answer_truncated
        )

    @property
    def raw(self) -> dict[str, Any]:
        """The entry as the JSON shows it."""
        return self.shown()

    def describe(self) -> str:
        """One line for a failure message: path, outcome, the exact answer and why."""
        shown = {k: v for k, v in self.fields.items() if k in ("username", "to", "from", "type")}
        given = " ".join(f"{k}={v!r}" for k, v in shown.items())
        status = "" if self.status == 200 else f"HTTP {self.status} "
        return (
            f"{self.method} {self.path} [{given}] -> {status}{self.answer.strip()!r} "
            f"({self.outcome}; reason: {self.reason})"
        )


SimAccount = AccountView
"""An account as `GET /_sim/accounts` shows it; `balance` is whole credits (rounded down), and
`access_keys` the account's access keys (their secret keys are never shown)."""


@dataclass(frozen=True, slots=True)
class SimHealth:
    """`GET /_sim/health`."""

    status: str
    version: str
    uptime_seconds: float
