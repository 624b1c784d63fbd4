"""WireMock, the peer the simulator is measured against: its jar, its stubs, its process.

The jar comes from the npm package `wiremock` (it ships WireMock's standalone jar), installed
with npm into bench/out/wiremock/ the first time it is needed; nothing else is downloaded. It runs
on the machine's Java (17) with WireMock's defaults: the request journal ON and unbounded (no
`--no-request-journal`, no `--max-request-journal-entries`), as a CI job would run it.

Each measured case gets its own mapping file (`stubs()`), loaded at start from
`--root-dir DIR/mappings/`: a stub of the same send answering what the simulator answers to it
(`cases.py` checks both alike):

- `single`, `latency`: POST /smsgateway/sendmsg.aspx with the form's `username` and `password`
  -> `ID:10011000000000000001` (text/plain); `latency` adds `fixedDelayMilliseconds: 200`;
- `hundred`: the same match -> the simulator's 50 lines `447700900100,ID:...` (CRLF, no trailing
  newline) for the 100-recipient send (50 numbers twice);
- `mms`: POST /smsgateway/default.aspx whose multipart body has a `username` part `bench` -> the
  ID line;
- `callbacks`: the `single` stub plus, at a higher priority, one for `delrpt=1` whose built-in
  `webhook` serve-event listener posts a delivery report form
  (`msgid=...&status=4&toaddr=44...`, the `to` number made international) to the receiver.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cases as cases_module
import servers

PACKAGE = "wiremock@3"  # WireMock 3: serve-event listeners and the webhook built in
HOME = servers.BENCH / "out" / "wiremock"
MAPPINGS = "mappings"
ANSWER = cases_module.BASELINE_ANSWER
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
_CREDENTIALS = {
    "username": {"equalTo": cases_module.USERNAME},
    "password": {"equalTo": cases_module.PASSWORD},
}
REPORT_BODY = (
    "{{formData originalRequest.body 'form' urlDecode=true}}"
    f"msgid={ANSWER[3:]}&status=4&toaddr=44{{{{substring form.to 1}}}}"
)


class WiremockError(RuntimeError):
    """WireMock's jar could not be had, or Java is missing."""


def find_jar(home: Path = HOME) -> Path | None:
    found = sorted(home.glob("node_modules/wiremock/**/wiremock-standalone-*.jar"))
    return found[-1] if found else None


def jar(home: Path = HOME) -> Path:
    """The standalone jar, installed from npm into `home` if it is not there yet."""
    found = find_jar(home)
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise WiremockError("npm is needed to install WireMock (apt-get install npm)")
    home.mkdir(parents=True, exist_ok=True)
    print(f"installing {PACKAGE} with npm into {home}", flush=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(home), "--no-audit", "--no-fund", PACKAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    found = find_jar(home)
    if done.returncode != 0 or found is None:
        raise WiremockError(f"npm install {PACKAGE} failed: {done.stderr or done.stdout}")
    return found


def java() -> str:
    found = shutil.which("java")
    if found is None:
        raise WiremockError("Java 17 is needed to run WireMock (apt-get install openjdk-17-jre)")
    return found


def java_version() -> str:
    """`openjdk version "17.0.15" ...`: the first line of `java -version`."""
    done = subprocess.run([java(), "-version"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).splitlines()[0].strip()


def version(path: Path) -> str:
    """The WireMock version, from the jar's name."""
    return path.stem.removeprefix("wiremock-standalone-")


def _answer(body: str, delay_ms: int = 0) -> dict[str, Any]:
    response: dict[str, Any] = {"status": 200, "body": body, "headers": _TEXT}
    if delay_ms:
        response["fixedDelayMilliseconds"] = delay_ms
    return response


def _send_stub(body: str, delay_ms: int = 0, priority: int = 5) -> dict[str, Any]:
    return {
        "priority": priority,
        "request": {
            "method": "POST",
            "urlPath": cases_module.SEND_PATH,
            "formParameters": dict(_CREDENTIALS),
        },
        "response": _answer(body, delay_ms),
    }


def hundred_answer() -> str:
    """The simulator's answer to the 100-recipient send: one line per distinct number."""
    return "\r\n".join(f"{number},{ANSWER}" for number in cases_module.DISTINCT)


def _mms_stub() -> dict[str, Any]:
    username = {
        "matchingType": "ANY",
        "headers": {"Content-Disposition": {"contains": 'name="username"'}},
        "bodyPatterns": [{"equalTo": cases_module.USERNAME}],
    }
    return {
        "priority": 5,
        "request": {
            "method": "POST",
            "urlPath": cases_module.MMS_PATH,
            "multipartPatterns": [username],
        },
        "response": _answer(ANSWER),
    }


def _report_stub(status_url: str) -> dict[str, Any]:
    stub = _send_stub(ANSWER, priority=1)
    stub["request"]["formParameters"]["delrpt"] = {"equalTo": "1"}
    stub["serveEventListeners"] = [
        {
            "name": "webhook",
            "parameters": {
                "method": "POST",
                "url": status_url,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "body": REPORT_BODY,
            },
        }
    ]
    return stub


def stubs(case: str, status_url: str = "") -> list[dict[str, Any]]:
    """The mappings WireMock serves for one case (`status_url`: the callbacks receiver)."""
    if case in ("single", "store"):
        return [_send_stub(ANSWER)]
    if case == "latency":
        return [_send_stub(ANSWER, delay_ms=200)]
    if case == "hundred":
        return [_send_stub(hundred_answer())]
    if case == "mms":
        return [_mms_stub()]
    if case == "callbacks":
        return [_report_stub(status_url), _send_stub(ANSWER)]
    raise ValueError(f"no WireMock stub for case {case!r}")


def write_root(root: Path, mappings: list[dict[str, Any]]) -> Path:
    """A `--root-dir` holding the mappings (and an empty __files); return it."""
    (root / MAPPINGS).mkdir(parents=True, exist_ok=True)
    (root / "__files").mkdir(exist_ok=True)
    text = json.dumps({"mappings": mappings}, indent=2)
    (root / MAPPINGS / "stubs.json").write_text(text + "\n")
    return root


def command(root: Path, port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """`java -jar wiremock-standalone.jar` on `port`, journal on (WireMock's default)."""
    return [
        java(),
        "-jar",
        str(jar()),
        "--port",
        str(port),
        "--bind-address",
        "127.0.0.1",
        "--disable-banner",
        "--root-dir",
        str(root),
        *extra,
    ]


@contextmanager
def serve(
    root: Path, log: Path, extra: tuple[str, ...] = (), timeout: float = 60.0
) -> Iterator[servers.Server]:
    """Start WireMock on a free port, wait until it takes connections, stop it afterwards."""
    port = servers.free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(root, port, extra),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    try:
        wait_until_started(process, log, timeout)
        servers._accepting(process, "127.0.0.1", port, log, timeout)
        yield servers.Server("wiremock", process, "127.0.0.1", port, log)
    finally:
        servers.stop(process)


def wait_until_started(process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait for WireMock's own `started` line (it listens a moment before it is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "started" in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise servers.ServerError(f"exited with {process.returncode}:\n{servers.log_tail(log)}")
        time.sleep(0.01)
    raise servers.ServerError(f"WireMock not started within {timeout} s")
