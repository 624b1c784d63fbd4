"""One exchange with the gateway turned into a redacted `Exchange`: the request's fields parsed as
the gateway parses them (query and form merged, multipart fields and file parts, the `/api/json`
body flattened), its secrets learnt and replaced in the query, the body and the headers, and the
answer kept byte for byte (redacted too, should it ever echo a secret).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from gateway_sim.domain.errors import InvalidRequest
from gateway_sim.domain.text import charset_of
from gateway_sim.kit.recording import (
    SECRET_FIELDS,
    Answer,
    Exchange,
    Part,
    Redactor,
    Request,
    encode,
    part_of,
)
from gateway_sim.wire.form import Fields, form_fields, media_type, merge, parse_urlencoded
from gateway_sim.wire.json_api import json_fields
from gateway_sim.wire.multipart import MalformedBody, MultipartReader

Headers = Sequence[tuple[str, str]]
HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Headers whose values are credentials of their own: recorded as `<redacted>`."""
HIDDEN = "<redacted>"


class Sent(NamedTuple):
    """A request as a client sent it: the path and query as sent (percent-encoded)."""

    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes


def redactor_for(redact_usernames: bool) -> Redactor:
    """The redactor of a recording: the secrets, and the usernames when asked."""
    extra = ("username", "subacc_username") if redact_usernames else ()
    return Redactor((*SECRET_FIELDS, *extra))


def header(headers: Headers, name: str) -> str:
    """The first value of header `name` (any case), or ''."""
    return next((value for key, value in headers if key.lower() == name), "")


def parsed(path: str, query: bytes, content_type: str, body: bytes) -> tuple[Fields, list[Part]]:
    """The fields the gateway would read from this request, and its file parts. A body the
    gateway would refuse as malformed gives the query's fields alone."""
    charset = charset_of(content_type) if content_type else None
    from_query = parse_urlencoded(query, charset) if query else {}
    kind = media_type(content_type)
    if path.lower().startswith("/api/json/"):
        try:
            return merge(from_query, json_fields(body)), []
        except InvalidRequest:
            return from_query, []
    if kind != "multipart/form-data":
        return form_fields(query, body, content_type), []
    try:
        reader = MultipartReader(content_type, charset)
        reader.feed(body)
        fields, files = reader.finish()
    except MalformedBody:
        return from_query, []
    parts = [
        part_of("", file.part.filename or None, file.part.content_type, file.part.data)
        for file in files
    ]
    return merge(from_query, fields), parts


def redacted_body(redactor: Redactor, path: str, content_type: str, body: bytes) -> bytes:
    """`body` with every learnt secret replaced: a form pair by pair, JSON through its parsed
    values when an escape the plain forms miss (`\\/`, `\\u00e9`) would hide one, anything else
    (multipart included: a field part's value is its raw bytes) in every form."""
    kind = media_type(content_type)
    if kind == "multipart/form-data":
        return redactor.redact(body)
    if path.lower().startswith("/api/json/"):
        return _redacted_json(redactor, body)
    if kind in ("application/x-www-form-urlencoded", "", "text/plain"):
        return redactor.redact_form(body)
    return redactor.redact(body)


def _redacted_json(redactor: Redactor, body: bytes) -> bytes:
    plain = redactor.redact(body)
    try:
        document = json.loads(plain)
    except ValueError:
        return plain
    cleaned = _scrubbed(redactor, document)
    if cleaned == document:
        return plain
    return json.dumps(cleaned, ensure_ascii=False).encode("utf-8")


def _scrubbed(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, str):
        return redactor.redact_text(value)
    if isinstance(value, list):
        return [_scrubbed(redactor, item) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(redactor, item) for key, item in value.items()}
    return value


def redacted_headers(redactor: Redactor, headers: Headers) -> list[tuple[str, str]]:
    return [
        (name, HIDDEN if name.lower() in HIDDEN_HEADERS else redactor.redact_text(value))
        for name, value in headers
    ]


def request_of(redactor: Redactor, sent: Sent) -> Request:
    """The request as the recording keeps it: its secrets learnt, then replaced everywhere."""
    method, path, query, headers, body = sent
    content_type = header(headers, "content-type")
    fields, parts = parsed(path, query, content_type, body)
    redactor.learn(fields)
    return Request(
        method=method,
        path=path,  # a gateway path: redacting a short secret in it would only garble it
        query=redactor.redact_form(query).decode("latin-1"),
        headers=redacted_headers(redactor, headers),
        body_b64=encode(redacted_body(redactor, path, content_type, body)),
        fields=redactor.fields(fields),
        parts=parts,
    )


def exchange_of(
    request: Request,
    redactor: Redactor,
    *,
    at: datetime,
    latency_ms: float,
    status: int | None,
    headers: Headers = (),
    body: bytes = b"",
    error: str | None = None,
) -> Exchange:
    """The whole exchange; `status` None when the upstream gave no answer (`error` says why)."""
    answer = None
    if status is not None:
        answer = Answer(
            status=status,
            headers=redacted_headers(redactor, headers),
            body_b64=encode(redactor.redact(body)),
        )
    return Exchange(
        at=at, latency_ms=round(latency_ms, 3), request=request, answer=answer, error=error
    )
