"""`serve --tls` over real sockets: a client that trusts the printed CA sends a legacy message
over https, one that does not trust it is refused, the ASGI scope says `https`, and a given
certificate and key are used (or refused at start when they do not fit)."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import SEND, start_serve

SCRIPT = Path(sys.executable).parent / "gateway-sim"
MESSAGE = {"username": "demo", "password": "demo", "to": "07700900123", "text": "over TLS"}


@pytest.fixture
def serve() -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
        process, url = start_serve([str(SCRIPT), "serve", "--port", "0", *args], env)
        started.append(process)
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5 if "--tls-cert" in args else 6)]
        return url, lines

    yield start
    for process in started:
        process.terminate()
        process.communicate(timeout=10)


def ca_path(lines: list[str]) -> str:
    found = re.search(r"TLS CA \(trust it in your client\): (\S+)", "".join(lines))
    assert found, lines
    return found.group(1)


def test_a_client_trusting_the_printed_ca_sends_over_https(serve) -> None:  # type: ignore[no-untyped-def]
    url, lines = serve("--tls")
    assert url.startswith("https://127.0.0.1:")
    trusted = ssl.create_default_context(cafile=ca_path(lines))
    answer = httpx.post(url + SEND, data=MESSAGE, verify=trusted)
    assert answer.status_code == 200
    assert answer.text == "ID:10011000000000000001"
    # the name "localhost" is in the certificate too
    port = url.rsplit(":", 1)[1]
    balance = httpx.get(
        f"https://localhost:{port}/smsgateway/getbalance.aspx",
        params={"username": "demo", "password": "demo"},
        verify=trusted,
    )
    assert balance.text == "BALANCE:99"


def test_a_client_that_does_not_trust_the_ca_is_refused(serve) -> None:  # type: ignore[no-untyped-def]
    url, _ = serve("--tls")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.post(url + SEND, data=MESSAGE)  # the system's trust store only
    # plain HTTP to the TLS port gets no gateway answer either
    with pytest.raises(httpx.HTTPError):
        httpx.post(url.replace("https://", "http://") + SEND, data=MESSAGE)


def test_the_asgi_scope_scheme_is_https(serve) -> None:  # type: ignore[no-untyped-def]
    """Starlette builds absolute URLs from the scope: a slash redirect shows its scheme."""
    url, lines = serve("--tls")
    trusted = ssl.create_default_context(cafile=ca_path(lines))
    answer = httpx.get(url + "/_sim/health/", verify=trusted, follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == url + "/_sim/health"


def test_env_twins_and_extra_hostnames_and_a_chosen_ca_file(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca_file = tmp_path / "out" / "ca.pem"
    url, lines = serve(
        env={
            "GATEWAY_SIM_TLS": "1",
            "GATEWAY_SIM_TLS_CA_FILE": str(ca_file),
            "GATEWAY_SIM_TLS_HOSTNAMES": "gateway-sim.test",
        }
    )
    assert ca_path(lines) == str(ca_file)
    trusted = ssl.create_default_context(cafile=str(ca_file))
    port = url.rsplit(":", 1)[1]
    # the added name is in the certificate: connect to 127.0.0.1 but check it as that name
    with (
        socket.create_connection(("127.0.0.1", int(port))) as raw,
        trusted.wrap_socket(raw, server_hostname="gateway-sim.test") as tls,
    ):
        assert tls.version() is not None
    # and the health check finds the simulator from the same twins, checking the certificate
    health = subprocess.run(
        [str(SCRIPT), "healthcheck"],
        env={
            **os.environ,
            "GATEWAY_SIM_TLS": "1",
            "GATEWAY_SIM_PORT": port,
            "GATEWAY_SIM_TLS_CA_FILE": str(ca_file),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert health.returncode == 0, health.stderr
    assert health.stdout.startswith("https://127.0.0.1:")


def test_a_given_certificate_and_key_are_served(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    url, lines = serve("--tls-cert", str(cert), "--tls-key", str(key))
    assert f"TLS certificate: {cert}" in "".join(lines)
    assert "TLS CA" not in "".join(lines)
    trusted = ssl.create_default_context()
    authority.configure_trust(trusted)
    assert httpx.post(url + SEND, data=MESSAGE, verify=trusted).text.startswith("ID:")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "cert.pem", "--tls-key", "cert.pem"], "cannot use"),
        (["--tls-cert", "missing.pem", "--tls-key", "missing.key"], "cannot use missing.pem"),
    ],
)
def test_unusable_tls_files_stop_serve_at_start(tmp_path: Path, args: list[str], said: str) -> None:
    trustme.CA().issue_cert("x").cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    result = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_the_generated_key_is_removed_at_the_end_and_a_chosen_ca_file_kept(tmp_path: Path) -> None:
    for chosen in (None, tmp_path / "ca.pem"):
        args = ["--tls"] + (["--tls-ca-file", str(chosen)] if chosen else [])
        process, _ = start_serve([str(SCRIPT), "serve", "--port", "0", *args])
        assert process.stdout is not None
        lines = "".join(process.stdout.readline() for _ in range(6))
        found = re.search(r"TLS certificate: (\S+)", lines)
        assert found, lines
        certificate = Path(found.group(1))
        assert certificate.exists()
        process.terminate()
        process.communicate(timeout=10)
        assert process.returncode == 0
        assert not certificate.parent.exists()  # the key went with its folder
        if chosen is not None:
            assert chosen.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_the_newer_apis_answer_over_real_https(serve) -> None:  # type: ignore[no-untyped-def]
    """`/api/https` and `/api/json` need HTTPS: over `--tls` they send, with no proxy header."""
    url, lines = serve("--tls")
    trusted = ssl.create_default_context(cafile=ca_path(lines))
    keys = {"accesskey": "demo-access", "secretkey": "demo-secret"}
    answer = httpx.post(
        url + "/api/https/sendmsg.aspx",
        data={**keys, "to": "07700900123", "text": "keys over TLS"},
        verify=trusted,
    )
    assert answer.text == "ID:10011000000000000001"
    json_send = {
        "auth": {"authtype": "accesskey", **keys},
        "message": {"to": "07700900124", "content": {"msgtype": "text", "text": "json"}},
    }
    answer = httpx.post(url + "/api/json/sendmsg.aspx", json=json_send, verify=trusted)
    assert answer.json()["messages"][0]["id"] == "10011000000000000002"
    balance = httpx.post(
        url + "/api/json/getbalance.aspx", json={"auth": json_send["auth"]}, verify=trusted
    )
    assert balance.json() == {"response_status": "ok", "balance": "98.0"}
