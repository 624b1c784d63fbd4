"""Logs: one line per request to the emulated gateway (method, path, status, outcome, account,
reason) and per callback attempt, plus the simulator's own messages, as text or JSON lines.

The lines are made off the request path: the store hands each batch it writes (every 20 ms) to
`RequestLog.observe`, which returns at once when the level filters INFO out, so nothing is
formatted then. `serve` calls `configure` and makes the RequestLog a store observer; an app made
in-process (tests, the pytest plugin) writes no request lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

from gateway_sim.domain.records import Attempt, Exchange, Record

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUESTS = logging.getLogger("gateway_sim.requests")
CALLBACKS = logging.getLogger("gateway_sim.callbacks")
R = TypeVar("R", Exchange, Attempt)
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
"""Made once: json.dumps with options builds an encoder per call."""


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> RequestLog:
    """Send the simulator's logs (and the HTTP server's warnings) to `stream` (default stderr); the
    returned RequestLog, made a store observer, writes the request and callback lines there."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    own = logging.getLogger("gateway_sim")
    own.handlers[:] = [handler]
    own.propagate = False
    own.setLevel(level.upper())
    # The HTTP server's loggers reach the root: its warnings, not its "Starting" lines (serve
    # prints its own banner), nor the warning at every start that its embedded mode is
    # experimental (the README says so once).
    root = logging.getLogger()
    root.handlers[:] = [logging.StreamHandler(stream or sys.stderr)]
    root.handlers[0].setFormatter(handler.formatter)
    root.handlers[0].addFilter(_NotExperimental())
    root.setLevel("DEBUG" if level == "debug" else "WARNING")
    return RequestLog(handler, json_lines=fmt == "json")


class _NotExperimental(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


class RequestLog:
    """A store observer: a line per exchange and per callback attempt of each batch written.

    The lines are made by hand and written as one batch under the handler's lock, stamped with
    the batch's time: a logging record per line would cost a share of a core at the rates the
    simulator serves. They look exactly like the handler's own lines."""

    def __init__(self, handler: logging.StreamHandler[TextIO], *, json_lines: bool = False) -> None:
        self.handler = handler
        self.json_lines = json_lines

    def observe(self, records: Sequence[Record]) -> None:
        """Write a line for each exchange and callback attempt the store was handed (a store
        observer), in the order they came."""
        requests = REQUESTS.isEnabledFor(logging.INFO)
        callbacks = CALLBACKS.isEnabledFor(logging.INFO)
        if not (requests or callbacks):
            return
        stamp = _stamp(json_lines=self.json_lines)
        line = self._json_line if self.json_lines else _text_line
        lines = []
        for record in records:
            if requests and isinstance(record, Exchange):
                text = _request_text(record)
                lines.append(line(stamp, REQUESTS.name, text, record, _request_fields))
            elif callbacks and isinstance(record, Attempt):
                text = _attempt_text(record)
                lines.append(line(stamp, CALLBACKS.name, text, record, _attempt_fields))
        if lines:
            with self.handler.lock or contextlib.nullcontext():
                self.handler.stream.write("".join(lines))
                self.handler.flush()

    @staticmethod
    def _json_line(
        stamp: str, logger: str, message: str, record: R, fields: Callable[[R], dict[str, Any]]
    ) -> str:
        shown = {"time": stamp, "level": "info", "logger": logger, "message": message}
        shown.update(fields(record))
        return _ENCODER.encode(shown) + "\n"


def _text_line(
    stamp: str, logger: str, message: str, record: R, fields: Callable[[R], dict[str, Any]]
) -> str:
    return f"{stamp} INFO {logger}: {message}\n"


def _stamp(*, json_lines: bool) -> str:
    """Now, as the handler's formatter writes it (UTC ISO in JSON, local asctime in text)."""
    now = time.time()
    if json_lines:
        return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"
    )


def _request_text(exchange: Exchange) -> str:
    return (
        f"{exchange.method} {exchange.path} {exchange.status} {exchange.outcome} "
        f"account={exchange.account or '-'} id={exchange.message_id or '-'} "
        f"{exchange.seconds * 1000:.1f} ms: {exchange.reason or exchange.answer[:80]}"
    )


def _attempt_text(attempt: Attempt) -> str:
    result = f"HTTP {attempt.status}" if attempt.status is not None else attempt.error
    return (
        f"{attempt.kind} callback {attempt.callback} attempt {attempt.attempt} to {attempt.url}: "
        f"{attempt.outcome} ({result}, {attempt.latency_ms:.1f} ms)"
    )


def _request_fields(exchange: Exchange) -> dict[str, Any]:
    return {
        "at": exchange.at.isoformat(),
        "method": exchange.method,
        "path": exchange.path,
        "client": exchange.client,
        "status": exchange.status,
        "outcome": exchange.outcome,
        "reason": exchange.reason,
        "account": exchange.account,
        "message_id": exchange.message_id,
        "rule": exchange.rule,
        "duration_ms": round(exchange.seconds * 1000, 3),
    }


def _attempt_fields(attempt: Attempt) -> dict[str, Any]:
    return {
        "at": attempt.at.isoformat(),
        "callback": attempt.callback,
        "attempt": attempt.attempt,
        "kind": attempt.kind,
        "account": attempt.account,
        "message_id": attempt.message_id,
        "url": attempt.url,
        "status": attempt.status,
        "error": attempt.error,
        "outcome": attempt.outcome,
        "latency_ms": attempt.latency_ms,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        shown: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            shown.update(fields)
        if record.exc_info:
            shown["exception"] = self.formatException(record.exc_info)
        return json.dumps(shown, ensure_ascii=False, default=str)
