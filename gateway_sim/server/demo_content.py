"""What `gateway-sim demo` says: seeded exchanges a person would recognise (appointment
reminders, one-time codes, delivery notices, bookings, short chats, MMS postcards and cards) and
the pictures its MMS carry, drawn with Pillow.

Everything comes from one `random.Random` and one Faker instance seeded alike and drawn in a fixed
order, so a seed always gives the same texts and the same picture bytes. Dates and times come
from the seeded generator too, never from today's date. Texts stay within the GSM alphabet, so
each is billed as the plain text it looks like.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass

from faker import Faker
from PIL import Image, ImageDraw, ImageFont

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
TIMES = ("9:15", "10:30", "11:45", "13:00", "14:20", "15:40", "17:30", "19:00", "19:45")
SUPPORT = "0808 157 0"
"""Ofcom's freephone range kept for drama (0808 157 0000-0999): a number nobody answers."""
PHOTO_SIZE = (320, 240)
CARD_SIZE = (320, 200)
SKIES = (
    ((70, 130, 200), (190, 220, 245)),  # a clear day
    ((60, 40, 110), (250, 150, 80)),  # sunset
    ((20, 30, 70), (120, 90, 150)),  # dusk
    ((110, 160, 190), (240, 230, 200)),  # hazy morning
)
CARD_COLOURS = ((200, 60, 90), (40, 110, 170), (30, 140, 110), (220, 140, 30), (120, 70, 160))
CONFETTI = (*CARD_COLOURS, (255, 255, 255))

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Picture:
    """An MMS part: the file's bytes, its name and its media type."""

    data: bytes
    filename: str
    content_type: str


@dataclass(frozen=True)
class Exchange:
    """One send of the demo, and the handset's answer to it if it gets one."""

    text: str
    picture: Picture | None = None
    reply: str | None = None
    report: bool = False
    """Whether to ask for a delivery report."""


class Script:
    """The demo's exchanges, one after another, the same for the same seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.kinds: tuple[tuple[float, Callable[[], Exchange]], ...] = (
            (0.18, self.reminder),
            (0.16, self.code),
            (0.16, self.delivery),
            (0.10, self.booking),
            (0.22, self.chat),
            (0.06, self.postcard),
            (0.06, self.birthday),
            (0.06, self.ticket),
        )

    def next(self) -> Exchange:
        """The next exchange, its kind drawn by weight."""
        roll = self.rng.random() * sum(weight for weight, _ in self.kinds)
        for weight, make in self.kinds:
            roll -= weight
            if roll < 0:
                return make()
        return self.kinds[-1][1]()

    def _when(self) -> str:
        return f"{self.rng.choice(DAYS)} at {self.rng.choice(TIMES)}"

    def _street(self) -> str:
        return self.fake.street_address().replace("\n", ", ")

    def _maybe(self, chance: float, *replies: str) -> str | None:
        reply = self.rng.choice(replies)
        return reply if self.rng.random() < chance else None

    def reminder(self) -> Exchange:
        what, where = self.rng.choice(
            (
                ("dental check-up", f"{self.fake.last_name()} Dental Practice"),
                (f"appointment with Dr {self.fake.last_name()}", "the surgery"),
                ("haircut", f"{self.fake.first_name()}'s Salon"),
                ("MOT", f"{self.fake.city()} Motors"),
            )
        )
        text = (
            f"Hi {self.fake.first_name()}, a reminder of your {what} at {where} on "
            f"{self._when()}. Reply YES to confirm or call {SUPPORT}{self.rng.randrange(1000):03d}"
            " to rearrange."
        )
        reply = self._maybe(0.6, "YES", "Yes, see you then", "Yes thanks", "Can I move it?")
        return Exchange(text, reply=reply, report=True)

    def code(self) -> Exchange:
        code = f"{self.rng.randrange(10**6):06d}"
        text = (
            f"{code} is your {self.fake.company()} verification code. It expires in 10 minutes. "
            "Never share it, not even with us."
        )
        return Exchange(text, report=self.rng.random() < 0.5)

    def delivery(self) -> Exchange:
        courier = self.rng.choice(("Parcelwise", "QuickDrop", "Royal Parcels", "Swift Couriers"))
        hour = self.rng.randrange(8, 17)
        text = (
            f"{courier}: your parcel from {self.fake.company()} will be delivered to "
            f"{self._street()}, {self.fake.postcode()} today between {hour}:00 and "
            f"{hour + 2}:00. Reply SAFE to have it left in a safe place."
        )
        reply = self._maybe(
            0.4,
            "SAFE, in the porch please",
            f"Please leave it with my neighbour at number {self.rng.randrange(2, 60)}",
            "SAFE - behind the bins, thanks",
        )
        return Exchange(text, reply=reply)

    def booking(self) -> Exchange:
        text = (
            f"Thanks {self.fake.first_name()}, your table for {self.rng.randrange(2, 7)} at "
            f"{self.fake.last_name()}'s Kitchen in {self.fake.city()} is booked for "
            f"{self._when()}. Call {SUPPORT}{self.rng.randrange(1000):03d} if plans change."
        )
        return Exchange(text, report=True)

    def chat(self) -> Exchange:
        plan = self.rng.choice(
            (
                f"coffee at {self.fake.last_name()}'s",
                "the pub quiz",
                "five-a-side",
                f"lunch in {self.fake.city()}",
                "the cinema",
            )
        )
        day, other = self.rng.sample(DAYS, 2)
        name, time = self.fake.first_name(), self.rng.choice(TIMES)
        question = self.rng.choice(
            (
                f"Hi {name}, are we still on for {plan} on {day} at {time}?",
                f"Hey {name}! Fancy {plan} on {day}?",
                f"{name}, running a bit late for {plan}. Save me a seat?",
            )
        )
        reply = self._maybe(
            0.8,
            "Yes! See you there",
            f"Sorry, can we do {other} instead?",
            "Sounds good, I'll bring the snacks",
            "No worries, see you soon",
            "Can't wait :)",
        )
        return Exchange(question, reply=reply)

    def postcard(self) -> Exchange:
        city = self.fake.city()
        picture = photo(self.rng, f"Greetings from {city}")
        text = f"Greetings from {city}! Wish you were here. {self.fake.first_name()} x"
        reply = self._maybe(0.5, "Looks lovely! Enjoy the rest of your trip", "Jealous!")
        return Exchange(text, picture=picture, reply=reply)

    def birthday(self) -> Exchange:
        name = self.fake.first_name()
        picture = card(self.rng, f"Happy birthday, {name}!", "Have a brilliant day")
        text = (
            f"Happy birthday {name}! Hope you have a brilliant day. Love, {self.fake.first_name()}"
        )
        return Exchange(text, picture=picture, reply=self._maybe(0.6, "Aw, thank you!", "Thanks x"))

    def ticket(self) -> Exchange:
        venue = f"{self.fake.city()} {self.rng.choice(('Playhouse', 'Arena', 'Corn Exchange'))}"
        when = self._when()
        picture = card(self.rng, "ADMIT ONE", f"{venue}, {when}")
        text = f"Your ticket for {venue} on {when}. Show this picture at the door."
        return Exchange(text, picture=picture, report=True)


def photo(rng: random.Random, caption: str) -> Picture:
    """A landscape as a JPEG: a sky, a sun, rolling hills, and the caption on a dark band."""
    width, height = PHOTO_SIZE
    top, horizon = rng.choice(SKIES)
    image = Image.new("RGB", PHOTO_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=_mix(top, horizon, y / height))
    sun_x, sun_y, radius = rng.randrange(40, width - 40), rng.randrange(30, 110), 22
    draw.ellipse((sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius), (255, 236, 180))
    ground = (rng.randrange(40, 110), rng.randrange(110, 170), rng.randrange(50, 90))
    for layer in range(3):
        base = 130 + layer * 30
        points = [(0, height)]
        for x in range(0, width + 40, 40):
            points.append((x, base + rng.randrange(-25, 25)))
        points.append((width, height))
        draw.polygon(points, fill=_mix(ground, (20, 40, 30), layer / 3))
    _caption(image, caption, height - 30)
    return Picture(_encoded(image, "JPEG", quality=85), "postcard.jpg", "image/jpeg")


def card(rng: random.Random, title: str, subtitle: str) -> Picture:
    """A greeting card or ticket as a PNG: confetti on a coloured ground, a white panel, text."""
    width, height = CARD_SIZE
    ground = rng.choice(CARD_COLOURS)
    image = Image.new("RGB", CARD_SIZE, ground)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(3, 9)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice(CONFETTI))
    draw.rounded_rectangle((24, 50, width - 24, height - 50), radius=14, fill=(255, 255, 255))
    title_font = ImageFont.load_default(size=_fitted(title, 26, width - 64))
    draw.text((width / 2, height / 2 - 14), title, fill=ground, font=title_font, anchor="mm")
    sub_font = ImageFont.load_default(size=_fitted(subtitle, 14, width - 64))
    draw.text((width / 2, height / 2 + 18), subtitle, fill=(60, 60, 60), font=sub_font, anchor="mm")
    name = "ticket.png" if title == "ADMIT ONE" else "card.png"
    return Picture(_encoded(image, "PNG"), name, "image/png")


def _caption(image: Image.Image, text: str, top: int) -> None:
    band = Image.new("RGBA", (image.width, image.height - top), (0, 0, 0, 140))
    image.paste(band, (0, top), band)
    font = ImageFont.load_default(size=_fitted(text, 18, image.width - 20))
    mid = (image.width / 2, top + (image.height - top) / 2)
    ImageDraw.Draw(image).text(mid, text, fill=(255, 255, 255), font=font, anchor="mm")


def _fitted(text: str, size: int, width: int) -> int:
    """The largest font size up to `size` at which `text` fits in `width` pixels."""
    while size > 8 and ImageFont.load_default(size=size).getlength(text) > width:
        size -= 1
    return size


def _mix(a: RGB, b: RGB, share: float) -> RGB:
    mixed = (round(x + (y - x) * share) for x, y in zip(a, b, strict=True))
    return (next(mixed), next(mixed), next(mixed))


def _encoded(image: Image.Image, kind: str, **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()
