"""What `gateway-sim demo` says, on its own: English a person would recognise, pictures that are
real images of a few KB, and the same of both for the same seed."""

from __future__ import annotations

import io
import re

from faker.providers.lorem.la import Provider as Latin
from PIL import Image

from gateway_sim.server.demo_content import Exchange, Script

ENGLISH_TOO = frozenset({"a", "at", "in"})
"""Words of Faker's Latin list that English shares."""
LATIN = frozenset(Latin.word_list) - ENGLISH_TOO
MARKS = (
    "a reminder of your",
    "verification code",
    "your parcel",
    "your table for",
    "are we still on for",
    "Fancy",
    "running a bit late",
    "Greetings from",
    "Happy birthday",
    "Your ticket for",
)
"""A phrase of each kind of exchange."""


def exchanges(seed: int, count: int = 200) -> list[Exchange]:
    script = Script(seed)
    return [script.next() for _ in range(count)]


def test_the_same_seed_says_the_same_and_another_seed_does_not() -> None:
    first = exchanges(5, 60)
    assert exchanges(5, 60) == first  # texts, replies, reports and picture bytes
    other = exchanges(6, 60)
    assert [e.text for e in other] != [e.text for e in first]


def test_the_texts_are_english_of_every_kind_and_fit_the_gsm_alphabet() -> None:
    said = exchanges(11)
    for exchange in said:
        words = set(re.findall(r"\b[a-z]+\b", exchange.text.lower()))
        assert not words & LATIN, exchange.text
        assert any(mark in exchange.text for mark in MARKS), exchange.text
        assert exchange.text.isascii(), exchange.text
        assert "\n" not in exchange.text, exchange.text
        assert len(exchange.text) <= 3 * 153
    for mark in MARKS:
        assert any(mark in e.text for e in said), f"no {mark!r} in 200 exchanges"
    replies = [e.reply for e in said if e.reply is not None]
    assert 30 < len(replies) < 170
    assert all(reply.isascii() and not set(reply.lower().split()) & LATIN for reply in replies)
    assert any(e.report for e in said)
    assert not all(e.report for e in said)


def test_the_pictures_are_images_of_a_few_kilobytes() -> None:
    pictures = [e.picture for e in exchanges(3, 300) if e.picture is not None]
    assert {p.filename for p in pictures} == {"postcard.jpg", "card.png", "ticket.png"}
    for picture in pictures:
        assert 2_000 <= len(picture.data) <= 20_000, (picture.filename, len(picture.data))
        image = Image.open(io.BytesIO(picture.data))
        image.load()
        assert Image.MIME[image.format or ""] == picture.content_type
        assert image.size in ((320, 240), (320, 200))
        # Not one flat colour: a picture, with a caption drawn on it.
        assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50
