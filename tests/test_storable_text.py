"""Text made storable at the edge: whatever bytes, charset or JSON escape a client sends, no string
that leaves the wire layer fails `.encode("utf-8")` (a lone surrogate becomes U+FFFD, the policy
"type 2" has for its hex), and the header values built from client text are checked: a content
type must parse as a media type, a file name is written as RFC 6266 says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_sim.domain.content import build_content
from gateway_sim.domain.errors import InvalidRequest
from gateway_sim.domain.text import (
    charset_of,
    checked_media_type,
    content_disposition,
    decode_field,
    no_charset,
    storable,
    storable_json,
)
from gateway_sim.wire.form import form_fields
from gateway_sim.wire.json_api import json_fields
from gateway_sim.wire.multipart import MultipartReader
from tests.conftest import LiveServer, build_app

FAST = settings(derandomize=True, deadline=None, max_examples=150, database=None)
CHARSETS = [
    "utf-8",
    "utf-7",
    "utf-16",
    "iso-8859-1",
    "shift_jis",
    "unicode_escape",
    "raw_unicode_escape",
    "rot13",
    "base64",
    "idna",
    "punycode",
    "undefined",
    "nonsense",
]
"""Charsets a client may name: real ones (UTF-7 makes lone surrogates of `+2AA-`), codecs that
are no text encoding, and none at all."""
with_surrogates = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=30)
"""Text as `json.loads` may give it: lone surrogates included (Hypothesis leaves them out)."""
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), with_surrogates),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(with_surrogates, children, max_size=4)
    ),
    max_leaves=12,
)


def _encodes(*texts: str) -> bool:
    for text in texts:
        text.encode("utf-8")
    return True


# --- storable: the one policy ---------------------------------------------------------------------


@FAST
@given(text=st.text())
def test_storable_keeps_every_encodable_text(text: str) -> None:
    assert storable(text) is text or storable(text) == text


@FAST
@given(units=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=40))
def test_storable_is_the_policy_of_type_2(units: list[int]) -> None:
    """Any UTF-16 units: what `storable` makes of them is what a type 2 send keeps of its hex."""
    raw = b"".join(unit.to_bytes(2, "big") for unit in units)
    text = raw.decode("utf-16-be", errors="surrogatepass")
    kept = storable(text)
    assert _encodes(kept)
    assert len(kept.encode("utf-16-be")) == len(raw)  # a lone surrogate still counts one unit
    content = build_content(2, {"hex": raw.hex(), "maxconcat": "10"}, [], "", 1000)
    assert content.text is not None
    assert kept.startswith(content.text)


def test_storable_replaces_lone_surrogates_and_joins_pairs() -> None:
    assert storable("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert storable("\ud83d\ude00") == "\U0001f600"
    assert storable("\ude00\ud83d") == "\ufffd\ufffd"


@FAST
@given(value=json_values)
def test_storable_json_leaves_no_string_unencodable(value: Any) -> None:
    made = storable_json(value)
    json.dumps(made, ensure_ascii=False).encode("utf-8")


def test_storable_json_walks_deep_nesting_without_recursion() -> None:
    deep: Any = "\ud800"
    for _ in range(5000):
        deep = [deep]
    made = storable_json(deep)
    for _ in range(5000):
        made = made[0]
    assert made == "\ufffd"


# --- No string leaves the wire layer unencodable --------------------------------------------------


@FAST
@given(raw=st.binary(max_size=200), charset=st.sampled_from(CHARSETS))
def test_any_field_bytes_decode_to_storable_text(raw: bytes, charset: str) -> None:
    decoded = decode_field(raw, charset_of(f"text/plain; charset={charset}"))
    assert _encodes(decoded)


@FAST
@given(
    query=st.binary(max_size=120),
    body=st.binary(max_size=200),
    charset=st.sampled_from(CHARSETS),
    java=st.booleans(),
)
def test_any_form_gives_storable_fields(
    query: bytes, body: bytes, charset: str, java: bool
) -> None:
    content_type = f"application/x-www-form-urlencoded; charset{':' if java else '='}{charset}"
    fields = form_fields(query, body, content_type)
    assert _encodes(*fields, *fields.values())


@FAST
@given(
    parts=st.lists(
        st.tuples(st.binary(max_size=20), st.one_of(st.none(), st.binary(max_size=20))),
        min_size=1,
        max_size=4,
    ),
    data=st.binary(max_size=60),
    charset=st.sampled_from(CHARSETS),
)
def test_any_multipart_gives_storable_fields_and_filenames(
    parts: list[tuple[bytes, bytes | None]], data: bytes, charset: str
) -> None:
    body = b""
    for name, filename in parts:
        clean = name.replace(b'"', b"").replace(b"\r", b"").replace(b"\n", b"")
        disposition = b'Content-Disposition: form-data; name="' + clean + b'"'
        if filename is not None:
            kept = filename.replace(b'"', b"").replace(b"\r", b"").replace(b"\n", b"")
            disposition += b'; filename="' + kept + b'"'
        part_type = b"Content-Type: text/plain; charset=" + charset.encode()
        body += b"--XyZ\r\n" + disposition + b"\r\n" + part_type + b"\r\n\r\n" + data + b"\r\n"
    body += b"--XyZ--\r\n"
    reader = MultipartReader(
        "multipart/form-data; boundary=XyZ", charset_of(f"x; charset={charset}")
    )
    reader.feed(body)
    fields, files = reader.finish()
    assert _encodes(*fields, *fields.values(), *(f.part.filename for f in files))
    assert all(checked_media_type(f.part.content_type) for f in files)


@FAST
@given(
    message=st.fixed_dictionaries(
        {},
        optional={
            "to": json_values,
            "from": json_values,
            "usercontext": with_surrogates,
            "content": st.fixed_dictionaries(
                {}, optional={"text": json_values, "msgtype": json_values}
            ),
        },
    ),
    raw_utf8=st.booleans(),
)
def test_any_json_request_gives_storable_fields_or_invalid_request(
    message: dict[str, Any], raw_utf8: bool
) -> None:
    text = json.dumps(
        {"auth": {"authtype": "accesskey"}, "message": message}, ensure_ascii=raw_utf8
    )
    body = text.encode("utf-8", errors="surrogatepass")  # raw: a surrogate's own UTF-8 bytes
    try:
        fields = json_fields(body)
    except InvalidRequest:
        return
    assert _encodes(*fields, *fields.values())


# --- Charsets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "named", ["rot13", "base64", "idna", "punycode", "undefined", "zlib", "unicode_escape", "x"]
)
def test_a_codec_that_decodes_no_field_is_no_charset(named: str) -> None:
    assert charset_of(f"application/x-www-form-urlencoded; charset={named}") is None


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        ("application/x-www-form-urlencoded; charset=rot13", "rot13"),
        ("multipart/form-data; boundary=x; charset:Base64", "Base64"),
        ("text/plain; charset=idna", "idna"),
        ("text/plain; charset=nonsense", None),  # no codec: read as if none were named
        ("text/plain; charset=utf-7", None),
        ("text/plain", None),
    ],
)
def test_only_a_codec_that_is_no_charset_is_refused(content_type: str, refused: str | None) -> None:
    assert no_charset(content_type) == refused


@pytest.mark.parametrize(
    ("named", "codec"),
    [("UTF-7", "utf-7"), ("latin1", "iso8859-1"), ("Shift_JIS", "shift_jis"), ("utf8", "utf-8")],
)
def test_real_charsets_are_still_read(named: str, codec: str) -> None:
    assert charset_of(f"text/plain; charset={named}") == codec


# --- Header values -----------------------------------------------------------------------------------

HEADER_SAFE = re.compile(r"[\t\x20-\x7e]*")
token = st.text("abcxyzABC0123456789!#$%&'*+-.^_`|~", min_size=1, max_size=8)
quoted = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8).map(
    lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
)


@pytest.mark.parametrize(
    "value",
    ["image/png", "text/plain; charset=utf-8", 'a/b ;x="y;\\"z"', "a/b;", " image/gif \t"],
)
def test_media_types_that_parse(value: str) -> None:
    assert checked_media_type(value) == value.strip(" \t")


@pytest.mark.parametrize(
    "value",
    [
        "image/png\r\nSet-Cookie: pwned=1",
        "image/png\n",
        "image/png\x00",
        "image/png\x7f",
        "image/p\u00e9ng",
        'image/png; name="snow\u2603"',
        "image/png; x",
        "image/png; x=",
        'image/png; x="open',
        "image",
        "/png",
        "image/png/x",
        "",
    ],
)
def test_values_that_are_no_media_type(value: str) -> None:
    assert checked_media_type(value) is None


@FAST
@given(
    kind=token,
    subtype=token,
    parameters=st.lists(st.tuples(token, st.one_of(token, quoted), st.sampled_from(["", " "]))),
)
def test_every_media_type_of_the_grammar_parses(
    kind: str, subtype: str, parameters: list[tuple[str, str, str]]
) -> None:
    value = f"{kind}/{subtype}" + "".join(f"{gap};{gap}{n}={v}" for n, v, gap in parameters)
    assert checked_media_type(value) == value


@FAST
@given(value=st.text(max_size=60))
def test_whatever_parses_is_safe_in_a_header(value: str) -> None:
    checked = checked_media_type(value)
    if checked is not None:
        assert HEADER_SAFE.fullmatch(checked)


@FAST
@given(filename=st.text(min_size=1, max_size=40), inline=st.booleans())
def test_a_file_name_is_written_as_rfc_6266_says(filename: str, inline: bool) -> None:
    kind = "inline" if inline else "attachment"
    header = content_disposition(kind, filename)
    assert HEADER_SAFE.fullmatch(header)
    found = re.fullmatch(rf'{kind}; filename="([^"\\]*)"(?:; filename\*=UTF-8\'\'(\S+))?', header)
    assert found is not None, header
    fallback, encoded = found.groups()
    assert len(fallback) == len(filename)
    if encoded is None:
        assert fallback == filename
    else:
        assert unquote(encoded, errors="strict") == filename


# --- Over HTTP: every path keeps what it answered ----------------------------------------------------


def test_every_path_keeps_text_with_lone_surrogates(
    live_server: Callable[..., LiveServer],
) -> None:
    scenario = """
version: 1
accounts:
  - {username: demo, password: demo, credit: 1000, default_sender: "447700900000",
     access_keys: [{accesskey: ak, secretkey: sk}]}
"""
    server = live_server(build_app(scenario, trust_proxy=True))
    login = b"username=demo&password=demo&to=07700900123&text=hi"
    utf7 = {"content-type": "application/x-www-form-urlencoded; charset=utf-7"}
    multipart = (
        b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\ndemo\r\n'
        b'--B\r\nContent-Disposition: form-data; name="password"\r\n\r\ndemo\r\n'
        b'--B\r\nContent-Disposition: form-data; name="to"\r\n\r\n07700900123\r\n'
        b'--B\r\nContent-Disposition: form-data; name="text"\r\n'
        b"Content-Type: text/plain; charset=utf-7\r\n\r\nx+2AA-y\r\n--B--\r\n"
    )
    auth = {"authtype": "accesskey", "accesskey": "ak", "secretkey": "sk"}
    json_send = {"auth": auth, "message": {"to": "07700900123", "content": {"text": "\udc80"}}}
    inbound = {"account": "demo", "from": "07700900555\ud800", "text": "hi \udfff"}
    with httpx.Client(
        base_url=server.url, timeout=10, headers={"x-forwarded-proto": "https"}
    ) as http:
        answers = [
            http.post("/smsgateway/sendmsg.aspx", content=login + b"&from=%2B2AA-", headers=utf7),
            http.post("/smsgateway/sendmsg.aspx?from=%2B2AA-", content=login, headers=utf7),
            http.post(
                "/api/https/sendmsg.aspx",
                content=b"accesskey=ak&secretkey=sk&to=07700900123&text=hi&from=%2B2AA-",
                headers=utf7,
            ),
            http.post(
                "/smsgateway/sendmsg.aspx",
                content=multipart,
                headers={"content-type": "multipart/form-data; boundary=B"},
            ),
            http.post("/api/json/sendmsg.aspx", content=json.dumps(json_send).encode()),
        ]
        assert [a.text[:3] for a in answers[:4]] == ["ID:"] * 4
        assert answers[4].json()["response_status"] == "ok"
        account = http.put("/_sim/accounts/demo", content=b'{"default_sender": "S\\udfff"}')
        assert account.status_code == 200
        assert http.post("/smsgateway/sendmsg.aspx", content=login).text.startswith("ID:")
        assert http.post("/_sim/inbound", content=json.dumps(inbound).encode()).status_code == 201
        listing = http.get("/_sim/messages")
        journal = http.get("/_sim/requests")
        assert (listing.status_code, journal.status_code) == (200, 200)
    messages = listing.json()["messages"]
    assert len(messages) == 7
    assert len(journal.json()["requests"]) == 6
    assert sum("\ufffd" in json.dumps(m, ensure_ascii=False) for m in messages) == 7
