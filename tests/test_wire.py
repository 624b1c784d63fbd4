"""Reading requests off the wire (README "What is simulated": parameters, text encoding, answers): GET and POST, merged fields,
case-insensitive names and paths, repeated names, charsets, the exact answer bytes, and the
transport-level statuses (404, 405, 413).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from gateway_sim.server.app import GatewayApp
from tests.conftest import BALANCE, MMS, SEND, app_of, credit, only_message
from tests.helpers import SMALL_BODY_SCENARIO

ClientFor = Callable[[str], TestClient]

FIRST_ID = b"ID:10011000000000000001"
FORM = "application/x-www-form-urlencoded"
LOGIN = b"username=demo&password=demo"

LF_SCENARIO = """
version: 1
settings: {line_ending: lf, trailing_newline: true}
accounts:
  - {username: demo, password: demo, credit: 100, default_sender: "447700900000"}
"""


def post_form(client: TestClient, url: str, body: bytes, content_type: str = FORM) -> bytes:
    answer = client.post(url, content=body, headers={"content-type": content_type})
    assert answer.status_code == 200
    return answer.content


# --- GET, POST, merging ----------------------------------------------------------------------


def test_get_query_string_sends(client: TestClient, app: GatewayApp) -> None:
    answer = client.get(SEND + "?username=demo&password=demo&to=07700900123&text=hello+there")
    assert answer.status_code == 200
    assert answer.content == FIRST_ID
    message = only_message(app)
    assert message.recipients == ("447700900123",)
    assert message.text == "hello there"
    assert message.kind == "text"
    assert credit(app) == Decimal(99)


def test_post_urlencoded_sends(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=hello%20there"
    assert post_form(client, SEND, body) == FIRST_ID
    message = only_message(app)
    assert message.recipients == ("447700900123",)
    assert message.text == "hello there"
    assert credit(app) == Decimal(99)


def test_query_and_body_are_merged(client: TestClient, app: GatewayApp) -> None:
    answer = client.post(
        SEND + "?username=demo&password=demo",
        content=b"to=07700900123&text=merged",
        headers={"content-type": FORM},
    )
    assert answer.content == FIRST_ID
    assert only_message(app).text == "merged"


def test_body_wins_over_query_for_the_same_name(client: TestClient, app: GatewayApp) -> None:
    answer = client.post(
        SEND + "?username=demo&password=demo&to=07700900123&text=from-query",
        content=b"text=from-body",
        headers={"content-type": FORM},
    )
    assert answer.content == FIRST_ID
    assert only_message(app).text == "from-body"


def test_body_wins_even_when_the_query_value_is_the_valid_one(client: TestClient) -> None:
    answer = client.post(
        SEND + "?username=demo&password=demo&to=07700900123&text=hi",
        content=b"password=wrong",
        headers={"content-type": FORM},
    )
    assert answer.content == b"ERR:LOGIN_INVALID"


def test_parameter_names_are_case_insensitive(client: TestClient, app: GatewayApp) -> None:
    body = b"USERNAME=demo&PassWord=demo&To=07700900123&TEXT=upper"
    assert post_form(client, SEND, body) == FIRST_ID
    message = only_message(app)
    assert message.text == "upper"
    assert message.recipients == ("447700900123",)


def test_parameter_names_are_case_insensitive_across_query_and_body(
    client: TestClient, app: GatewayApp
) -> None:
    answer = client.post(
        SEND + "?username=demo&password=demo&to=07700900123&TEXT=from-query",
        content=b"Text=from-body",
        headers={"content-type": FORM},
    )
    assert answer.content == FIRST_ID
    assert only_message(app).text == "from-body"


@pytest.mark.parametrize(
    "path",
    [
        "/SMSGateway/SendMsg.aspx",
        "/SMSGATEWAY/SENDMSG.ASPX",
        "/smsgateway/Default.aspx",
    ],
)
def test_paths_are_case_insensitive(client: TestClient, app: GatewayApp, path: str) -> None:
    body = LOGIN + b"&to=07700900123&text=hi"
    assert post_form(client, path, body) == FIRST_ID
    assert only_message(app).endpoint == path.lower()


def test_balance_path_is_case_insensitive(client: TestClient) -> None:
    answer = client.get("/SMSGateway/GetBalance.ASPX?username=demo&password=demo")
    assert answer.status_code == 200
    assert answer.content == b"BALANCE:100"


def test_unknown_parameters_are_ignored(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=hi&colour=blue&x-debug=1&=orphan&flag"
    assert post_form(client, SEND, body) == FIRST_ID
    message = only_message(app)
    assert message.text == "hi"
    assert credit(app) == Decimal(99)


def test_a_name_sent_twice_is_joined_with_a_comma(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&to=07700900124&text=hi"
    assert post_form(client, SEND, body) == (
        b"447700900123,ID:10011000000000000001\r\n447700900124,ID:10011000000000000001"
    )
    message = only_message(app)
    assert message.recipients == ("447700900123", "447700900124")
    assert message.cost == Decimal(2)
    assert credit(app) == Decimal(98)


def test_a_text_sent_twice_is_joined_with_a_comma(client: TestClient, app: GatewayApp) -> None:
    answer = client.get(SEND + "?username=demo&password=demo&to=07700900123&text=a&text=b")
    assert answer.content == FIRST_ID
    assert only_message(app).text == "a,b"


def test_repeated_name_in_query_and_body_body_wins(client: TestClient, app: GatewayApp) -> None:
    answer = client.post(
        SEND + "?username=demo&password=demo&to=07700900123&to=07700900124",
        content=b"to=07700900125&text=hi",
        headers={"content-type": FORM},
    )
    assert answer.content == FIRST_ID
    assert only_message(app).recipients == ("447700900125",)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"username=&password=demo&to=07700900123&text=hi", b"ERR:NO_USERNAME"),
        (b"username=demo&password=&to=07700900123&text=hi", b"ERR:NO_PASSWORD"),
        (b"username=demo&password=demo&to=&text=hi", b"ERR:NO_TO"),
        (b"username=demo&password=demo&to=07700900123&text=", b"ERR:NO_TEXT"),
        (b"username=demo&password=demo&to=07700900123&type=2&hex=", b"ERR:PARAMETER_MISSING"),
        (b"username&password=demo&to=07700900123&text=hi", b"ERR:NO_USERNAME"),
    ],
)
def test_a_field_sent_empty_counts_as_missing(
    client: TestClient, app: GatewayApp, body: bytes, expected: bytes
) -> None:
    assert post_form(client, SEND, body) == expected
    assert len(app.store) == 0
    assert credit(app) == Decimal(100)


def test_empty_type_means_text(client: TestClient, app: GatewayApp) -> None:
    assert post_form(client, SEND, LOGIN + b"&to=07700900123&text=hi&type=") == FIRST_ID
    assert only_message(app).kind == "text"


# --- Client SDK shapes -----------------------------------------------------------------------


def test_java_sdk_shape(client: TestClient, app: GatewayApp) -> None:
    hex_text = "Привет".encode("utf-16-be").hex().upper()
    assert hex_text == "041F04400438043204350442"
    body = (
        b"username=demo&password=demo&to=07700900123&from=447700900555&type=2&hex="
        + hex_text.encode()
        + b"&clientid=IntelliSMSJava&clientver=1.0.0"
    )
    answer = client.post(
        MMS,
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded; charset:utf-8"},
    )
    assert answer.status_code == 200
    assert answer.content == FIRST_ID
    message = only_message(app)
    assert message.text == "Привет"
    assert message.kind == "unicode"
    assert message.type == 2
    assert message.encoding == "ucs2"
    assert message.parts == 1
    assert message.sender == "447700900555"
    assert message.endpoint == MMS
    assert credit(app) == Decimal(99)


def test_java_sdk_charset_colon_still_reads_utf8_text(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf%C3%A9"
    answer = client.post(
        MMS,
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded; charset:utf-8"},
    )
    assert answer.content == FIRST_ID
    assert only_message(app).text == "café"


def test_php_sdk_shape(client: TestClient, app: GatewayApp) -> None:
    hex_text = "Привет".encode("utf-16-be").hex()
    assert hex_text == "041f04400438043204350442"
    body = b"username=demo&password=demo&to=07700900123&maxconcat=1&type=2&hex=" + hex_text.encode()
    assert post_form(client, SEND, body) == FIRST_ID
    message = only_message(app)
    assert message.text == "Привет"
    assert message.kind == "unicode"
    assert message.parts == 1
    assert message.truncated is False
    assert credit(app) == Decimal(99)


def test_unencoded_plus_in_get_query_is_harmless(client: TestClient, app: GatewayApp) -> None:
    answer = client.get(SEND + "?username=demo&password=demo&to=+447700900123&text=hi")
    assert answer.status_code == 200
    assert answer.content == FIRST_ID
    assert only_message(app).recipients == ("447700900123",)


def test_encoded_plus_in_get_query_is_international(client: TestClient, app: GatewayApp) -> None:
    answer = client.get(SEND + "?username=demo&password=demo&to=%2B447700900123&text=hi")
    assert answer.content == FIRST_ID
    assert only_message(app).recipients == ("447700900123",)


# --- Charsets --------------------------------------------------------------------------------


def test_utf8_text_is_stored_as_sent(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf%C3%A9%20%E2%82%AC"
    assert post_form(client, SEND, body) == FIRST_ID
    message = only_message(app)
    assert message.text == "café €"
    assert message.encoding == "gsm7"


def test_utf8_text_in_get_query(client: TestClient, app: GatewayApp) -> None:
    answer = client.get(
        SEND + "?username=demo&password=demo&to=07700900123&text=caf%C3%A9%20%E2%82%AC"
    )
    assert answer.content == FIRST_ID
    assert only_message(app).text == "café €"


def test_raw_utf8_bytes_in_body(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=" + "café €".encode()
    assert post_form(client, SEND, body) == FIRST_ID
    assert only_message(app).text == "café €"


def test_percent_encoded_windows_1252_falls_back(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf%E9"
    assert post_form(client, SEND, body) == FIRST_ID
    assert only_message(app).text == "café"


def test_percent_encoded_windows_1252_euro(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf%E9+%80"
    assert post_form(client, SEND, body) == FIRST_ID
    assert only_message(app).text == "café €"


def test_raw_windows_1252_byte_falls_back(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf\xe9"
    assert post_form(client, SEND, body) == FIRST_ID
    assert only_message(app).text == "café"


def test_windows_1252_fallback_is_per_field(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf%E9&usercontext=%E2%82%AC"
    assert post_form(client, SEND, body) == FIRST_ID
    message = only_message(app)
    assert message.text == "café"
    assert message.user_context == "€"


def test_windows_1252_in_get_query_falls_back(client: TestClient, app: GatewayApp) -> None:
    answer = client.get(SEND + "?username=demo&password=demo&to=07700900123&text=caf%E9")
    assert answer.content == FIRST_ID
    assert only_message(app).text == "café"


def test_declared_latin1_charset_decodes_as_latin1(client: TestClient, app: GatewayApp) -> None:
    # These bytes are valid UTF-8 ("é"), but the declared charset wins.
    body = LOGIN + b"&to=07700900123&text=caf%C3%A9"
    content_type = "application/x-www-form-urlencoded; charset=iso-8859-1"
    assert post_form(client, SEND, body, content_type) == FIRST_ID
    assert only_message(app).text == "cafÃ©"


def test_declared_latin1_charset_raw_byte(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123&text=caf\xe9"
    content_type = "application/x-www-form-urlencoded; charset=ISO-8859-1"
    assert post_form(client, SEND, body, content_type) == FIRST_ID
    assert only_message(app).text == "café"


@pytest.mark.parametrize("raw", [b"%81abc", b"\x81abc"])
def test_windows_1252_undefined_byte_does_not_crash(
    client: TestClient, app: GatewayApp, raw: bytes
) -> None:
    body = LOGIN + b"&to=07700900123&text=" + raw
    assert post_form(client, SEND, body) == FIRST_ID
    assert only_message(app).text == "\x81abc"


# --- Answer format ---------------------------------------------------------------------------


def test_single_line_answer_has_no_trailing_newline(client: TestClient) -> None:
    answer = client.post(
        SEND, content=LOGIN + b"&to=07700900123&text=hi", headers={"content-type": FORM}
    )
    assert answer.content == FIRST_ID
    assert not answer.content.endswith((b"\n", b"\r"))


def test_multi_line_answer_joined_by_crlf(client: TestClient, app: GatewayApp) -> None:
    body = LOGIN + b"&to=07700900123,07700900124,12,07700900900&text=hi"
    assert post_form(client, SEND, body) == (
        b"447700900123,ID:10011000000000000001\r\n"
        b"447700900124,ID:10011000000000000001\r\n"
        b"12,ERR:INVALID_NUMBER\r\n"
        b"07700900900,ERR:INVALID_NUMBER"
    )
    message = only_message(app)
    assert message.recipients == ("447700900123", "447700900124")
    assert credit(app) == Decimal(98)


def test_error_answer_is_a_single_line(client: TestClient) -> None:
    assert post_form(client, SEND, b"password=demo&to=07700900123&text=hi") == b"ERR:NO_USERNAME"


def test_lf_and_trailing_newline_settings(client_for: ClientFor) -> None:
    lf_client: TestClient = client_for(LF_SCENARIO)
    multi = lf_client.post(
        SEND, content=LOGIN + b"&to=07700900123,07700900124&text=hi", headers={"content-type": FORM}
    )
    assert multi.status_code == 200
    assert multi.content == (
        b"447700900123,ID:10011000000000000001\n447700900124,ID:10011000000000000001\n"
    )
    single = lf_client.post(
        SEND, content=LOGIN + b"&to=07700900123&text=hi", headers={"content-type": FORM}
    )
    assert single.content == b"ID:10011000000000000002\n"
    error = lf_client.post(SEND, content=LOGIN + b"&text=hi", headers={"content-type": FORM})
    assert error.content == b"ERR:NO_TO\n"
    balance = lf_client.get(BALANCE + "?username=demo&password=demo")
    assert balance.content == b"BALANCE:97\n"


# --- Transport-level statuses ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", [SEND, MMS, BALANCE, "/SMSGateway/SendMsg.aspx"])
def test_other_methods_get_405(client: TestClient, app: GatewayApp, method: str, path: str) -> None:
    answer = client.request(
        method, path, content=LOGIN + b"&to=07700900123&text=hi", headers={"content-type": FORM}
    )
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert len(app.store) == 0
    assert credit(app) == Decimal(100)


@pytest.mark.parametrize(
    "path",
    ["/smsgateway/nosuch.aspx", "/sendmsg.aspx", "/smsgateway/sendmsg.aspx/extra", "/nosuch"],
)
def test_unknown_path_is_404(client: TestClient, app: GatewayApp, path: str) -> None:
    answer = client.post(
        path, content=LOGIN + b"&to=07700900123&text=hi", headers={"content-type": FORM}
    )
    assert answer.status_code == 404
    assert len(app.store) == 0


def test_body_over_max_body_bytes_is_413(client_for: ClientFor) -> None:
    small: TestClient = client_for(SMALL_BODY_SCENARIO)
    app = app_of(small)
    body = LOGIN + b"&to=07700900123&text=hi&pad="
    body += b"x" * (1001 - len(body))
    assert len(body) == 1001
    answer = small.post(SEND, content=body, headers={"content-type": FORM})
    assert answer.status_code == 413
    assert len(app.store) == 0
    assert credit(app) == Decimal(100)
    # The next, normal request still works.
    after = small.post(
        SEND, content=LOGIN + b"&to=07700900123&text=hi", headers={"content-type": FORM}
    )
    assert after.status_code == 200
    assert after.content == FIRST_ID
    assert credit(app) == Decimal(99)


def test_body_exactly_max_body_bytes_is_accepted(client_for: ClientFor) -> None:
    small: TestClient = client_for(SMALL_BODY_SCENARIO)
    app = app_of(small)
    body = LOGIN + b"&to=07700900123&text=hi&pad="
    body += b"x" * (1000 - len(body))
    assert len(body) == 1000
    answer = small.post(SEND, content=body, headers={"content-type": FORM})
    assert answer.status_code == 200
    assert answer.content == FIRST_ID
    assert credit(app) == Decimal(99)


def test_content_length_over_limit_is_413_even_for_get(client_for: ClientFor) -> None:
    small: TestClient = client_for(SMALL_BODY_SCENARIO)
    app = app_of(small)
    answer = small.request(
        "GET",
        SEND + "?username=demo&password=demo&to=07700900123&text=hi",
        content=b"x" * 2000,
    )
    assert answer.status_code == 413
    assert len(app.store) == 0


# --- Every protocol outcome is HTTP 200 text/plain ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (SEND, LOGIN + b"&to=07700900123&text=hi", FIRST_ID),
        (SEND, b"password=demo&to=07700900123&text=hi", b"ERR:NO_USERNAME"),
        (SEND, b"username=demo&to=07700900123&text=hi", b"ERR:NO_PASSWORD"),
        (SEND, b"username=demo&password=nope&to=07700900123&text=hi", b"ERR:LOGIN_INVALID"),
        (SEND, LOGIN + b"&text=hi", b"ERR:NO_TO"),
        (SEND, LOGIN + b"&to=07700900123", b"ERR:NO_TEXT"),
        (SEND, LOGIN + b"&to=07700900123&text=hi&type=9", b"ERR:INVALID_REQUEST"),
        (SEND, LOGIN + b"&to=07700900123&type=2&hex=zz", b"ERR:PARAMETER_INVALID"),
        (SEND, LOGIN + b"&to=07700900900&text=hi", b"ERR:INVALID_NUMBER"),
        (SEND, LOGIN + b"&to=07700900123&text=hi&maxconcat=11", b"ERR:PARAMETER_INVALID"),
        (MMS, LOGIN + b"&to=07700900123&type=5", b"ERR:INVALID_REQUEST"),
        (BALANCE, LOGIN, b"BALANCE:100"),
        (BALANCE, b"username=demo&password=nope", b"ERR:LOGIN_INVALID"),
    ],
)
def test_every_outcome_is_200_text_plain(
    client: TestClient, path: str, body: bytes, expected: bytes
) -> None:
    answer = client.post(path, content=body, headers={"content-type": FORM})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.content == expected


def test_insufficient_credit_is_200_text_plain(client: TestClient, app: GatewayApp) -> None:
    numbers = ",".join(f"077009{n:05d}" for n in range(101, 201)).encode()
    # 100 recipients at 2 parts each cost 200 credits, over the balance of 100.
    body = LOGIN + b"&to=" + numbers + b"&maxconcat=2&text=" + b"a" * 161
    answer = client.post(SEND, content=body, headers={"content-type": FORM})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.content == b"ERR:INSUFFICIENT_CREDIT"
    assert len(app.store) == 0
    assert credit(app) == Decimal(100)


def test_multipart_error_is_200_text_plain(client: TestClient) -> None:
    answer = client.post(SEND, content=b"junk", headers={"content-type": "multipart/form-data"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.content == b"ERR:INVALID_REQUEST"
