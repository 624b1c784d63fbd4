"""MMS submissions (README "What is simulated": MMS): hand-built multipart/form-data bodies in the shape of
the vendor's own example (file parts without `name=`), content kept byte for byte, the MMS rules,
malformed bodies and the body-size limit, in process and over a real socket.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import httpx2
import pytest
from starlette.testclient import TestClient

from gateway_sim.domain.records import ContentPart
from gateway_sim.server.app import GatewayApp
from tests.conftest import BALANCE, MMS, SEND, LiveServer, app_of, build_app, credit, only_message
from tests.helpers import SMALL_BODY_SCENARIO

ClientFor = Callable[[str], TestClient]

FIRST_ID = b"ID:10011000000000000001"
BOUNDARY = b"AaB03x"
MULTIPART = "multipart/form-data; boundary=AaB03x"

SUBJECT = "Grüße"
FILE1 = ContentPart("file1.txt", "text/plain", b"Hello from the MMS.\r\nSecond line.")
# Binary bytes that contain line breaks, NULs and near-miss delimiters.
GIF_BYTES = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\r\n"
    b"--AaB03\r\n--AaB03y\x00\x00\r\n\r\n--AaB03\x00-- \r\n\xff\xfe\x00;\r\n"
)
FILE2 = ContentPart("file2.gif", "image/gif", GIF_BYTES)
FILE3 = ContentPart("file3.bin", "application/octet-stream", bytes(range(256)))

SMALL_MMS_SCENARIO = """
version: 1
settings: {mms_max_bytes: 10}
accounts:
  - {username: demo, password: demo, credit: 100, default_sender: "447700900000"}
"""


# --- Building bodies by hand -----------------------------------------------------------------


def field(name: str, value: str | bytes, *, content_type: bytes | None = b"text/plain") -> bytes:
    """A text part as in the vendor's example (with its own `Content-Type: text/plain`)."""
    raw = value.encode() if isinstance(value, str) else value
    head = b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n'
    if content_type is not None:
        head += b"Content-Type: " + content_type + b"\r\n"
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n" + raw + b"\r\n"


def file_part(
    part: ContentPart,
    *,
    encoding: bytes | None = None,
    name: bytes | None = None,
    data: bytes | None = None,
) -> bytes:
    """A content file part; by default with no `name=`, as the vendor's example has it."""
    disposition = b"Content-Disposition: form-data; "
    if name is not None:
        disposition += b'name="' + name + b'"; '
    disposition += b'filename="' + part.filename.encode() + b'"\r\n'
    head = disposition + b"Content-Type: " + part.content_type.encode() + b"\r\n"
    if encoding is not None:
        head += b"Content-Transfer-Encoding: " + encoding + b"\r\n"
    payload = part.data if data is None else data
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n" + payload + b"\r\n"


def closing() -> bytes:
    return b"--" + BOUNDARY + b"--\r\n"


def mms_fields(
    to: str = "07700900123", *, sender: str | None = None, subject: str = SUBJECT
) -> bytes:
    body = field("username", "demo") + field("password", "demo") + field("to", to)
    if sender is not None:
        body += field("from", sender)
    return body + field("type", "5") + field("text", subject)


def vendor_body(to: str = "07700900123") -> bytes:
    return (
        mms_fields(to)
        + file_part(FILE1)
        + file_part(FILE2, encoding=b"binary")
        + file_part(FILE3, encoding=b"binary")
        + closing()
    )


def small_mms() -> bytes:
    return mms_fields(subject="s") + file_part(FILE1) + closing()


def post_multipart(
    client: TestClient, body: bytes, *, url: str = MMS, content_type: str = MULTIPART
) -> httpx2.Response:
    answer = client.post(url, content=body, headers={"content-type": content_type})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    return answer


def assert_nothing_sent(app: GatewayApp) -> None:
    assert len(app.store) == 0
    assert credit(app) == Decimal(100)


# --- The vendor's example --------------------------------------------------------------------


@pytest.mark.parametrize("url", [MMS, SEND, "/SMSGateway/Default.aspx"])
def test_vendor_mms_example(client: TestClient, app: GatewayApp, url: str) -> None:
    answer = post_multipart(client, vendor_body(), url=url)
    assert answer.content == FIRST_ID
    message = only_message(app)
    assert message.id == "10011000000000000001"
    assert message.type == 5
    assert message.kind == "mms"
    assert message.text == SUBJECT
    assert message.recipients == ("447700900123",)
    assert message.sender == "447700900000"
    assert message.content == (FILE1, FILE2, FILE3)
    assert message.content[1].data == GIF_BYTES
    assert message.cost == Decimal(5)
    assert message.endpoint == url.lower()
    assert credit(app) == Decimal(95)


def test_mms_without_content_type_on_text_parts(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("username", "demo", content_type=None)
        + field("password", "demo", content_type=None)
        + field("to", "07700900123", content_type=None)
        + field("type", "5", content_type=None)
        + field("text", SUBJECT, content_type=None)
        + file_part(FILE2)
        + closing()
    )
    assert post_multipart(client, body).content == FIRST_ID
    message = only_message(app)
    assert message.text == SUBJECT
    assert message.content == (FILE2,)


def test_mms_without_subject(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("username", "demo")
        + field("password", "demo")
        + field("to", "07700900123")
        + field("type", "5")
        + file_part(FILE1)
        + closing()
    )
    assert post_multipart(client, body).content == FIRST_ID
    message = only_message(app)
    assert message.text is None
    assert message.content == (FILE1,)
    assert credit(app) == Decimal(95)


def test_mms_subject_with_latin1_charset_on_its_part(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("username", "demo")
        + field("password", "demo")
        + field("to", "07700900123")
        + field("type", "5")
        + field("text", "Grüße".encode("latin-1"), content_type=b"text/plain; charset=iso-8859-1")
        + file_part(FILE1)
        + closing()
    )
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).text == "Grüße"


def test_mms_fields_can_come_from_the_query(client: TestClient, app: GatewayApp) -> None:
    body = field("to", "07700900123") + field("type", "5") + file_part(FILE1) + closing()
    answer = post_multipart(client, body, url=MMS + "?username=demo&password=demo&text=subj")
    assert answer.content == FIRST_ID
    message = only_message(app)
    assert message.text == "subj"
    assert message.content == (FILE1,)


def test_mms_part_field_wins_over_query(client: TestClient, app: GatewayApp) -> None:
    body = mms_fields() + file_part(FILE1) + closing()
    answer = post_multipart(client, body, url=MMS + "?text=from-query&password=wrong")
    assert answer.content == FIRST_ID
    assert only_message(app).text == SUBJECT


def test_mms_field_names_are_case_insensitive(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("UserName", "demo")
        + field("PASSWORD", "demo")
        + field("To", "07700900123")
        + field("Type", "5")
        + field("TEXT", SUBJECT)
        + file_part(FILE1)
        + closing()
    )
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).text == SUBJECT


# --- Content parts ---------------------------------------------------------------------------


def test_base64_content_is_decoded(client: TestClient, app: GatewayApp) -> None:
    encoded = base64.encodebytes(FILE3.data)  # wrapped at 76 characters with line breaks
    assert b"\n" in encoded
    body = mms_fields() + file_part(FILE3, encoding=b"base64", data=encoded) + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).content == (FILE3,)


def test_base64_encoding_name_is_case_insensitive(client: TestClient, app: GatewayApp) -> None:
    encoded = base64.b64encode(GIF_BYTES)
    body = mms_fields() + file_part(FILE2, encoding=b"BASE64", data=encoded) + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).content == (FILE2,)


@pytest.mark.parametrize("encoding", [b"binary", b"8bit", b"7bit", b"8BIT"])
def test_plain_transfer_encodings_keep_bytes(
    client: TestClient, app: GatewayApp, encoding: bytes
) -> None:
    body = mms_fields() + file_part(FILE1, encoding=encoding) + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).content == (FILE1,)


@pytest.mark.parametrize("encoding", [b"quoted-printable", b"x-uuencode", b"gzip"])
def test_unsupported_transfer_encoding_is_invalid(
    client: TestClient, app: GatewayApp, encoding: bytes
) -> None:
    body = mms_fields() + file_part(FILE1) + file_part(FILE2, encoding=encoding) + closing()
    assert post_multipart(client, body).content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


def test_part_with_name_and_filename_is_a_file(client: TestClient, app: GatewayApp) -> None:
    body = mms_fields() + file_part(FILE2, name=b"picture") + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).content == (FILE2,)


def test_part_named_like_a_field_with_filename_is_a_file(
    client: TestClient, app: GatewayApp
) -> None:
    # name="text" with a filename is content, not the subject.
    body = mms_fields() + file_part(FILE1, name=b"text") + closing()
    assert post_multipart(client, body).content == FIRST_ID
    message = only_message(app)
    assert message.text == SUBJECT
    assert message.content == (FILE1,)


def test_named_parts_without_filename_are_fields(client: TestClient, app: GatewayApp) -> None:
    body = (
        mms_fields()
        + field("colour", "blue")
        + field("attachment", b"\x00\x01\x02", content_type=b"application/octet-stream")
        + file_part(FILE1)
        + closing()
    )
    assert post_multipart(client, body).content == FIRST_ID
    message = only_message(app)
    assert message.content == (FILE1,)
    assert message.cost == Decimal(5)


def test_content_part_without_content_type(client: TestClient, app: GatewayApp) -> None:
    part = b'--AaB03x\r\nContent-Disposition: form-data; filename="raw.dat"\r\n\r\nabc\r\n'
    body = mms_fields() + part + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).content == (
        ContentPart("raw.dat", "application/octet-stream", b"abc"),
    )


def test_empty_content_part_is_kept(client: TestClient, app: GatewayApp) -> None:
    empty = ContentPart("empty.txt", "text/plain", b"")
    body = mms_fields() + file_part(empty) + file_part(FILE1) + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).content == (empty, FILE1)


# --- Sender --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["ACME", "Shop42", "44 7700 ABC"])
def test_alphanumeric_sender_is_invalid(client: TestClient, app: GatewayApp, sender: str) -> None:
    body = mms_fields(sender=sender) + file_part(FILE1) + closing()
    assert post_multipart(client, body).content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


@pytest.mark.parametrize("sender", ["447700900555", "+447700900555", "60300"])
def test_numeric_sender_is_allowed(client: TestClient, app: GatewayApp, sender: str) -> None:
    body = mms_fields(sender=sender) + file_part(FILE1) + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).sender == sender


@pytest.mark.parametrize("sender", ["", "   "])
def test_blank_sender_is_allowed(client: TestClient, app: GatewayApp, sender: str) -> None:
    body = mms_fields(sender=sender) + file_part(FILE1) + closing()
    assert post_multipart(client, body).content == FIRST_ID
    assert only_message(app).sender == "447700900000"


# --- Content rules -----------------------------------------------------------------------------


def test_no_content_part_is_invalid(client: TestClient, app: GatewayApp) -> None:
    body = mms_fields() + closing()
    assert post_multipart(client, body).content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


def test_urlencoded_mms_has_no_content_and_is_invalid(client: TestClient, app: GatewayApp) -> None:
    answer = client.post(
        MMS,
        content=b"username=demo&password=demo&to=07700900123&type=5&text=subject",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert answer.content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


def test_content_over_mms_max_bytes_is_invalid(client_for: ClientFor) -> None:
    small = client_for(SMALL_MMS_SCENARIO)
    app = app_of(small)
    part_a = ContentPart("a.txt", "text/plain", b"12345")
    part_b = ContentPart("b.txt", "text/plain", b"678901")
    body = mms_fields() + file_part(part_a) + file_part(part_b) + closing()
    assert post_multipart(small, body).content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


def test_content_exactly_at_mms_max_bytes_is_accepted(client_for: ClientFor) -> None:
    small = client_for(SMALL_MMS_SCENARIO)
    app = app_of(small)
    part_a = ContentPart("a.txt", "text/plain", b"12345")
    part_b = ContentPart("b.txt", "text/plain", b"67890")
    body = mms_fields() + file_part(part_a) + file_part(part_b) + closing()
    assert post_multipart(small, body).content == FIRST_ID
    assert only_message(app).content == (part_a, part_b)
    assert credit(app) == Decimal(95)


def test_mms_max_bytes_counts_decoded_base64(client_for: ClientFor) -> None:
    small = client_for(SMALL_MMS_SCENARIO)
    app = app_of(small)
    part = ContentPart("ten.bin", "application/octet-stream", b"0123456789")
    encoded = base64.b64encode(part.data)  # 16 bytes on the wire, 10 decoded
    body = mms_fields() + file_part(part, encoding=b"base64", data=encoded) + closing()
    assert post_multipart(small, body).content == FIRST_ID
    assert only_message(app).content == (part,)


# --- Malformed multipart -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; charset=utf-8", "multipart/form-data; boundary="],
)
def test_multipart_without_boundary_is_invalid(
    client: TestClient, app: GatewayApp, content_type: str
) -> None:
    answer = post_multipart(client, vendor_body(), content_type=content_type)
    assert answer.content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda body: body[: -len(b"--AaB03x--\r\n")], id="no-closing-delimiter"),
        pytest.param(lambda body: body[:-200], id="truncated-inside-a-part"),
        pytest.param(lambda body: body[: len(body) // 2], id="truncated-in-the-middle"),
        pytest.param(lambda body: body[: -len(b"--\r\n")], id="delimiter-without-dashes"),
    ],
)
def test_multipart_without_closing_delimiter_is_invalid(
    client: TestClient, app: GatewayApp, cut: Callable[[bytes], bytes]
) -> None:
    answer = post_multipart(client, cut(vendor_body()))
    assert answer.content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


def test_multipart_with_other_boundary_is_invalid(client: TestClient, app: GatewayApp) -> None:
    answer = post_multipart(client, vendor_body(), content_type="multipart/form-data; boundary=XyZ")
    assert answer.content == b"ERR:INVALID_REQUEST"
    assert_nothing_sent(app)


def test_malformed_body_then_good_body(client: TestClient, app: GatewayApp) -> None:
    assert post_multipart(client, vendor_body()[:-30]).content == b"ERR:INVALID_REQUEST"
    assert post_multipart(client, vendor_body()).content == FIRST_ID
    assert credit(app) == Decimal(95)


# --- Body size limit ---------------------------------------------------------------------------


def test_multipart_over_max_body_bytes_with_length_is_413(client_for: ClientFor) -> None:
    small = client_for(SMALL_BODY_SCENARIO)
    app = app_of(small)
    big = ContentPart("big.bin", "application/octet-stream", b"\x00" * 2000)
    body = mms_fields() + file_part(big) + closing()
    answer = small.post(MMS, content=body, headers={"content-type": MULTIPART})
    assert answer.status_code == 413
    assert_nothing_sent(app)
    after = small.post(MMS, content=small_mms(), headers={"content-type": MULTIPART})
    assert after.status_code == 200
    assert after.content == FIRST_ID


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_multipart_over_max_body_bytes_chunked_is_413(client_for: ClientFor) -> None:
    small = client_for(SMALL_BODY_SCENARIO)
    app = app_of(small)
    big = ContentPart("big.bin", "application/octet-stream", b"\x00" * 2000)
    body = mms_fields() + file_part(big) + closing()
    answer = small.post(MMS, content=chunks(body, 256), headers={"content-type": MULTIPART})
    assert answer.status_code == 413
    assert_nothing_sent(app)
    after = small.post(MMS, content=chunks(small_mms(), 100), headers={"content-type": MULTIPART})
    assert after.status_code == 200
    assert after.content == FIRST_ID
    assert credit(app) == Decimal(95)


def test_urlencoded_over_max_body_bytes_chunked_is_413(client_for: ClientFor) -> None:
    small = client_for(SMALL_BODY_SCENARIO)
    app = app_of(small)
    body = b"username=demo&password=demo&to=07700900123&text=" + b"a" * 2000
    answer = small.post(
        SEND,
        content=chunks(body, 256),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert_nothing_sent(app)


def test_large_chunked_upload_over_a_real_socket_is_413(
    live_server: Callable[[GatewayApp], LiveServer],
) -> None:
    server = live_server(build_app(SMALL_BODY_SCENARIO.replace("1000", "65536")))
    total_chunks = 4096  # 256 MiB in all, far more than socket buffers hold
    sent = 0

    def upload() -> Iterator[bytes]:
        nonlocal sent
        yield mms_fields() + b'--AaB03x\r\nContent-Disposition: form-data; filename="x"\r\n\r\n'
        chunk = b"\x00" * 65536
        for _ in range(total_chunks):
            sent += 1
            yield chunk

    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post(MMS, content=upload(), headers={"content-type": MULTIPART})
        assert answer.status_code == 413
        assert sent < total_chunks  # the server answered without reading the whole upload
    assert_nothing_sent(server.app)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        balance = http.get(BALANCE, params={"username": "demo", "password": "demo"})
        assert balance.status_code == 200
        assert balance.content == b"BALANCE:100"
        answer = http.post(MMS, content=small_mms(), headers={"content-type": MULTIPART})
        assert answer.status_code == 200
        assert answer.content == FIRST_ID


def test_413_over_a_raw_socket_before_the_body_ends(
    live_server: Callable[[GatewayApp], LiveServer],
) -> None:
    server = live_server(build_app(SMALL_BODY_SCENARIO))
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # One write: the headers and a 2 KiB chunk, over the 1000-byte limit. No terminating
        # chunk follows, so the body never ends: the server must answer without it.
        sock.sendall(
            b"POST /smsgateway/default.aspx HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=AaB03x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b"800\r\n" + b"\x00" * 0x800 + b"\r\n"
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413 ")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(MMS, content=small_mms(), headers={"content-type": MULTIPART})
        assert answer.status_code == 200
        assert answer.content == FIRST_ID


# --- Other types as multipart, several recipients --------------------------------------------------


def test_text_message_as_multipart(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("username", "demo")
        + field("password", "demo")
        + field("to", "07700900123")
        + field("type", "1")
        + field("text", "café €")
        + closing()
    )
    assert post_multipart(client, body, url=SEND).content == FIRST_ID
    message = only_message(app)
    assert message.type == 1
    assert message.kind == "text"
    assert message.text == "café €"
    assert message.content == ()
    assert message.cost == Decimal(1)
    assert credit(app) == Decimal(99)


def test_unicode_message_as_multipart(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("username", "demo")
        + field("password", "demo")
        + field("to", "07700900123")
        + field("type", "2")
        + field("hex", "041F04400438043204350442")
        + closing()
    )
    assert post_multipart(client, body).content == FIRST_ID
    message = only_message(app)
    assert message.kind == "unicode"
    assert message.text == "Привет"


def test_text_message_as_multipart_with_missing_text(client: TestClient, app: GatewayApp) -> None:
    body = field("username", "demo") + field("password", "demo") + field("to", "07700900123")
    assert post_multipart(client, body + closing(), url=SEND).content == b"ERR:NO_TEXT"
    assert_nothing_sent(app)


def test_mms_to_two_recipients(client: TestClient, app: GatewayApp) -> None:
    answer = post_multipart(client, vendor_body(to="07700900123,+447700900124"))
    assert answer.content == (
        b"447700900123,ID:10011000000000000001\r\n447700900124,ID:10011000000000000001"
    )
    message = only_message(app)
    assert message.recipients == ("447700900123", "447700900124")
    assert message.content == (FILE1, FILE2, FILE3)
    assert message.cost == Decimal(10)
    assert credit(app) == Decimal(90)


def test_mms_to_repeated_to_parts_is_joined(client: TestClient, app: GatewayApp) -> None:
    body = (
        field("username", "demo")
        + field("password", "demo")
        + field("to", "07700900123")
        + field("to", "07700900124")
        + field("type", "5")
        + file_part(FILE1)
        + closing()
    )
    answer = post_multipart(client, body)
    assert answer.content == (
        b"447700900123,ID:10011000000000000001\r\n447700900124,ID:10011000000000000001"
    )
    assert credit(app) == Decimal(90)


def test_mms_with_one_unroutable_recipient(client: TestClient, app: GatewayApp) -> None:
    answer = post_multipart(client, vendor_body(to="07700900123,07700900901"))
    assert answer.content == (
        b"447700900123,ID:10011000000000000001\r\n07700900901,ERR:INVALID_NUMBER"
    )
    message = only_message(app)
    assert message.recipients == ("447700900123",)
    assert message.cost == Decimal(5)
    assert credit(app) == Decimal(95)


def test_mms_insufficient_credit(client: TestClient, app: GatewayApp) -> None:
    numbers = ",".join(f"077009{n:05d}" for n in range(101, 122))  # 21 recipients, 105 credits
    answer = post_multipart(client, vendor_body(to=numbers))
    assert answer.content == b"ERR:INSUFFICIENT_CREDIT"
    assert_nothing_sent(app)
