"""Form fields as ASP.NET sees them: query string and body merged (body wins), names matched
case-insensitively, a name sent twice joined with `,`.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from gateway_sim.protocol.text import decode_field

Fields = dict[str, str]


def parse_urlencoded(raw: bytes, charset: str | None = None) -> Fields:
    """Fields of an `application/x-www-form-urlencoded` body or a query string."""
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


def _unquote(raw: bytes, charset: str | None) -> str:
    if b"%" in raw or b"+" in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return decode_field(raw, charset)
