"""Startup time: spawn `gateway-sim serve --port N` (default scenario) and time it from the spawn
to the first HTTP 200 `ID:` answer to a send request, polling with a raw socket every 2 ms.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path

from servers import ROOT, ServerError, clean_env, free_port, gateway_sim, log_tail, stop

_BODY = b"username=demo&password=demo&to=07700900123&text=startup"
_POLL = 0.002


def _request(port: int) -> bytes:
    head = (
        f"POST /smsgateway/sendmsg.aspx HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(_BODY)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + _BODY


def _ask(port: int) -> bytes | None:
    """The whole response to one send, or None while nothing listens yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(_request(port))
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except (ConnectionRefusedError, ConnectionResetError):
        return None
    return b"".join(chunks)


def measure_once(timeout: float = 15.0) -> float:
    """Seconds from spawn to the first answered send."""
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="gateway-sim-startup-", suffix=".log") as log:
        start = time.perf_counter()
        process = subprocess.Popen(
            [gateway_sim(), "serve", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=clean_env(),
        )
        try:
            while time.perf_counter() - start < timeout:
                answer = _ask(port)
                if answer is not None:
                    elapsed = time.perf_counter() - start
                    head, _, body = answer.partition(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 200") or not body.startswith(b"ID:"):
                        raise ServerError(f"first answer was not 200 ID: {answer[:300]!r}")
                    return elapsed
                if process.poll() is not None:
                    raise ServerError(f"exited with {process.returncode}")
                time.sleep(_POLL)
            raise ServerError(f"no answer within {timeout} s")
        except ServerError as error:
            raise ServerError(f"gateway-sim serve: {error}\n{log_tail(Path(log.name))}") from None
        finally:
            stop(process)


def measure(runs: int) -> list[float]:
    """`runs` startups, one after the other."""
    return [measure_once() for _ in range(runs)]
