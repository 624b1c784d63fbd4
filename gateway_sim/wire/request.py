"""Reading a gateway request off ASGI: method, query string and a size-limited body, into fields
and content files. Multipart bodies are parsed as they stream in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache

from gateway_sim.domain.content import UploadedFile
from gateway_sim.domain.text import charset_of, no_charset
from gateway_sim.wire.asgi import Receive, Scope
from gateway_sim.wire.form import Fields, form_fields, media_type, merge, parse_urlencoded
from gateway_sim.wire.multipart import MalformedBody, MultipartReader


class BodyTooLarge(Exception):
    """The body is over `max_body_bytes`; answered with HTTP 413 before reading the rest."""


class HeadersTooLarge(Exception):
    """The request's headers are over `max_header_bytes`: HTTP 400, as IIS (HTTP.sys) answers."""


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


@dataclass(slots=True)
class GatewayRequest:
    """What a client sent: merged fields, content files and the raw bytes, for the record."""

    fields: Fields
    path: str = ""
    files: list[UploadedFile] = field(default_factory=list)
    query: bytes = b""
    body: bytes = b""
    body_size: int = 0
    malformed: str | None = None
    content_type: str | None = None
    """Set while `fields` are `form_fields(query, body, content_type)`, so they can be parsed
    again from the raw bytes (never for multipart bodies, whose files are not kept raw); whoever
    replaces `fields` sets it to None."""


async def read_request(
    scope: Scope, receive: Receive, max_body_bytes: int, max_header_bytes: int
) -> GatewayRequest:
    """Parse a gateway request; raise `HeadersTooLarge`, `BodyTooLarge` or `ClientGone`."""
    content_type = request_head(scope, max_body_bytes, max_header_bytes)
    if media_type(content_type) == "multipart/form-data":
        query_raw: bytes = scope["query_string"]
        charset = charset_of(content_type)
        query = parse_urlencoded(query_raw, charset) if query_raw else {}
        request = await _read_multipart(receive, content_type, charset, query, max_body_bytes)
        request.path, request.query = scope["path"].lower(), query_raw
        request.malformed = request.malformed or _charset_refused(content_type)
        return request
    return form_request(scope, await _read_body(receive, max_body_bytes), content_type)


def request_head(scope: Scope, max_body_bytes: int, max_header_bytes: int) -> str:
    """The request's Content-Type (empty without one), once its headers are found within the
    limits: raise `HeadersTooLarge`, or `BodyTooLarge` for a Content-Length over the limit."""
    content_type = ""
    header_bytes = 0
    for name, value in scope["headers"]:
        header_bytes += len(name) + len(value)
        if name == b"content-type":
            content_type = _decoded(value)
        elif name == b"content-length" and value.isdigit() and _over(value, max_body_bytes):
            raise BodyTooLarge(f"Content-Length {value[:40].decode()} is over {max_body_bytes}")
    if header_bytes > max_header_bytes:
        raise HeadersTooLarge(f"the headers are {header_bytes} bytes, over {max_header_bytes}")
    return content_type


def form_request(scope: Scope, body: bytes, content_type: str) -> GatewayRequest:
    """A request whose whole body is in hand and is not multipart (a form, JSON or nothing)."""
    query_raw: bytes = scope["query_string"]
    return GatewayRequest(
        form_fields(query_raw, body, content_type),
        scope["path"].lower(),
        query=query_raw,
        body=body,
        body_size=len(body),
        malformed=_charset_refused(content_type) if content_type else None,
        content_type=content_type,
    )


def _charset_refused(content_type: str) -> str | None:
    """Why a request whose Content-Type names a codec that is no character set is refused; its
    fields cannot be read as that charset says, and reading them as another would be a guess."""
    named = no_charset(content_type)
    return None if named is None else f"charset {named!r} is not a character set"


def _over(digits: bytes, limit: int) -> bool:
    """Whether a number in ASCII digits is over `limit`; counted before `int`, which refuses more
    than 4,300 digits."""
    significant = digits.lstrip(b"0")
    return len(significant) > len(str(limit)) or int(significant or b"0") > limit


@lru_cache(maxsize=256)
def _decoded(content_type: bytes) -> str:
    """A Content-Type header as text: one shared string per distinct header."""
    return content_type.decode("latin-1")


async def _chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive (the one receive loop of the gateway paths, on ASGI's
    own `receive`): past `limit` bytes `BodyTooLarge`, a client gone `ClientGone`. Not
    Starlette's `Request.stream`: a Request and a second async generator per send cost more
    than the renovation's budget allowed (bench/RESULTS.md, "Issue 17's budget")."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over {limit} bytes")
        yield chunk
        if not message.get("more_body", False):
            return


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = [chunk async for chunk in _chunks(receive, limit)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _read_multipart(
    receive: Receive,
    content_type: str,
    charset: str | None,
    query: Fields,
    limit: int,
) -> GatewayRequest:
    try:
        reader: MultipartReader | None = MultipartReader(content_type, charset)
    except MalformedBody as exc:
        reader, problem = None, str(exc)
    size = 0
    async for chunk in _chunks(receive, limit):
        size += len(chunk)
        if reader is not None and chunk:
            try:
                reader.feed(chunk)
            except MalformedBody as exc:
                reader, problem = None, str(exc)
    if reader is None:
        return GatewayRequest(query, body_size=size, malformed=problem)
    try:
        fields, files = reader.finish()
    except MalformedBody as exc:
        return GatewayRequest(query, body_size=size, malformed=str(exc))
    return GatewayRequest(merge(query, fields), files=files, body_size=size)
