"""Turning field bytes into text: UTF-8, with a Windows-1252 fallback, unless a charset says
otherwise (PROTOCOL.md section 1). Also reads the charset out of a Content-Type, including the
Java SDK's `charset:utf-8`.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

_CHARSET = re.compile(r"charset\s*[=:]\s*\"?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_UTF8 = frozenset({"utf-8", "utf8"})
UTF8_OR_NONE = frozenset({None, "utf-8"})
"""Charsets (as `charset_of` names them) under which fields are UTF-8 with the fallback."""


def _c1_controls(error: UnicodeError) -> tuple[str, int]:
    """Windows-1252 leaves five bytes undefined; map them to C1 controls, as browsers do."""
    assert isinstance(error, UnicodeDecodeError)
    return chr(error.object[error.start]), error.start + 1


codecs.register_error("gateway_sim_c1", _c1_controls)


@lru_cache(maxsize=256)
def charset_of(content_type: str) -> str | None:
    """The charset named in a Content-Type header, normalised to a Python codec name."""
    found = _CHARSET.search(content_type)
    if found is None:
        return None
    try:
        return codecs.lookup(found.group(1)).name
    except LookupError:
        return None


def decode_field(raw: bytes, charset: str | None = None) -> str:
    """Decode one field: as the charset says when it names a non-UTF-8 codec, else UTF-8 and
    Windows-1252 for bytes that are not valid UTF-8."""
    if charset is not None and charset not in _UTF8:
        return raw.decode(charset, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="gateway_sim_c1")
