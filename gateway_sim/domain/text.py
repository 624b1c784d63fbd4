"""Text at the edge. Turning field bytes into text: UTF-8, with a Windows-1252 fallback, unless a
charset says otherwise (README "What is simulated": parameters, text encoding); reading the
charset out of a Content-Type, including the Java SDK's `charset:utf-8`. Making every text that
comes in storable (`storable`: no lone surrogate survives, the policy "type 2" has for its hex).
And the header values built from what clients sent: a content type only once it parses as a
media type, a file name only as RFC 6266 writes it."""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

_CHARSET = re.compile(r"charset\s*[=:]\s*\"?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_UTF8 = frozenset({"utf-8", "utf8"})
UTF8_OR_NONE = frozenset({None, "utf-8"})
"""Charsets (as `charset_of` names them) under which fields are UTF-8 with the fallback."""
NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape"})
"""Python text codecs that read backslash escapes, not a charset: they warn on an unknown escape
(an error under the test suite's warning filter) and can make any code point."""
_PROBE = b"probe \xff\xfe\x80"
"""Decoded once per charset named: a codec that cannot decode it with `errors="replace"` is no
charset for fields (`rot13`, `base64` and `zlib` are bytes or str transforms; `idna`,
`punycode` and `undefined` refuse the error handler or everything)."""

OCTET_STREAM = "application/octet-stream"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]++"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*+"'
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*+;(?:[ \t]*+{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*+"
)
"""RFC 9110's `media-type`: `type/subtype *( OWS ";" OWS [ parameter ] )`, parameters tokens or
quoted strings. ASCII only (obs-text, bytes 0x80-0xFF, is left out: they are C1 controls when a
header is read as Latin-1). Possessive throughout, so no value can make it backtrack."""
_FILENAME_UNSAFE = re.compile(r"[^ !#-\[\]-~]")
"""What a quoted `filename=` cannot carry as it is: non-ASCII, controls, `"` and `\\`."""
_ATTR_CHARS = "!#$&+^`|"
"""RFC 8187 `attr-char`s that `quote` would escape (it keeps letters, digits and `-._~`)."""


def _c1_controls(error: UnicodeError) -> tuple[str, int]:
    """Windows-1252 leaves five bytes undefined; map them to C1 controls, as browsers do."""
    assert isinstance(error, UnicodeDecodeError)
    return chr(error.object[error.start]), error.start + 1


codecs.register_error("gateway_sim_c1", _c1_controls)


@lru_cache(maxsize=256)
def charset_of(content_type: str) -> str | None:
    """The charset named in a Content-Type header, normalised to a Python codec name; None when
    it names no codec that decodes fields (`no_charset` tells which of those are refused)."""
    found = _CHARSET.search(content_type)
    if found is None:
        return None
    try:
        name = codecs.lookup(found.group(1)).name
        _PROBE.decode(name, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return None if name in NOT_CHARSETS else name


@lru_cache(maxsize=256)
def no_charset(content_type: str) -> str | None:
    """The charset a Content-Type names when it is a codec Python knows that is no character set
    (`rot13`, `base64`, `idna`: such a request is refused); None when it names none, a charset,
    or a name no codec has (read as if none were named)."""
    found = _CHARSET.search(content_type)
    if found is None or charset_of(content_type) is not None:
        return None
    try:
        codecs.lookup(found.group(1))
    except (LookupError, ValueError, TypeError):
        return None
    return found.group(1)


def decode_field(raw: bytes, charset: str | None = None) -> str:
    """Decode one field, storable: as the charset says when it names a non-UTF-8 codec, else
    UTF-8 and Windows-1252 for bytes that are not valid UTF-8 (neither can make a surrogate)."""
    if charset is not None and charset not in _UTF8:
        try:
            return storable(raw.decode(charset, errors="replace"))
        except (LookupError, UnicodeError, ValueError):
            pass  # a codec that fails on some bytes despite "replace": read as with no charset
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="gateway_sim_c1")


def storable(text: str) -> str:
    """`text` with every lone surrogate as U+FFFD (a pair of surrogates, as UTF-16 or JSON's
    `\\ud83d\\ude00` write one character, becomes that character): what SQLite, the journal and
    every answer need, since a lone surrogate has no UTF-8. The policy "type 2" has for its hex."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        units = text.encode("utf-16-be", errors="surrogatepass")
        return units.decode("utf-16-be", errors="replace")
    return text


def storable_json(value: Any) -> Any:
    """A value from `json.loads` with every string in it, keys included, made `storable`.
    Lists and objects are fixed in place, without recursion (JSON may nest as deep as the
    parser allows)."""
    if isinstance(value, str):
        return storable(value)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            for n, item in enumerate(node):
                if isinstance(item, str):
                    node[n] = storable(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
        elif isinstance(node, dict):
            if not all(key.isascii() for key in node):
                fixed = {storable(key): item for key, item in node.items()}
                node.clear()
                node.update(fixed)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = storable(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
    return value


def checked_media_type(value: str) -> str | None:
    """`value` without surrounding blanks when it parses as an RFC 9110 media type (then it is
    safe in a header: printable ASCII, spaces and tabs only); else None."""
    value = value.strip(" \t")
    return value if _MEDIA_TYPE.fullmatch(value) else None


def header_media_type(value: str) -> str:
    """A stored content type as a response header may carry it: itself when it parses as a
    media type, else `application/octet-stream` (a record kept before the check was made)."""
    return checked_media_type(value) or OCTET_STREAM


def content_disposition(disposition: str, filename: str) -> str:
    """A Content-Disposition header for `filename` (RFC 6266): `filename="…"` alone when the
    name is plain printable ASCII; else an ASCII fallback (`_` for each other character) and
    `filename*=UTF-8''…` with the whole name, percent-encoded."""
    fallback = _FILENAME_UNSAFE.sub("_", filename)
    if fallback == filename:
        return f'{disposition}; filename="{filename}"'
    encoded = quote(filename, safe=_ATTR_CHARS, encoding="utf-8", errors="replace")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
