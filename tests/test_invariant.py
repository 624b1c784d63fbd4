"""Issue 16's invariant, over real HTTP and for any input: "answered `ID:` => listed and charged;
answered `ERR:` => not charged".

Each example sets the account's credit, then fires a few sends at a real `gateway-sim serve` at
once (a batch write that one hostile field breaks loses its neighbours' messages, which one send
at a time would not show): forms with odd charsets and raw bytes, `/api/https` forms, JSON of the
wrong kinds with `\\udfff` escapes, multipart MMS with odd file names and content types, the
issue's own reproducers, and a top-up racing them. Then:

- no answer is a 500 or a hang, and every 200 is an answer the protocol allows;
- the messages listed now are exactly those listed before plus one per id answered (`ID:`, the
  `number,ID:` lines of a multi-line answer, JSON `messages[].id`), each readable on its own;
- each lists its cost for all its recipients (the price list's, times the recipients answered
  `ID:`), and the credit spent (before, plus the top-up, minus after) is the sum of those costs,
  so an `ERR:` cost nothing;
- the journal still reads, MMS parts still fetch, and the server logged no traceback.

The same runs go to the in-memory store and to a `--db` file, which then also outlives a SIGKILL.
Runs are derandomised (the same examples every run) like tests/test_properties.py. A failing
example's notes show each request as the bytes that were sent, and its answer.

One kind of input is kept out of the property and tested on its own: a line break in a `to`
entry, which the multi-line answer echoes, writing lines of its own into the answer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from tests.protocol_answers import PROTOCOL_ANSWER
from tests.serving import Served, served

INVARIANT = settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no "explain": it reruns sends
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
TIMEOUT = httpx.Timeout(10.0)
"""Far above any answer here (no magic slow or hanging number is ever drawn): past it, a hang."""
SENDERS = 4
SEND = "/smsgateway/sendmsg.aspx"
MMS = "/smsgateway/default.aspx"
HTTPS_SEND = "/api/https/sendmsg.aspx"
JSON_SEND = "/api/json/sendmsg.aspx"
SECURE = ("X-Forwarded-Proto", "https")  # served with --trust-proxy: past the HTTPS gate
AUTH = {"authtype": "accesskey", "accesskey": "demo-access", "secretkey": "demo-secret"}
PER_PART = {
    1,
    2,
    6,
}  # types priced per SMS part (README "What is simulated": parts, prices; billing.PriceList)
PRICE_NAMES = {
    1: "sms_part",
    2: "unicode_part",
    3: "binary",
    4: "wap_push",
    5: "mms",
    6: "voice_part",
}
DELAY = re.compile(rb"\ADELAY:\d+\Z")  # a rule's throttle (07700 900803): neither ID nor ERR


# --- A request as bytes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """One request, byte for byte; its repr is the reproducer a failing example prints."""

    method: str
    target: str  # path and query, percent-encoded as sent
    headers: tuple[tuple[str, str], ...]  # values sent as their latin-1 bytes
    body: bytes

    @property
    def json_answer(self) -> bool:
        return self.target.lower().startswith("/api/json/")

    def __repr__(self) -> str:
        """The request as a Python expression of its bytes, to send with a socket (or `nc`) to
        the port a server listens on."""
        head = f"{self.method} {self.target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        if self.method == "POST":
            head += f"Content-Length: {len(self.body)}\r\n"
        head_bytes = (head + "\r\n").encode("latin-1")
        return f"Send({head_bytes!r} + {_bytes_expression(self.body)})"


def _bytes_expression(data: bytes) -> str:
    """`data` as a Python expression that rebuilds it, long runs of one byte written `b"9" * n`
    so that a 5,000-digit field stays readable in a failure report."""
    pieces: list[str] = []
    plain = bytearray()
    at = 0
    while at < len(data):
        end = at
        while end < len(data) and data[end] == data[at]:
            end += 1
        if end - at >= 32:
            if plain:
                pieces.append(repr(bytes(plain)))
                plain.clear()
            pieces.append(f"{data[at : at + 1]!r} * {end - at}")
        else:
            plain += data[at:end]
        at = end
    if plain or not pieces:
        pieces.append(repr(bytes(plain)))
    return " + ".join(pieces)


# --- Values: hostile text and bytes -------------------------------------------------------------

hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cs"]),  # lone surrogates, which Hypothesis's text leaves out
        st.characters(),
        st.sampled_from("\x00\u20ac\u00e9\u2603+%&=,\\\"'\r\n\ufffd\U0001f600"),
    ),
    max_size=16,
)
LONG_VALUES = [
    b"9" * 5000,
    b"x" * 20_000,
    "\u20ac".encode() * 700,
    "\u2603".encode() * 1000,
    b"\xed\xbf\xbf" * 300,  # a lone surrogate's UTF-8 bytes, many times
    b"\x00" * 3000,
]


def _encoded(text: str, codec: str) -> bytes:
    return text.encode(codec, errors="surrogatepass" if codec.startswith("utf") else "replace")


field_value = st.one_of(
    st.builds(_encoded, hostile_text, st.sampled_from(["utf-8", "utf-7", "utf-16-le", "latin-1"])),
    st.binary(max_size=24),
    st.sampled_from(LONG_VALUES),
)
"""A form value's bytes: text in several encodings (UTF-7 writes a lone surrogate as `+2AA-`),
bytes that are no UTF-8, and very long runs."""


def mostly(usual: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` seven times in eight: a send refused at its first check never reaches the store,
    and a send has several such checks, so most must pass for the rest of its hostility (the
    fields that are taken whatever they hold) to reach the store."""
    if not rare:
        return usual
    return weighted([usual] * 7 + [st.one_of(*rare)])


def weighted(choices: list[st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of `choices`, each as often as it is listed. Not `one_of`: given the same strategy
    three times and another once, it was measured drawing the other about half the time."""
    return st.sampled_from(choices).flatmap(lambda chosen: chosen)


usually = mostly(st.just(True), st.just(False))


maxconcat = mostly(
    st.sampled_from([b"1", b"2", b"3", b"10"]),
    st.sampled_from([b"11", b"0", b"-1", b" 2 ", b"9" * 5000, b"\xd9\xa3", b""]),
)


# --- Recipients ---------------------------------------------------------------------------------

ROUTABLE = [
    "07700900123",
    "447700900124",
    "+44 7700 900125",
    "0044 (7700) 900-126",
    "07700.900.127",
    "447700900123",  # the first again, once normalised
]
UNROUTABLE = [
    "12",
    "abc",
    "\u2603",
    "0770090012\udfff",
    "\ud800",
    "\x00",
    "07700900\x00124",
    "\uff10\uff17\uff17\uff10\uff10",  # full-width digits
    "\u0660\u0667\u0667",  # Arabic-Indic digits
    "+",
    "07700900900",  # the default scenario's unroutable range
    "1" * 5000,
]
MAGIC = ["07700900801", "07700900802", "07700900803", "07700900808", "07700900809"]
"""The default scenario's errors (gateway, internal, DELAY, credit) and a failing delivery; never
its slow, reset, hang or HTTP 500 numbers (804-807), which are no answer to judge."""
HUNDRED = [f"0770090{n:04d}" for n in range(1000, 1100)]
entry = mostly(
    st.sampled_from(ROUTABLE),
    st.sampled_from(UNROUTABLE),
    st.text(max_size=12),  # line breaks included: see test_a_recipient_cannot_write_a_line_...
)
entries = mostly(
    st.lists(entry, min_size=1, max_size=4),
    st.tuples(st.sampled_from(MAGIC), entry).map(list),  # a rule fires for the whole send
    st.just(HUNDRED),  # 100 recipients, one id
    st.just([*HUNDRED, "07700900123"]),  # 101: ERR:TOO_MANY_NUMBERS
    st.just(["", " ", ""]),  # no numbers: ERR:NO_TO
)


# --- Form sends: legacy and /api/https -----------------------------------------------------------

CHARSETS = [
    "",
    "; charset=utf-8",
    "; charset:utf-8",  # the Java SDK's, colon and all
    "; charset=utf-7",
    "; charset=rot13",
    "; charset=base64",
    "; charset=idna",
    "; charset=latin-1",
    "; charset=iso-8859-1",
    "; charset=utf-16",
    "; charset=nonsense",
    '; charset="utf-8"',
    "; charset=",
]
credentials = mostly(
    st.sampled_from([(b"demo", b"demo"), (b"DEMO", b"demo")]),  # names match in any case
    st.sampled_from([(b"demo", b"wrong"), (b"demo\x00", b"demo"), (b"", b"")]),
)


def _quoted(value: bytes, raw: bool) -> bytes:
    """A form value percent-encoded, or sent as its raw bytes (only `&` and `=` escaped)."""
    if raw:
        return value.replace(b"&", b"%26").replace(b"=", b"%3D")
    return quote_from_bytes(value, safe="").encode()


@st.composite
def form_sends(draw: st.DrawFn, keyed: bool = False) -> Send:
    if keyed:
        fields = [(b"accesskey", b"demo-access"), (b"secretkey", b"demo-secret")]
    else:
        user, password = draw(credentials)
        fields = [(b"username", user), (b"password", password)]
    to = ",".join(draw(entries)).encode("utf-8", errors="surrogatepass")
    fields.append((draw(st.sampled_from([b"to", b"TO"])), to))
    kind = draw(
        mostly(
            st.sampled_from([b"1", b"1", b"2", b"3", b"4", b"6"]),
            st.sampled_from([b"", b"5", b"7", b"\xd9\xa3"]),  # 5: an MMS with no file part
        )
    )
    if kind:
        fields.append((b"type", kind))
    if kind == b"2":
        text = draw(hostile_text)  # lone surrogates in UCS-2 hex: U+FFFD, as the README says
        digits = text.encode("utf-16-be", errors="surrogatepass").hex()
        digits = draw(st.sampled_from([digits, digits.upper(), digits + "d8", "DFFF" * 200]))
        fields.append((b"hex", digits.encode()))
    elif kind == b"3":
        fields.append((b"ud", draw(st.sampled_from([b"0A0B", b"00" * 140, b"0G", b""]))))
        if draw(st.booleans()):
            fields.append((b"udh", draw(st.sampled_from([b"050003CC0201", b"F", b"\xff"]))))
    elif kind == b"4":
        href = draw(st.sampled_from([b"http://example.com/\xe2\x98\x83", b"https://a.b/", b"x"]))
        fields.append((b"href", href))
    if kind != b"2" or draw(st.booleans()):
        fields.append((b"text", draw(field_value)))
    for name, value in (
        (b"from", field_value),
        (b"usercontext", field_value),
        (b"maxconcat", maxconcat),
    ):
        if draw(st.booleans()):
            fields.append((name, draw(value)))
    if draw(st.booleans()):
        fields.append((b"delrpt", b"1"))
    if draw(st.booleans()):
        fields.append((b"to", draw(st.sampled_from([b"07700900128", b"", b"\xff"]))))
    raw = draw(st.booleans())
    # Credentials in the query and the rest in the body, all in the query, or all in the body;
    # a query is always percent-encoded (raw bytes there are no HTTP request line at all).
    split = draw(st.sampled_from(["body", "body", "query", "both"]))
    cut = {"body": 0, "both": 2, "query": len(fields)}[split]
    in_query = [name + b"=" + _quoted(value, False) for name, value in fields[:cut]]
    in_body = [name + b"=" + _quoted(value, raw) for name, value in fields[cut:]]
    target = HTTPS_SEND if keyed else draw(st.sampled_from([SEND, MMS, "/SMSGateway/SendMsg.aspx"]))
    if in_query:
        target += "?" + b"&".join(in_query).decode("latin-1")
    headers: list[tuple[str, str]] = [SECURE] if keyed else []
    charset = draw(st.sampled_from(CHARSETS))
    if in_body and draw(usually):
        headers.append(("Content-Type", "application/x-www-form-urlencoded" + charset))
    method = "GET" if split == "query" and draw(st.booleans()) else "POST"
    return Send(method, target, tuple(headers), b"&".join(in_body))


# --- JSON sends ----------------------------------------------------------------------------------

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=6,
)
BIG = "__5000_DIGITS__"
"""Stands for a JSON number of 5,000 digits, which `json.dumps` of an int refuses to write."""
JSON_SLOTS = [
    ("message", "to"),
    ("message", "from"),
    ("message", "usercontext"),
    ("message", "delrpt"),
    ("content", "msgtype"),
    ("content", "text"),
    ("content", "maxconcat"),
    ("content", "ud"),
]


@st.composite
def json_sends(draw: st.DrawFn) -> Send:
    msgtype = draw(mostly(st.sampled_from(["text", "text", "unicode", "binary"]), st.just("TEXT")))
    content: dict[str, Any] = {"msgtype": msgtype}
    if msgtype == "binary":
        content["ud"] = draw(st.sampled_from(["0A0B", "00" * 141, "zz"]))
    else:
        content["text"] = draw(
            st.one_of(hostile_text, st.sampled_from(["x" * 2000, "\udfff" * 80]))
        )
    recipients = draw(entries)
    to: Any = recipients if draw(st.booleans()) else ",".join(recipients)
    message: dict[str, Any] = {"to": to, "channel": "sms", "content": content}
    if draw(st.booleans()):
        message["usercontext"] = draw(st.one_of(st.just("\udfff"), hostile_text))
    if draw(st.booleans()):
        message["from"] = draw(st.one_of(st.just("447700900000"), hostile_text))
    if draw(st.booleans()):
        message["delrpt"] = draw(st.sampled_from([1, "1", True]))
    if draw(st.booleans()):
        content["maxconcat"] = draw(
            mostly(st.sampled_from([1, 3, 10, "2", True]), st.sampled_from([11, 0, -1, 2.0, BIG]))
        )
    # Up to two values of the wrong kind: lists and objects where strings go, numbers, null.
    wrong = st.lists(st.sampled_from(JSON_SLOTS), min_size=1, max_size=2, unique=True)
    for outer, name in draw(mostly(st.just([]), wrong)):
        (content if outer == "content" else message)[name] = draw(json_value)
    auth = draw(
        mostly(st.just(AUTH), st.sampled_from([{**AUTH, "secretkey": "no"}, {"authtype": 1}]))
    )
    document = {"auth": auth, "message": message}
    if draw(st.booleans()):  # `\udfff` escapes
        body = json.dumps(document).encode()
    else:  # the escapes' UTF-8 bytes, which json.loads lets through
        body = json.dumps(document, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    body = body.replace(json.dumps(BIG).encode(), b"9" * 5000)
    headers: list[tuple[str, str]] = []
    if draw(usually):
        headers.append(SECURE)
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                "application/json; charset=utf-7",
                "text/plain",
                "",
            ]
        )
    )
    if content_type:
        headers.append(("Content-Type", content_type))
    return Send("POST", JSON_SEND, tuple(headers), body)


# --- MMS: multipart, type 5 -----------------------------------------------------------------------

FILE_NAMES = [
    b"a.png",
    "snow\u2603.png".encode(),
    "caf\u00e9.gif".encode("latin-1"),
    b'a\\"b.png',
    b"..\\..\\boot.ini",
    b"\xff\xfe.jpg",
    b"",
    b"a\x00b.png",
    b"%00.png",
    b"x" * 2000 + b".png",
    "\udfff.png".encode("utf-8", errors="surrogatepass"),
]
CONTENT_TYPES = [
    b"image/png",
    b"image/gif",
    b"text/plain; charset=utf-7",
    b"image/svg+xml",
    b"text/html",
    b"",
    b'image/png; name="x',
    b"not a type",
    b"image/png\x00",
    b"\xff\xfe/\xfd",
    b"image/png\x0bSet-Cookie: a=1",
    None,
]
transfer_encoding = mostly(
    st.sampled_from([None, None, b"binary", b"8bit", b"base64", b"BASE64"]),
    st.sampled_from([b"quoted-printable", b"\xff"]),
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@st.composite
def file_parts(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(FILE_NAMES))
    disposition = draw(
        st.sampled_from(
            [
                b'form-data; filename="' + name + b'"',
                b'form-data; name="file"; filename="' + name + b'"',
                b"form-data; name=\"f\"; filename*=UTF-8''" + quote_from_bytes(name).encode(),
                b"attachment; filename=" + name,
            ]
        )
    )
    head = b"Content-Disposition: " + disposition + b"\r\n"
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        head += b"Content-Type: " + content_type + b"\r\n"
    data = draw(st.one_of(st.just(PNG), st.binary(max_size=48)))
    encoding = draw(transfer_encoding)
    if encoding is not None:
        head += b"Content-Transfer-Encoding: " + encoding + b"\r\n"
        if encoding.lower() == b"base64" and draw(usually):  # else: not base64 at all
            data = base64.b64encode(data)
    return head + b"\r\n" + data


@st.composite
def mms_sends(draw: st.DrawFn) -> Send:
    user, password = draw(credentials)
    fields = [
        (b"username", user),
        (b"password", password),
        (b"to", ",".join(draw(entries)).encode("utf-8", errors="surrogatepass")),
        (b"type", draw(mostly(st.just(b"5"), st.sampled_from([b" 5", b"1"])))),
        (
            b"from",
            draw(
                mostly(
                    st.sampled_from([b"", b"447700900000", b"+60000"]),
                    st.sampled_from([b"ACME", b"\xff", b"\xd9\xa3"]),  # MMS senders are digits
                )
            ),
        ),
        (b"text", draw(field_value)),  # the subject
    ]
    boundary = draw(
        mostly(st.sampled_from([b"AaB03x", b"'()+_,-./:=?"]), st.just(b"----x\xe2\x98\x83"))
    )
    parts = []
    for name, value in fields:
        head = b'Content-Disposition: form-data; name="' + name + b'"\r\n'
        if name == b"text" and draw(st.booleans()):
            head += b"Content-Type: text/plain; charset=" + draw(
                st.sampled_from([b"utf-7", b"rot13"])
            )
            head += b"\r\n"
        parts.append(head + b"\r\n" + value)
    parts += draw(mostly(st.lists(file_parts(), min_size=1, max_size=3), st.just([])))
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary + b"--\r\n"
    charset = draw(st.sampled_from(["", "; charset=utf-7", "; charset=rot13"]))
    content_type = f'multipart/form-data; boundary="{boundary.decode("latin-1")}"{charset}'
    target = draw(st.sampled_from([MMS, SEND]))
    return Send("POST", target, (("Content-Type", content_type),), body)


# --- The issue's reproducers, drawn among the rest -------------------------------------------------


def _form(body: bytes, charset: str = "") -> Send:
    headers = (("Content-Type", "application/x-www-form-urlencoded" + charset),)
    return Send("POST", SEND, headers, body)


def _json(message: dict[str, Any]) -> Send:
    body = json.dumps({"auth": AUTH, "message": message}).encode()
    return Send("POST", JSON_SEND, (SECURE, ("Content-Type", "application/json")), body)


LOGIN = b"username=demo&password=demo&"
ISSUE_SENDS = [
    _form(LOGIN + b"to=07700900123&text=hi&from=%2B2AA-", "; charset=utf-7"),
    _json({"to": "07700900123", "usercontext": "\udfff", "content": {"text": "hi"}}),
    *(
        _form(LOGIN + b"to=07700900123&text=caf%E9", f"; charset={c}")
        for c in ("rot13", "base64", "idna")
    ),
    _form(LOGIN + b"to=07700900123&text=hi&maxconcat=" + b"9" * 5000),
    _json({"to": "07700900123", "content": {"msgtype": ["text"], "text": "hi"}}),
    _json({"to": "07700900123", "content": {"msgtype": {"a": 1}, "text": "hi"}}),
    _json({"to": "0770090012\udfff,07700900124", "content": {"text": "hi"}}),
    _json({"to": "07700900123", "content": {"msgtype": "unicode", "text": "a\ud800b"}}),
    _form(LOGIN + b"to=07700900123,07700900124&type=2&hex=0041D800DFFF0042"),
    _form(LOGIN + b"to=07700900123&text=%ED%BF%BF%00&usercontext=%ED%A0%80&from=%00"),
    _form(LOGIN + b"to=07700900123&text=\xe9\xff\xfe"),  # raw bytes, no UTF-8
    Send(
        "POST",
        MMS,
        (("Content-Type", "multipart/form-data; boundary=AaB03x"),),
        b"".join(
            b'--AaB03x\r\nContent-Disposition: form-data; name="' + n + b'"\r\n\r\n' + v + b"\r\n"
            for n, v in (
                (b"username", b"demo"),
                (b"password", b"demo"),
                (b"to", b"07700900123"),
                (b"type", b"5"),
            )
        )
        + b'--AaB03x\r\nContent-Disposition: form-data; filename="snow\xe2\x98\x83.png"\r\n'
        + b"Content-Type: image/png\r\n\r\n"
        + PNG
        + b"\r\n--AaB03x--\r\n",
    ),
]

any_send = weighted(
    [
        *[form_sends()] * 2,
        form_sends(keyed=True),
        *[json_sends()] * 2,
        mms_sends(),
        st.sampled_from(ISSUE_SENDS),
    ]
)


# --- The server, and reading it --------------------------------------------------------------------


class Sim:
    """A `gateway-sim serve` on the default scenario (trusting X-Forwarded-Proto), in memory or
    on a `db` file, that can be killed and started again on the same file."""

    def __init__(self, db: Path | None) -> None:
        self.db = db
        self._running = ExitStack()
        self.server, self.http = self._start()
        listed = self.http.get("/_sim/scenario").json()["prices"]
        self.prices = {kind: Decimal(listed[name]) for kind, name in PRICE_NAMES.items()}

    def _start(self) -> tuple[Served, httpx.Client]:
        flags = ["--trust-proxy", *(["--db", str(self.db)] if self.db else [])]
        server = self._running.enter_context(served(*flags))
        http = self._running.enter_context(httpx.Client(base_url=server.url, timeout=TIMEOUT))
        return server, http

    def kill_and_restart(self) -> None:
        """SIGKILL, then a new process on the same file: no shutdown gets to write anything."""
        self.server.process.kill()
        self.server.process.wait(timeout=10)
        self._running.close()
        self.server, self.http = self._start()

    def close(self) -> None:
        self._running.close()


@pytest.fixture(scope="module", params=["memory", "db"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    db = tmp_path_factory.mktemp("invariant") / "sim.db" if request.param == "db" else None
    simulator = Sim(db)
    yield simulator
    simulator.close()


def _about(send: Send, *facts: object) -> str:
    """An assertion's message: what went wrong, then the request that did it, as bytes."""
    return "\n".join([*map(str, facts), f"request: {send!r}"])


def _credit(http: httpx.Client) -> Decimal:
    answer = http.get("/_sim/accounts")
    assert answer.status_code == 200, answer.text
    return Decimal(next(a["credit"] for a in answer.json()["accounts"] if a["username"] == "demo"))


def _listing(http: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every message listed, by id, read page by page through `next_cursor`."""
    listed: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    for _ in range(10_000):
        params = {"limit": "100"} if cursor is None else {"limit": "100", "cursor": cursor}
        page = http.get("/_sim/messages", params=params)
        assert page.status_code == 200, page.text
        for message in page.json()["messages"]:
            assert message["id"] not in listed, f"listed twice: {message['id']}"
            listed[message["id"]] = message
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return listed
    raise AssertionError("next_cursor never ran out")


@dataclass(frozen=True)
class Accepted:
    """An id as answered: to which recipients (as the answer shows them), for what credits."""

    id: str
    shown: tuple[str, ...] | None  # None: a single-line `ID:`, one recipient
    credits: Decimal | None  # JSON's `creditsused`, summed; None on the plain-text paths


def _exchange(http: httpx.Client, send: Send) -> httpx.Response:
    try:
        headers = [(name.encode(), value.encode("latin-1")) for name, value in send.headers]
        return http.request(send.method, send.target, headers=headers, content=send.body)
    except httpx.HTTPError as failed:  # a timeout is a hang; a reset or close is no answer
        raise AssertionError(f"no answer ({failed!r}) to {send!r}") from failed


def _accepted(send: Send, response: httpx.Response) -> list[Accepted]:
    """The ids an answer gives, after checking that it is an answer at all."""
    status, body = response.status_code, response.content
    assert status < 500, _about(send, f"HTTP {status}", body[:300])
    if status != 200:
        assert status >= 400, _about(send, f"HTTP {status}", body[:300])
        return []
    if send.json_answer:
        return _json_accepted(send, response)
    assert PROTOCOL_ANSWER.match(body) or DELAY.match(body), _about(
        send, "no protocol answer", body
    )
    lines = body.decode().split("\r\n")
    if len(lines) == 1:
        return [Accepted(lines[0][3:], None, None)] if lines[0].startswith("ID:") else []
    results = [line.split(",") for line in lines]
    ids = {result[3:] for _, result in results if result.startswith("ID:")}
    assert len(ids) <= 1, _about(send, "more than one id for one submission", body)
    shown = tuple(number for number, result in results if result.startswith("ID:"))
    return [Accepted(ids.pop(), shown, None)] if ids else []


def _json_accepted(send: Send, response: httpx.Response) -> list[Accepted]:
    answer = response.json()
    if answer["response_status"] == "failure":
        assert answer["errors"], _about(send, answer)
        assert all(e["error"] and e["error_code"] for e in answer["errors"]), _about(send, answer)
        return []
    assert answer["response_status"] == "ok", _about(send, answer)
    taken = [m for m in answer["messages"] if "id" in m]
    assert all("error" in m for m in answer["messages"] if "id" not in m), _about(send, answer)
    ids = {m["id"] for m in taken}
    assert len(ids) <= 1, _about(send, "more than one id for one submission", answer)
    if not ids:
        return []
    credits = sum((Decimal(m["creditsused"]) for m in taken), Decimal(0))
    return [Accepted(ids.pop(), tuple(m["to"] for m in taken), credits)]


def _shape(send: Send, response: httpx.Response) -> str:
    """A send's dialect and its answer's kind, as the statistics count them."""
    dialect = "json" if send.json_answer else "form"
    if send.target.startswith(HTTPS_SEND):
        dialect = "https"
    if any(value.startswith("multipart/") for _, value in send.headers):
        dialect = "multipart"
    if response.status_code != 200:
        return f"{dialect}: HTTP {response.status_code}"
    found = re.search(
        rb"ID:|ERR:[A-Z_]+|DELAY|invalid_request|[a-z_]+_(?:invalid|missing)", response.content
    )
    shown = found.group().decode() if found else response.text[:40]
    lines = response.content.count(b"\n") + 1
    return f"{dialect}: {shown}" + (" (multi-line)" if lines > 1 and not send.json_answer else "")


def _price(sim: Sim, message: dict[str, Any]) -> Decimal:
    """What the price list asks for `message`: per part or flat, times its recipients."""
    kind = message["type"]
    each = sim.prices[kind] * (message["parts"] if kind in PER_PART else 1)
    return each * len(message["to"])


# --- The invariant ----------------------------------------------------------------------------------


@INVARIANT
@given(
    sends=st.lists(any_send, min_size=1, max_size=8),
    credit=mostly(st.just("100000"), st.sampled_from(["0", "4", "57.5"])),
    topup=st.sampled_from([None, None, "1", "2.5", "1000"]),
)
def test_an_id_answered_is_listed_and_charged_and_an_error_costs_nothing(
    sim: Sim, sends: list[Send], credit: str, topup: str | None
) -> None:
    http = sim.http
    assert http.put("/_sim/accounts/demo", json={"credit": credit}).status_code == 200
    credit_before = _credit(http)
    listed_before = _listing(http)

    with ThreadPoolExecutor(SENDERS) as senders:
        answers = [senders.submit(_exchange, http, send) for send in sends]
        topped = None
        if topup is not None:
            topped = senders.submit(http.post, "/_sim/accounts/demo/topup", json={"credit": topup})
        responses = [answer.result() for answer in answers]
    if topped is not None:
        assert topped.result().status_code == 200, topped.result().text

    accepted: dict[str, tuple[Accepted, Send]] = {}
    for send, response in zip(sends, responses, strict=True):
        note(f"{send!r}\n  -> {response.status_code} {response.content[:300]!r}")
        event(_shape(send, response))  # --hypothesis-show-statistics: what the runs covered
        for taken in _accepted(send, response):
            assert taken.id not in accepted, _about(send, f"{taken.id} answered twice")
            accepted[taken.id] = (taken, send)

    listed = _listing(http)
    credit_after = _credit(http)
    for known, message in listed_before.items():  # nothing kept before was lost or repriced
        assert known in listed, f"message {known} was listed before this example, not after"
        assert listed[known]["cost"] == message["cost"], (known, message, listed[known])
    new = {key: message for key, message in listed.items() if key not in listed_before}
    lost = [
        _about(send, f"answered ID:{k}, not listed")
        for k, (_, send) in accepted.items()
        if k not in new
    ]
    assert not lost, "\n".join(lost)
    assert set(new) <= set(accepted), (
        f"listed, never answered ID: {sorted(set(new) - set(accepted))}"
    )
    spent = credit_before + Decimal(topup or 0) - credit_after
    costs = {key: Decimal(message["cost"]) for key, message in new.items()}
    assert spent == sum(costs.values(), Decimal(0)), (
        f"credit spent {spent} (from {credit_before}, top-up {topup}, to {credit_after}) is not "
        f"the sum of the listed messages' costs {costs}: a send answered ERR: was charged, or a "
        "message lists less than its debit (the notes show every request and its answer)"
    )

    for key, (taken, send) in accepted.items():
        one = http.get(f"/_sim/messages/{key}")
        assert one.status_code == 200, _about(send, f"GET /_sim/messages/{key}", one.text[:300])
        message = one.json()
        kept = (message["id"], message["cost"], message["to"], message["account"])
        assert kept == (key, new[key]["cost"], new[key]["to"], "demo"), _about(send, message)
        # The cost covers every recipient the answer gave the id to, at the scenario's price.
        recipients = [*taken.shown] if taken.shown is not None else message["to"][:1]
        assert sorted(message["to"]) == sorted(recipients), _about(send, message, taken)
        assert Decimal(message["cost"]) == _price(sim, message), _about(send, message)
        if taken.credits is not None:
            assert taken.credits == Decimal(message["cost"]), _about(send, message, taken)
        for n, _ in enumerate(message["content"]):
            part = http.get(f"/_sim/messages/{key}/parts/{n}")
            assert part.status_code in (200, 410), _about(send, f"part {n}: {part.status_code}")

    journal = http.get("/_sim/requests", params={"limit": "5"})
    assert journal.status_code == 200, journal.text[:300]
    assert "Traceback" not in sim.server.logged(), sim.server.logged()[-3000:]


def test_with_a_db_file_every_id_answered_outlives_a_kill(sim: Sim) -> None:
    """What was answered, here and in the property's examples before it (pytest keeps a
    module's order for each server), is all still there, credit too, after SIGKILL and a start."""
    if sim.db is None:
        pytest.skip("in memory, nothing is meant to outlive the process")
    answered = [_accepted(send, _exchange(sim.http, send)) for send in ISSUE_SENDS]
    ids = {taken.id for found in answered for taken in found}
    listed, credit = _listing(sim.http), _credit(sim.http)
    assert ids, "none of the issue's sends was answered ID:"
    assert ids <= set(listed)
    sim.kill_and_restart()
    shown = ("cost", "to", "type", "parts", "text")
    relisted = _listing(sim.http)
    assert {k: [m[f] for f in shown] for k, m in relisted.items()} == {
        k: [m[f] for f in shown] for k, m in listed.items()
    }
    assert _credit(sim.http) == credit


# --- A recipient's text in a multi-line answer ---------------------------------------------------


@pytest.mark.parametrize(
    "to",
    [
        "ID:10011000000000000042\r\nx,12",
        "ID:10011000000000000042\nx,12",
        "ID:10011000000000000042\rx,12",
        "x\r\nID:10011000000000000042\r\ny,07700900123",
    ],
    ids=["crlf", "lf", "cr", "inside"],
)
def test_a_recipient_cannot_write_a_line_of_the_answer(sim: Sim, to: str) -> None:
    """A multi-line answer echoes an unroutable entry as it was sent (README "What is simulated": numbers); a line
    break in it must not give the client a line of its own. Here every recipient is refused and
    nothing is charged, yet the answer starts `ID:10011000000000000042`, an id never issued: a
    client that tests that the body starts with `ID` (README "What is simulated": answers), or reads a bare result line
    (the PHP SDK), takes it for an accepted message."""
    body = LOGIN + b"text=hi&to=" + quote_from_bytes(to.encode(), safe="").encode()
    send = _form(body)
    response = _exchange(sim.http, send)
    assert response.status_code == 200, response.text
    assert PROTOCOL_ANSWER.match(response.content), _about(send, response.content)
