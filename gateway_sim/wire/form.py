"""Form fields as ASP.NET sees them: query string and body merged (body wins), names matched
case-insensitively, a name sent twice joined with `,`.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from gateway_sim.domain.text import UTF8_OR_NONE, charset_of, decode_field

Fields = dict[str, str]
COMMON_ESCAPES = {f"%{ord(c):02{case}}": c for c in ",: /@=&+;" for case in ("X", "x")}
"""Escapes of ASCII punctuation, each replaced everywhere in one C-level pass: a recipient list
is mostly `%2C`. None of them yields `%` or a hex digit, so no new escape can appear, and what
remains is decoded the general way."""


def form_fields(query: bytes, body: bytes, content_type: str) -> Fields:
    """The fields of a request that is not multipart: its query string overlaid by its body when
    the body is a form. The same bytes and Content-Type give the same fields every time, so the
    journal keeps these three and parses them again when someone reads."""
    charset = charset_of(content_type) if content_type else None
    from_query = parse_urlencoded(query, charset) if query else {}
    if not (body and is_form(media_type(content_type))):
        return from_query
    return merge(from_query, parse_urlencoded(body, charset))


@lru_cache(maxsize=256)
def media_type(content_type: str) -> str:
    """`type/subtype` of a Content-Type, lower case."""
    return content_type.split(";", 1)[0].strip().lower()


def is_form(media_type: str) -> bool:
    """Whether a body of this media type is read as a form (as ASP.NET reads it)."""
    return media_type in ("application/x-www-form-urlencoded", "", "text/plain")


def parse_urlencoded(raw: bytes, charset: str | None = None) -> Fields:
    """Fields of an `application/x-www-form-urlencoded` body or a query string."""
    if raw.isascii() and charset in UTF8_OR_NONE:
        return _parse_ascii(raw.decode("ascii"), charset)
    fields: Fields = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        add_field(fields, _unquote(name, charset).lower(), _unquote(value, charset))
    return fields


def add_field(fields: Fields, name: str, value: str) -> None:
    """Add a field; a repeated name is joined to the earlier value with a comma."""
    if name in fields:
        fields[name] = f"{fields[name]},{value}"
    else:
        fields[name] = value


def merge(query: Fields, body: Fields) -> Fields:
    """Query string fields overlaid by body fields of the same name."""
    if not query:
        return body
    merged = dict(query)
    merged.update(body)
    return merged


def _parse_ascii(text: str, charset: str | None) -> Fields:
    """The common case, ASCII on the wire: only escaped bytes need decoding."""
    fields: Fields = {}
    names = _NAMES
    for pair in text.split("&"):
        if not pair:
            continue
        raw_name, _, value = pair.partition("=")
        name = names.get(raw_name) or _name(raw_name, charset)
        if "+" in value or "%" in value:
            value = _unquote_text(value, charset)
        if name in fields:
            fields[name] = f"{fields[name]},{value}"
        else:
            fields[name] = value
    return fields


_NAMES: dict[str, str] = {}
"""Field names as sent (ASCII) -> as looked up: decoded, lower-cased and one shared string each,
so a journal of thousands of requests holds `username` once, not once per request."""
_NAMES_KEPT = 1024


def _name(raw: str, charset: str | None) -> str:
    name = sys.intern(_unquote_text(raw, charset).lower())
    if len(_NAMES) >= _NAMES_KEPT:
        _NAMES.clear()
    _NAMES[raw] = name
    return name


def _unquote_text(text: str, charset: str | None) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    at = text.find("%")
    while at != -1:  # one pass per distinct escape; what comes before `at` has none left
        escape = text[at : at + 3]
        char = COMMON_ESCAPES.get(escape)
        if char is None:
            return decode_field(unquote_to_bytes(text), charset)
        text = text.replace(escape, char)
        at = text.find("%", at)
    return text


def _unquote(raw: bytes, charset: str | None) -> str:
    if b"%" in raw or b"+" in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return decode_field(raw, charset)
