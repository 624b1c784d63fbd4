"""Property-based tests (Hypothesis) of the parsers: numbers, hex, GSM-7/UCS-2 part counting,
urlencoded and multipart bodies. Each property states an invariant the protocol needs; the HTTP
properties say that whatever arrives, the answer is one of PROTOCOL.md's or a 4xx, never a 500.

Runs are derandomised (the same examples every run) so CI stays deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway_sim.billing import CONCATENATED, GSM7_BASIC, GSM7_EXTENSION, SINGLE, segment
from gateway_sim.content import build_content
from gateway_sim.errors import GatewayError
from gateway_sim.numbers import NumberPlan, is_digits, normalise, split_recipients
from gateway_sim.protocol.form import parse_urlencoded
from gateway_sim.protocol.multipart import MalformedBody, MultipartReader
from gateway_sim.protocol.text import charset_of, decode_field
from gateway_sim.scenario import Numbers
from tests.conftest import BALANCE, MMS, SEND, build_app
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
        assert (cut.text, cut.parts, cut.truncated) == (text, needed, False)
    else:
        assert cut.truncated
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
    assert content.truncated == (content.text != text)


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
