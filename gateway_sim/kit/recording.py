"""A recording: what `gateway-sim record` and `probe` write and `conform` reads. One JSON line per
exchange with the gateway (the request as sent, secrets redacted; the answer as received, exact),
and the redaction that keeps secrets out while keeping who is who.

Secrets (`SECRET_FIELDS`) become placeholders that keep identity: `<password:1>` for the first
distinct password seen, `<password:2>` for another, in every form the value can take in a
request (as sent, percent-encoded either way, JSON-escaped), in the query, the body and the
headers alike. `conform` maps them back (`Redactor.restore`), so a recording replays.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "SECRET_FIELDS",
    "Answer",
    "Exchange",
    "Part",
    "RecordingError",
    "Redactor",
    "Request",
    "append",
    "read",
]

SECRET_FIELDS = ("password", "accesskey", "secretkey", "subacc_password")
"""The fields whose values never reach a recording (usernames are kept unless asked)."""
FORMAT = 1


class RecordingError(ValueError):
    """A recording that cannot be read: the line and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Part(_Model):
    """A file part of a multipart request: its field name, file name, type, size and hash."""

    name: str
    filename: str | None
    content_type: str | None
    size: int
    sha256: str


class Request(_Model):
    """A request as it was sent to the gateway, secrets redacted."""

    method: str
    path: str
    scheme: str = "http"
    """How the gateway was reached (`https` for the real one): `/api/https` and `/api/json`
    answer `CONNECTION_NOT_SECURE` over plain HTTP, so a replay says it (X-Forwarded-Proto)."""
    query: str = ""
    """The raw query string (percent-encoded as sent)."""
    headers: list[tuple[str, str]] = Field(default_factory=list)
    """The headers that shape the request (Content-Type, Host, ...), in order."""
    body_b64: str = ""
    """The body's exact bytes, base64."""
    fields: dict[str, str] = Field(default_factory=dict)
    """The fields the gateway would read (query and form merged), for people and for diffs."""
    parts: list[Part] = Field(default_factory=list)

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)


class Answer(_Model):
    """The answer as received: status, headers and exact bytes."""

    status: int
    headers: list[tuple[str, str]] = Field(default_factory=list)
    body_b64: str = ""

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)


class Exchange(_Model):
    """One exchange: the request, the answer, when it was made and how long it took."""

    format: int = FORMAT
    at: datetime
    latency_ms: float
    request: Request
    answer: Answer | None
    """None when the upstream gave no answer (a reset, a timeout): `error` says what."""
    error: str | None = None


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def part_of(name: str, filename: str | None, content_type: str | None, data: bytes) -> Part:
    return Part(
        name=name,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def append(path: Path, exchange: Exchange) -> None:
    """Add `exchange` to the recording at `path` as one JSON line (flushed before returning)."""
    line = exchange.model_dump_json() + "\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(line)


def read(path: Path) -> list[Exchange]:
    """Every exchange of the recording at `path`; RecordingError names the line that is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecordingError(f"{path}: cannot be read: {error}") from None
    return list(_parsed(path, text.splitlines()))


def _parsed(path: Path, lines: Iterable[str]) -> Iterator[Exchange]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield Exchange.model_validate_json(line)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the line"
            raise RecordingError(f"{path}:{number}: {where}: {first['msg']}") from None


class Redactor:
    """Turns secret values into numbered placeholders, the same value always the same one."""

    def __init__(self, secret_fields: Iterable[str] = SECRET_FIELDS) -> None:
        self.secret_fields = tuple(secret_fields)
        """The fields whose values are secrets (`record --redact-usernames` adds `username`)."""
        self.placeholders: dict[tuple[str, str], str] = {}
        """(field, value) -> placeholder."""
        self._counts: dict[str, int] = {}

    def placeholder(self, field: str, value: str) -> str:
        known = self.placeholders.get((field, value))
        if known is None:
            self._counts[field] = self._counts.get(field, 0) + 1
            known = f"<{field}:{self._counts[field]}>"
            self.placeholders[(field, value)] = known
        return known

    def learn(self, fields: Mapping[str, str]) -> None:
        """Give placeholders to the secrets among a request's parsed `fields`."""
        for name in self.secret_fields:
            value = fields.get(name)
            if value:
                self.placeholder(name, value)

    def redact_form(self, data: bytes) -> bytes:
        """A query string or form body with each secret field's value (however the client
        encoded it) replaced by its placeholder, form-encoded; the other pairs byte for byte."""
        pairs = []
        for pair in data.split(b"&"):
            name, equals, value = pair.partition(b"=")
            field = unquote_plus(name.decode("latin-1")).lower()
            if equals and field in self.secret_fields:
                secret = unquote_plus(value.decode("latin-1"), encoding="utf-8")
                if secret:
                    value = _plus(self.placeholder(field, secret))
            pairs.append(name + equals + value)
        return self.redact(b"&".join(pairs))

    def redact_text(self, text: str) -> str:
        return self.redact(text.encode("utf-8")).decode("utf-8", "replace")

    def redact(self, data: bytes) -> bytes:
        """`data` with every known secret, in each form it may take, replaced by its
        placeholder in the same form (longest secrets first, so none hides inside another)."""
        pairs = sorted(self.placeholders.items(), key=lambda item: -len(item[0][1]))
        for (_, secret), shown in pairs:
            for form in _forms:
                data = data.replace(form(secret), form(shown))
        return data

    def fields(self, fields: Mapping[str, str]) -> dict[str, str]:
        """Parsed fields with the secrets' values replaced (and any secret inside another
        field's value too)."""
        redacted = {}
        for name, value in fields.items():
            known = self.placeholders.get((name, value))
            redacted[name] = known if known is not None else self.redact_text(value)
        return redacted

    @staticmethod
    def restore(data: bytes, values: Mapping[str, str]) -> bytes:
        """`data` with placeholders (`<password:1>` -> `values["<password:1>"]`) put back, in
        each form."""
        for shown, value in sorted(values.items(), key=lambda item: -len(item[0])):
            for form in _forms:
                data = data.replace(form(shown), form(value))
        return data


def _raw(value: str) -> bytes:
    return value.encode("utf-8")


def _plus(value: str) -> bytes:
    return quote_plus(value, safe="").encode("ascii")


def _percent(value: str) -> bytes:
    return quote(value, safe="").encode("ascii")


def _json(value: str) -> bytes:
    return json.dumps(value)[1:-1].encode("utf-8")


_forms = (_raw, _plus, _percent, _json)
"""Every form a field's value takes in a request: as sent (a multipart part, a header), form
encoded (`+` for a space), percent-encoded, and inside a JSON string."""
