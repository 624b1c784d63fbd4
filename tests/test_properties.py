"""Property-based tests (Hypothesis) of the parsers: numbers, hex, GSM-7/UCS-2 part counting,
urlencoded and multipart bodies. Each property states an invariant the protocol needs; the HTTP
properties say that whatever arrives, the answer is one the gateway gives or a 4xx, never a 500:
at every gateway endpoint and `/api/json`, forms, multipart and JSON of any shape (wrong JSON
types, lone surrogates, charsets that are no text encoding), and what was taken in is kept.

Runs are derandomised (the same examples every run) so CI stays deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway_sim.domain.billing import CONCATENATED, GSM7_BASIC, GSM7_EXTENSION, SINGLE, segment
from gateway_sim.domain.content import build_content
from gateway_sim.domain.errors import GatewayError
from gateway_sim.domain.numbers import NumberPlan, is_digits, normalise, split_recipients
from gateway_sim.domain.scenario import Numbers
from gateway_sim.domain.text import charset_of, decode_field
from gateway_sim.wire.form import parse_urlencoded
from gateway_sim.wire.multipart import MalformedBody, MultipartReader
from tests.conftest import BALANCE, MMS, SEND, build_app
from tests.helpers import GATEWAY_PATHS
from tests.protocol_answers import assert_protocol_answer

FAST = settings(derandomize=True, deadline=None, max_examples=300, database=None)
HTTP = settings(
    derandomize=True,
    deadline=None,
    max_examples=120,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

GSM7 = sorted(GSM7_BASIC | GSM7_EXTENSION)
gsm7_text = st.text(alphabet=st.sampled_from(GSM7), max_size=2000)
any_text = st.text(max_size=800)


# --- GSM-7 / UCS-2 part counting ---------------------------------------------------------------


def _width(char: str, encoding: str) -> int:
    if encoding == "gsm7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def _parts_needed(text: str, encoding: str) -> int:
    """Greedy packing, written independently of billing's: a character never straddles parts."""
    total = sum(_width(c, encoding) for c in text)
    if total <= SINGLE[encoding]:
        return 1
    parts, used = 1, 0
    for char in text:
        width = _width(char, encoding)
        if used + width > CONCATENATED[encoding]:
            parts, used = parts + 1, 0
        used += width
    return parts


@FAST
@given(text=st.one_of(gsm7_text, any_text), maxconcat=st.integers(1, 10))
def test_segment_counts_and_cuts_like_the_protocol(text: str, maxconcat: int) -> None:
    cut = segment(text, maxconcat)
    expected_encoding = (
        "gsm7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "ucs2"
    )
    assert cut.encoding == expected_encoding
    needed = _parts_needed(text, cut.encoding)
    assert 1 <= cut.parts <= maxconcat
    assert text.startswith(cut.text)
    if needed <= maxconcat:
        assert (cut.text, cut.parts, cut.dropped) == (text, needed, 0)
    else:
        assert cut.dropped == len(text) - len(cut.text) > 0
        assert cut.parts == maxconcat
        assert _parts_needed(cut.text, cut.encoding) <= maxconcat
        # Nothing more would have fitted: one more character needs another part.
        assert _parts_needed(text[: len(cut.text) + 1], cut.encoding) > maxconcat or (
            maxconcat == 1
            and sum(_width(c, cut.encoding) for c in text[: len(cut.text) + 1])
            > SINGLE[cut.encoding]
        )


@FAST
@given(text=st.text(max_size=300), upper=st.booleans(), maxconcat=st.integers(1, 10))
def test_unicode_hex_round_trips_any_text(text: str, upper: bool, maxconcat: int) -> None:
    digits = text.encode("utf-16-be", errors="surrogatepass").hex()
    fields = {"hex": digits.upper() if upper else digits, "maxconcat": str(maxconcat)}
    if not digits:
        with pytest.raises(GatewayError, match="hex"):
            build_content(2, fields, [], "", 1000)
        return
    content = build_content(2, fields, [], "", 1000)
    assert content.encoding == "ucs2"
    assert content.text is not None
    assert text.startswith(content.text)
    assert content.dropped == len(text) - len(content.text)


@FAST
@given(digits=st.text(alphabet="0123456789abcdefABCDEFxyz -", max_size=60))
def test_malformed_hex_is_the_gateways_own_error(digits: str) -> None:
    well_formed = bool(re.fullmatch(r"(?:[0-9A-Fa-f]{4})+", digits))
    if well_formed:
        assert build_content(2, {"hex": digits}, [], "", 1000).type == 2
        return
    expected = "ERR:PARAMETER_MISSING" if not digits else "ERR:PARAMETER_INVALID"
    with pytest.raises(GatewayError) as refused:
        build_content(2, {"hex": digits}, [], "", 1000)
    assert refused.value.line == expected


@FAST
@given(ud=st.binary(max_size=160), udh=st.binary(max_size=20))
def test_binary_fields_accept_exactly_even_hex_within_140_octets(ud: bytes, udh: bytes) -> None:
    fields = {"ud": ud.hex(), "udh": udh.hex()}
    if not ud:
        with pytest.raises(GatewayError, match="ud"):
            build_content(3, fields, [], "", 1000)
    elif len(ud) + len(udh) > 140:
        with pytest.raises(GatewayError, match="140"):
            build_content(3, fields, [], "", 1000)
    else:
        content = build_content(3, fields, [], "", 1000)
        assert content.ud == ud.hex().upper()


# --- Numbers -------------------------------------------------------------------------------------

number_entry = st.one_of(
    st.from_regex(r"\A(\+|00|0)?[0-9][0-9 ()\-.]{0,16}\Z"),
    st.text(alphabet="0123456789+ -.()a٣²", max_size=20),
    st.text(max_size=12),
)


@FAST
@given(entry=number_entry, region=st.sampled_from(["GB", "US", "DE", "FR", "IN", "ZZ"]))
def test_normalised_numbers_are_digits_and_stable(entry: str, region: str) -> None:
    number = normalise(entry, region, False)
    if number is None:
        return
    assert is_digits(number)
    assert len(number) <= 17  # E.164: at most 15 digits, plus slack for the data's exceptions
    # Normalising the normalised form again (international, any region) gives the same number.
    assert normalise(number, "US", False) == number
    assert normalise("+" + number, region, False) == number


@FAST
@given(entries=st.lists(number_entry, max_size=30))
def test_recipients_are_unique_and_in_first_seen_order(entries: list[str]) -> None:
    plan = NumberPlan(Numbers())
    to = ",".join(entries)
    split = split_recipients(to)
    recipients = plan.recipients(split, "GB")
    keys = [r.number if r.valid else "\0" + r.submitted for r in recipients]
    assert len(keys) == len(set(keys))
    # Every entry maps to one listed recipient, and the list keeps the order of first sight.
    firsts: list[str] = []
    for entry in split:
        number = plan.judge(entry, "GB")
        key = number if number is not None else "\0" + entry
        if key not in firsts:
            firsts.append(key)
    assert keys == firsts
    assert all(r.submitted == r.submitted.strip() and r.submitted for r in recipients)


# --- Fields: urlencoded bodies and charsets --------------------------------------------------------

field_name = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="=&"), min_size=1, max_size=40
)
field_value = st.text(max_size=60)


@FAST
@given(pairs=st.lists(st.tuples(field_name, field_value), max_size=8), java=st.booleans())
def test_urlencoded_round_trips_with_asp_net_merging(
    pairs: list[tuple[str, str]], java: bool
) -> None:
    raw = "&".join(
        f"{quote_from_bytes(n.encode(), safe='')}={quote_from_bytes(v.encode(), safe='')}"
        for n, v in pairs
    ).encode()
    expected: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        expected[key] = f"{expected[key]},{value}" if key in expected else value
    charset = charset_of("application/x-www-form-urlencoded; charset:utf-8") if java else None
    assert parse_urlencoded(raw, charset) == expected


@FAST
@given(value=st.text(alphabet=",: /@=&+;%~aZ9\u00e9\u20ac", max_size=80), lower=st.booleans())
def test_punctuation_escapes_decode_as_urllib_does(value: str, lower: bool) -> None:
    quoted = quote_from_bytes(value.encode(), safe="")
    if lower:  # escapes in lower-case hex are escapes too
        quoted = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quoted)
    assert parse_urlencoded(b"to=" + quoted.encode(), None) == {"to": value}


@FAST
@given(raw=st.binary(max_size=300), charset=st.sampled_from([None, "utf-8", "iso8859-1", "cp1252"]))
def test_any_bytes_parse_to_fields_without_error(raw: bytes, charset: str | None) -> None:
    fields = parse_urlencoded(raw, charset)
    assert all(name == name.lower() for name in fields)


@FAST
@given(text=st.text(max_size=80))
def test_windows_1252_fallback_keeps_latin_text(text: str) -> None:
    encodable = text.encode("cp1252", errors="ignore").decode("cp1252")
    raw = encodable.encode("cp1252")
    decoded = decode_field(raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert decoded == encodable
    else:
        assert decoded == raw.decode("utf-8")


# --- Multipart bodies ------------------------------------------------------------------------------

boundary_text = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_-./:=?",
    min_size=1,
    max_size=70,
).filter(lambda b: not b.endswith(" "))
part_bytes = st.binary(max_size=400)


def _multipart(boundary: bytes, parts: list[tuple[bytes | None, bytes | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = b"Content-Disposition: form-data"
        if name is not None:
            disposition += b'; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


@FAST
@given(
    boundary=boundary_text,
    fields=st.lists(st.tuples(st.from_regex(r"\A[a-z]{1,12}\Z"), st.text(max_size=40)), max_size=4),
    files=st.lists(
        st.tuples(st.from_regex(r"\A[a-z0-9]{1,8}\.[a-z]{3}\Z"), part_bytes), max_size=4
    ),
    nameless=st.booleans(),
    chunk=st.integers(1, 97),
)
def test_multipart_round_trips_in_any_chunking(
    boundary: str,
    fields: list[tuple[str, str]],
    files: list[tuple[str, bytes]],
    nameless: bool,
    chunk: int,
) -> None:
    b = boundary.encode()
    parts: list[tuple[bytes | None, bytes | None, bytes]] = [
        (n.encode(), None, v.encode()) for n, v in fields
    ]
    parts += [(None if nameless else b"file", f.encode(), data) for f, data in files]
    body = _multipart(b, parts)
    reader = MultipartReader(f'multipart/form-data; boundary="{boundary}"', None)
    for start in range(0, len(body), chunk):
        reader.feed(body[start : start + chunk])
    got_fields, got_files = reader.finish()
    expected: dict[str, str] = {}
    for name, value in fields:
        expected[name] = f"{expected[name]},{value}" if name in expected else value
    assert got_fields == expected
    assert [(f.part.filename, f.part.data) for f in got_files] == files


@FAST
@given(boundary=boundary_text, data=part_bytes, cut=st.integers(0, 10_000))
def test_truncated_or_garbled_multipart_is_malformed_not_a_crash(
    boundary: str, data: bytes, cut: int
) -> None:
    body = _multipart(boundary.encode(), [(b"text", None, b"subject"), (None, b"a.gif", data)])
    truncated = body[: cut % (len(body) - 2)]  # at least one '-' of the closing '--' is cut
    reader = MultipartReader(f"multipart/form-data; boundary={boundary}", None)

    def parse() -> None:
        reader.feed(truncated)
        reader.finish()

    with pytest.raises(MalformedBody):
        parse()


# --- Whole requests over HTTP (in process) ---------------------------------------------------------


@pytest.fixture(scope="module")
def http() -> Iterator[TestClient]:
    app = build_app()
    with TestClient(app) as client:
        yield client
    app.close()


fuzz_field = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["demo", "1", "2", "3", "4", "5", "6", "07700900123", "447700900123,12"]),
)


@HTTP
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "username",
                "password",
                "to",
                "from",
                "type",
                "text",
                "hex",
                "udh",
                "ud",
                "href",
                "maxconcat",
                "delrpt",
                "USERNAME",
                "x" * 300,
            ]
        ),
        fuzz_field,
        max_size=8,
    ),
    path=st.sampled_from([SEND, MMS, BALANCE, "/SMSGateway/SendMsg.aspx"]),
    as_query=st.booleans(),
)
def test_any_form_fields_get_a_protocol_answer(
    http: TestClient, fields: dict[str, str], path: str, as_query: bool
) -> None:
    response = http.post(path, params=fields) if as_query else http.post(path, data=fields)
    assert_protocol_answer(response.status_code, response.content)


@HTTP
@given(
    body=st.binary(max_size=600),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset:utf-8",
            "multipart/form-data; boundary=AaB03x",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "text/plain; charset=nonsense",
            "application/json",
        ]
    ),
    prefix=st.sampled_from([b"", b"username=demo&password=demo&to=07700900123&", b"--AaB03x\r\n"]),
)
def test_any_body_gets_a_protocol_answer(
    http: TestClient, body: bytes, content_type: str, prefix: bytes
) -> None:
    response = http.post(MMS, content=prefix + body, headers={"content-type": content_type})
    assert_protocol_answer(response.status_code, response.content)


@HTTP
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [b"Content-Disposition", b"Content-Type", b"Content-Transfer-Encoding", b"X"]
            ),
            st.binary(max_size=60).filter(lambda v: b"\r" not in v and b"\n" not in v),
        ),
        max_size=4,
    ),
    data=st.binary(max_size=200),
    with_fields=st.booleans(),
)
def test_parts_with_odd_headers_get_a_protocol_answer(
    http: TestClient, headers: list[tuple[bytes, bytes]], data: bytes, with_fields: bool
) -> None:
    body = b""
    if with_fields:
        for name, value in (
            ("username", "demo"),
            ("password", "demo"),
            ("to", "07700900123"),
            ("type", "5"),
        ):
            body += f'--AaB03x\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += b"--AaB03x\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    body += b"\r\n" + data + b"\r\n--AaB03x--\r\n"
    response = http.post(
        MMS, content=body, headers={"content-type": "multipart/form-data; boundary=AaB03x"}
    )
    assert_protocol_answer(response.status_code, response.content)


# --- Every gateway endpoint and /api/json: random shapes of input, never a 500 -------------------
#
# Each request starts well-formed and has one to three of its values replaced by anything (wrong
# JSON kinds, lone surrogates, 5,000 digits, bytes of no charset) or dropped: the gateway checks
# in order, so a wholly random request is refused at its first check and never reaches the rest.

SCENARIO_WITHOUT_RULES = """
version: 1
accounts:
  - {username: demo, password: demo, credit: 1000000, default_sender: "447700900000",
     access_keys: [{accesskey: ak, secretkey: sk}]}
"""
"""No magic numbers here: a rule's HTTP 500 or `hang` is no answer to judge."""
WELL_FORMED = {
    "username": b"demo",
    "password": b"demo",
    "accesskey": b"ak",
    "secretkey": b"sk",
    "to": b"07700900123",
    "from": b"447700900000",
    "text": b"hi",
    "hex": b"0041",
    "ud": b"0A0B",
    "href": b"http://example.com/",
    "maxconcat": b"2",
    "subacc_username": b"sub",
    "subacc_password": b"sub",
    "msgid": b"10011000000000000001",
    "msgpart": b"a.png",
}
"""Enough for a well-formed request on every gateway path, whatever its `type`."""
FIELD_NAMES = [*WELL_FORMED, "type", "udh", "delrpt", "usercontext", "subacc_service"]
CHARSETS = ["", "utf-8", "utf-7", "utf-16", "latin1", "rot13", "base64", "idna", "nonsense"]
SOME = settings(HTTP, max_examples=60)
surrogate_text = st.text(
    st.one_of(st.characters(categories=["Cs"]), st.sampled_from("07+\u00e9\\"), st.characters()),
    max_size=12,
)
"""Text with lone surrogates, often (Hypothesis's own text leaves them out)."""
field_bytes = st.one_of(
    st.sampled_from([b"1", b"2", b"5", b"07700900123", b"447700900123,12", b"0010", b"9" * 5000]),
    st.binary(max_size=20),
    surrogate_text.map(lambda text: text.encode("utf-7")),  # `+2AA-`: a lone surrogate in UTF-7
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), surrogate_text),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(surrogate_text, children, max_size=3)
    ),
    max_leaves=8,
)
wrong_json = st.one_of(
    surrogate_text,
    st.lists(surrogate_text, max_size=2),
    st.dictionaries(surrogate_text, st.integers(), max_size=2),
    json_value,
)
"""Any JSON value, the kinds a field must not be drawn as often as any other."""
JSON_SLOTS = [
    ("auth",),
    ("auth", "authtype"),
    ("auth", "accesskey"),
    ("message",),
    ("message", "to"),
    ("message", "from"),
    ("message", "usercontext"),
    ("message", "delrpt"),
    ("message", "channel"),
    ("message", "content"),
    ("message", "content", "msgtype"),
    ("message", "content", "text"),
    ("message", "content", "ud"),
    ("message", "content", "maxconcat"),
]
DROPPED = object()


@st.composite
def form_fields_of_any_shape(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """A well-formed form of some `type`, with one to three fields replaced or dropped."""
    fields = {**WELL_FORMED, "type": draw(st.sampled_from([b"1", b"2", b"3", b"4", b"5", b"6"]))}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(FIELD_NAMES))
        value = draw(st.one_of(st.none(), field_bytes))
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return list(fields.items())


@st.composite
def json_of_any_shape(draw: st.DrawFn) -> object:
    """A well-formed JSON send, with one to three values replaced (any JSON at all) or dropped."""
    content = {"msgtype": draw(st.sampled_from(["text", "unicode", "binary"])), "text": "hi"}
    message = {"to": "07700900123", "usercontext": "c", "content": {**content, "ud": "0A"}}
    request: dict[str, object] = {
        "auth": {"authtype": "accesskey", "accesskey": "ak", "secretkey": "sk"},
        "message": message,
    }
    for _ in range(draw(st.integers(1, 3))):
        *outer, key = draw(st.sampled_from(JSON_SLOTS))
        place: object = request
        for step in outer:
            place = place.get(step) if isinstance(place, dict) else None
        if isinstance(place, dict):
            value = draw(st.one_of(st.just(DROPPED), wrong_json))
            if value is DROPPED:
                place.pop(key, None)
            else:
                place[key] = value
    return request


@pytest.fixture(scope="module")
def https() -> Iterator[TestClient]:
    """Over HTTPS (the ASGI scheme), so /api/https and /api/json get past their gate."""
    app = build_app(SCENARIO_WITHOUT_RULES)
    with TestClient(app, base_url="https://testserver") as client:
        yield client
    app.close()


def _answered(client: TestClient, path: str, status: int, content: bytes) -> None:
    """Any answer but a 500; and a message it accepted is kept: it can be read back (a store
    that cannot write a message loses its whole batch, other clients' messages with it)."""
    assert status < 500, (status, content[:200])
    ids = set(re.findall(rb"ID:(\d{20})", content))
    if path.startswith("/api/json/") and status == 200:
        answer = json.loads(content)
        assert answer["response_status"] in ("ok", "failure")
        ids |= {m["id"].encode() for m in answer.get("messages", []) if "id" in m}
    for message_id in ids:
        assert client.get(f"/_sim/messages/{message_id.decode()}").status_code == 200
    assert client.get("/_sim/requests?limit=1").status_code == 200


def _with_charset(media_type: str, charset: str) -> str:
    return f"{media_type}; charset={charset}" if charset else media_type


@SOME
@given(
    path=st.sampled_from(GATEWAY_PATHS),
    fields=form_fields_of_any_shape(),
    charset=st.sampled_from(CHARSETS),
    as_query=st.booleans(),
)
def test_any_form_on_any_gateway_path_is_answered(
    https: TestClient, path: str, fields: list[tuple[str, bytes]], charset: str, as_query: bool
) -> None:
    raw = b"&".join(name.encode() + b"=" + quote_from_bytes(v).encode() for name, v in fields)
    content_type = _with_charset("application/x-www-form-urlencoded", charset)
    url = f"{path}?{raw.decode()}" if as_query else path
    response = https.post(
        url, content=b"" if as_query else raw, headers={"content-type": content_type}
    )
    _answered(https, path, response.status_code, response.content)


odd_files = st.lists(
    st.tuples(
        st.one_of(
            st.none(),
            st.binary(max_size=12),
            st.just("snow\u2603.png".encode()),
            surrogate_text.map(lambda text: text.encode("utf-8", errors="surrogatepass")),
        ),
        st.sampled_from(
            [b"", b"image/png", b"image/png\x01", b'image/png; name="\xe2\x98\x83"', b"x"]
        ),
        st.binary(max_size=40),
    ),
    max_size=3,
)
"""File parts: a name (none, any bytes, non-ASCII, a surrogate's own bytes), a content type
(none, or one that is no media type) and the data."""


def file_parts(files: list[tuple[bytes | None, bytes, bytes]]) -> bytes:
    """`odd_files` as parts of a multipart body whose boundary is `XyZ` (no closing line)."""
    body = b""
    for filename, part_type, data in files:
        disposition = b"form-data"
        if filename is not None:
            disposition += b'; filename="' + re.sub(rb'["\r\n]', b"", filename) + b'"'
        head = b"Content-Disposition: " + disposition + b"\r\n"
        if part_type:
            head += b"Content-Type: " + part_type + b"\r\n"
        body += b"--XyZ\r\n" + head + b"\r\n" + data + b"\r\n"
    return body


@SOME
@given(
    path=st.sampled_from(GATEWAY_PATHS),
    fields=form_fields_of_any_shape(),
    files=odd_files,
    charset=st.sampled_from(CHARSETS),
)
def test_any_multipart_on_any_gateway_path_is_answered(
    https: TestClient,
    path: str,
    fields: list[tuple[str, bytes]],
    files: list[tuple[bytes | None, bytes, bytes]],
    charset: str,
) -> None:
    body = b""
    for name, value in fields:
        head = b'--XyZ\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
        body += head + value.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    body += file_parts(files) + b"--XyZ--\r\n"
    content_type = _with_charset("multipart/form-data; boundary=XyZ", charset)
    response = https.post(path, content=body, headers={"content-type": content_type})
    _answered(https, path, response.status_code, response.content)


@SOME
@given(
    path=st.sampled_from(GATEWAY_PATHS[-2:]),
    request=st.one_of(json_of_any_shape(), json_value),
    escaped=st.booleans(),
)
def test_any_json_on_the_json_api_is_answered(
    https: TestClient, path: str, request: object, escaped: bool
) -> None:
    text = json.dumps(request, ensure_ascii=escaped)
    body = text.encode("utf-8", errors="surrogatepass")  # unescaped: a surrogate's own bytes
    response = https.post(path, content=body, headers={"content-type": "application/json"})
    _answered(https, path, response.status_code, response.content)
