"""The message types (README "What is simulated": parts, prices): each type's fields, checked in
the documented order (missing before malformed, then sizes and `maxconcat`), turned into what
will be sent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from gateway_sim.domain.billing import MAX_CONCAT, Encoding, segment
from gateway_sim.domain.errors import InvalidRequest, NoText, ParameterInvalid, ParameterMissing
from gateway_sim.domain.numbers import is_digits
from gateway_sim.domain.records import KINDS, ContentPart
from gateway_sim.domain.text import storable

WAP_PUSH_MAX_CHARS = 114
BINARY_MAX_OCTETS = 140
_HEX = re.compile(r"[0-9A-Fa-f]*")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A content file as the edge received it; `problem` says why it cannot be used, if so."""

    part: ContentPart
    problem: str | None = None
    unusable_type: str | None = None
    """The Content-Type it came with when that is no media type (the part is kept as
    `application/octet-stream`): `POST /_sim/inbound` refuses such a part."""


class Content(NamedTuple):
    """The checked content of a submission, ready to price and store (a NamedTuple: one is
    made per send, and a frozen dataclass's initialiser is several times slower)."""

    type: int
    text: str | None = None
    encoding: Encoding | None = None
    parts: int = 1
    dropped: int = 0
    """Characters `maxconcat` cut off the text's end (0: the text went whole)."""
    udh: str | None = None
    ud: str | None = None
    href: str | None = None
    files: tuple[ContentPart, ...] = ()

    @property
    def kind(self) -> str:
        return KINDS[self.type]


def message_type(raw: str | None) -> int:
    """The `type` field: blank means 1; anything but 1-6 is refused."""
    if not raw:
        return 1
    value = raw.strip()
    if len(value) != 1 or value not in "123456":
        raise InvalidRequest(f"type {raw!r} is not one of 1-6")
    return int(value)


def build_content(
    kind: int,
    fields: Mapping[str, str],
    files: Sequence[UploadedFile],
    sender: str,
    mms_max_bytes: int,
) -> Content:
    """Check the fields that `kind` needs and work out the content, or raise the gateway error."""
    if kind in (1, 6):
        return _text(kind, fields)
    if kind == 2:
        return _unicode(fields)
    if kind == 3:
        return _binary(fields)
    if kind == 4:
        return _wap_push(fields)
    return _mms(fields, files, sender, mms_max_bytes)


def _maxconcat(fields: Mapping[str, str]) -> int:
    raw = fields.get("maxconcat", "").strip()
    if not raw:
        return 1
    # Digits past the second (leading zeros aside) are out of range anyway; counted before
    # `int`, which refuses more than 4,300 digits.
    if not is_digits(raw) or len(raw.lstrip("0")) > 2 or not 1 <= int(raw) <= MAX_CONCAT:
        shown = raw if len(raw) <= 40 else f"{raw[:40]}…"
        # PARAMETER_INVALID, as the real gateway answers a maxconcat above 10 (FrontlineSMS's
        # IntelliSMS service notes it); clients such as the Java SDK throw on it, where an
        # INVALID_REQUEST would read as a per-recipient failure of a request that went.
        raise ParameterInvalid(f"maxconcat {shown!r} is not an integer from 1 to {MAX_CONCAT}")
    return int(raw)


def _text(kind: int, fields: Mapping[str, str]) -> Content:
    text = fields.get("text", "")
    if not text:
        raise NoText("the text field is missing or empty")
    cut = segment(text, _maxconcat(fields))
    return Content(kind, cut.text, cut.encoding, cut.parts, cut.dropped)


def _unicode(fields: Mapping[str, str]) -> Content:
    digits = fields.get("hex", "")
    if not digits:
        raise ParameterMissing("type 2 needs the hex field")
    if len(digits) % 4 or not _HEX.fullmatch(digits):
        raise ParameterInvalid("hex must be hexadecimal digits, four per UTF-16 code unit")
    # A lone surrogate unit becomes U+FFFD (still one unit): the policy for all text that comes in.
    text = storable(bytes.fromhex(digits).decode("utf-16-be", errors="surrogatepass"))
    cut = segment(text, _maxconcat(fields), encoding="ucs2")
    return Content(2, cut.text, "ucs2", cut.parts, cut.dropped)


def _binary(fields: Mapping[str, str]) -> Content:
    ud, udh = fields.get("ud", ""), fields.get("udh", "")
    if not ud:
        raise ParameterMissing("type 3 needs the ud field")
    for name, value in (("udh", udh), ("ud", ud)):
        if len(value) % 2 or not _HEX.fullmatch(value):
            raise ParameterInvalid(f"{name} must be an even number of hexadecimal digits")
    if (len(udh) + len(ud)) // 2 > BINARY_MAX_OCTETS:
        raise ParameterInvalid(f"udh and ud together exceed {BINARY_MAX_OCTETS} octets")
    return Content(3, udh=udh.upper() or None, ud=ud.upper())


def _wap_push(fields: Mapping[str, str]) -> Content:
    href, text = fields.get("href", ""), fields.get("text", "")
    if not href:
        raise ParameterMissing("type 4 needs the href field")
    if not href.lower().startswith(("http://", "https://")):
        raise ParameterInvalid("href must start with http:// or https://")
    if len(text) + len(href) > WAP_PUSH_MAX_CHARS:
        raise InvalidRequest(f"text and href together exceed {WAP_PUSH_MAX_CHARS} characters")
    return Content(4, text=text or None, href=href)


def _mms(
    fields: Mapping[str, str], files: Sequence[UploadedFile], sender: str, max_bytes: int
) -> Content:
    if sender and not is_digits(sender.removeprefix("+")):
        raise InvalidRequest(f"an MMS sender must be numeric, not {sender!r}")
    if not files:
        raise InvalidRequest("an MMS needs at least one content file part")
    for upload in files:
        if upload.problem:
            raise InvalidRequest(upload.problem)
    total = sum(len(upload.part.data) for upload in files)
    if total > max_bytes:
        raise InvalidRequest(f"MMS content is {total} bytes, over the limit of {max_bytes}")
    subject = fields.get("text") or None
    return Content(5, text=subject, files=tuple(upload.part for upload in files))
