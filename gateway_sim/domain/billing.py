"""What a message costs: SMS parts (GSM-7 / UCS-2, README "What is simulated": parts, prices),
truncation, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, NamedTuple

from gateway_sim.domain.scenario import Prices

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("€[]{}^~|\\\f")
_PLAIN_ASCII = frozenset(c for c in GSM7_BASIC if c.isascii())

SINGLE = {"gsm7": 160, "ucs2": 70}
CONCATENATED = {"gsm7": 153, "ucs2": 67}
MAX_CONCAT = 10

Encoding = Literal["gsm7", "ucs2"]


class Segmented(NamedTuple):
    """A text as it will be sent: its encoding, the kept text, the SMS parts per recipient, and
    how many characters (code points) `maxconcat` cut off its end."""

    encoding: Encoding
    text: str
    parts: int
    dropped: int


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM-7 basic or extension table, else UCS-2."""
    for char in text:
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION:
            return "ucs2"
    return "gsm7"


def segment(text: str, maxconcat: int, encoding: Encoding | None = None) -> Segmented:
    """Count the parts `text` needs and cut it to `maxconcat` parts if it needs more."""
    if encoding is None:
        if len(text) <= SINGLE["gsm7"] and _PLAIN_ASCII.issuperset(text):
            return Segmented("gsm7", text, 1, 0)
        encoding = encoding_of(text)
    widths = _widths(text, encoding)
    single, concatenated = SINGLE[encoding], CONCATENATED[encoding]
    if sum(widths) <= single:
        return Segmented(encoding, text, 1, 0)
    part_ends = _part_ends(widths, concatenated)
    if len(part_ends) <= maxconcat:
        return Segmented(encoding, text, len(part_ends), 0)
    keep = _prefix_fitting(widths, single) if maxconcat == 1 else part_ends[maxconcat - 1]
    return Segmented(encoding, text[:keep], maxconcat, len(text) - keep)


def _widths(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _part_ends(widths: list[int], capacity: int) -> list[int]:
    """Character index where each concatenated part ends; a character never straddles parts."""
    ends: list[int] = []
    used = 0
    for index, width in enumerate(widths):
        if used + width > capacity:
            ends.append(index)
            used = 0
        used += width
    ends.append(len(widths))
    return ends


def _prefix_fitting(widths: list[int], capacity: int) -> int:
    used = 0
    for index, width in enumerate(widths):
        if used + width > capacity:
            return index
        used += width
    return len(widths)


class PriceList:
    """Credits for one recipient of a message: per SMS part for types 1, 2 and 6, else flat."""

    def __init__(self, prices: Prices) -> None:
        self._per_part = {1: prices.sms_part, 2: prices.unicode_part, 6: prices.voice_part}
        self._flat = {3: prices.binary, 4: prices.wap_push, 5: prices.mms}

    def __call__(self, message_type: int, parts: int) -> Decimal:
        per_part = self._per_part.get(message_type)
        if per_part is not None:
            return per_part if parts == 1 else per_part * parts
        return self._flat[message_type]
