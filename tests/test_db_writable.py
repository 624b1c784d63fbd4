"""A --db file that cannot be written stops the start with one line (exit 1), before "listening
on": otherwise sends would be answered `ID:` that the file never keeps. The line names the uid
and the fix (a root-owned folder bind-mounted at the image's /data is the usual case). A `file:`
URI is checked as the path it names. Run as an unprivileged user (root may write anywhere), with
setpriv or else su; skipped where neither can run the simulator as that user, never faked."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import httpx
import pytest

from gateway_sim.server.serve import unwritable
from tests.conftest import start_serve

SCRIPT = Path(sys.executable).parent / "gateway-sim"
NOBODY_NAME = "nobody"
NOBODY = (
    pwd.getpwnam(NOBODY_NAME).pw_uid
    if NOBODY_NAME in {p.pw_name for p in pwd.getpwall()}
    else 65534
)
SEND = "/smsgateway/sendmsg.aspx?username=demo&password=demo&to=447700900123&text=hi"


@cache
def _runner(tools: tuple[str, ...]) -> tuple[str, ...] | None:
    """The command prefix that runs a command as the unprivileged user, with the first of `tools`
    that can run the simulator so (checked by running it); None if none can."""
    if os.geteuid() != 0:
        return None
    for tool in tools:
        found = shutil.which(tool)
        if found is None:
            continue
        if tool == "setpriv":
            prefix: tuple[str, ...] = (
                found,
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
            )
        else:  # su keeps the environment (-m); past `--` it reads no option of the command's
            prefix = (found, "-m", "-s", "/bin/sh", "-c", 'exec "$0" "$@"', "--", NOBODY_NAME)
        probe = [*prefix, str(SCRIPT), "--version"]
        if subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0:
            return prefix
    return None


def _as_nobody(tools: tuple[str, ...] = ("setpriv", "su")) -> list[str]:
    prefix = _runner(tools)
    if prefix is None:
        pytest.skip(
            f"needs root and one of {', '.join(tools)} able to run gateway-sim as uid {NOBODY}"
        )
    return list(prefix)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A folder the unprivileged user may enter (the test's tmp_path may not be)."""
    path = Path(f"/tmp/gateway-sim-ro-{os.getpid()}-{tmp_path.name}")
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _serve(db: str, tools: tuple[str, ...] = ("setpriv", "su")) -> subprocess.CompletedProcess[str]:
    argv = [*_as_nobody(tools), str(SCRIPT), "serve", "--port", "0", "--db", db]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _refused(finished: subprocess.CompletedProcess[str], line: str) -> None:
    assert finished.returncode == 1, finished
    assert "listening on" not in finished.stdout
    assert finished.stderr.strip().splitlines() == [line]


def _file_line(named: str, db: Path) -> str:
    return (
        f"gateway-sim: cannot open the database {named}: the file is not writable by this user "
        f"(uid {NOBODY}): give it to that uid (chown {NOBODY} {db}) or run as its owner "
        "(docker run --user)"
    )


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_a_read_only_database_file_in_a_writable_folder_stops_the_start(
    folder: Path, uri: bool
) -> None:
    os.chown(folder, NOBODY, NOBODY)
    db = folder / "sim.db"
    db.write_bytes(b"")
    db.chmod(0o444)
    named = f"file:{db}" if uri else str(db)
    _refused(_serve(named), _file_line(named, db))


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_a_database_in_a_folder_the_user_cannot_write_stops_the_start(
    folder: Path, uri: bool
) -> None:
    db = folder / "sim.db"  # the folder is root's, 0755
    named = f"file://localhost{db}?cache=shared" if uri else str(db)
    _refused(
        _serve(named),
        f"gateway-sim: cannot open the database {named}: the folder {folder} is not writable by "
        f"this user (uid {NOBODY}): give it to that uid (chown {NOBODY} {folder}) or run as its "
        "owner (docker run --user)",
    )


@pytest.mark.parametrize("tools", [("setpriv", "su"), ("su",)], ids=["setpriv-or-su", "su"])
def test_a_database_the_simulator_wrote_then_made_read_only_stops_the_start(
    folder: Path, tools: tuple[str, ...]
) -> None:
    """The issue's case: a file the simulator wrote (a send kept), then chmod 444, its folder
    still the user's. Refused at the start, not answered `ID:` and lost."""
    os.chown(folder, NOBODY, NOBODY)
    db = folder / "sim.db"
    argv = [*_as_nobody(tools), str(SCRIPT), "serve", "--port", "0", "--db", str(db)]
    process, url = start_serve(argv)
    try:
        assert httpx.get(url + SEND, timeout=10).text.startswith("ID:")
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0
    assert db.stat().st_uid == NOBODY
    assert db.stat().st_size > 0
    db.chmod(0o444)
    kept = db.read_bytes()
    _refused(_serve(str(db), tools), _file_line(str(db), db))
    assert db.read_bytes() == kept


def test_a_file_uri_is_read_as_sqlite_reads_it() -> None:
    """What a `file:` URI asks of SQLite: memory keeps nothing, read-only cannot take a send, a
    host is not a file here, and the path is percent-decoded before it is checked."""
    assert unwritable("file::memory:") is None
    assert unwritable("file:sim.db?mode=memory&cache=shared") is None
    for read_only in ("file:/tmp/sim.db?mode=ro", "file:/tmp/sim.db?immutable=1"):
        assert unwritable(read_only) == (
            f"cannot open the database {read_only}: it opens the file read-only; every send writes"
        )
    assert unwritable("file://elsewhere/tmp/sim.db") == (
        "cannot open the database file://elsewhere/tmp/sim.db: a file: URI names no host but "
        "localhost"
    )
    assert unwritable("file:///no%20such/sim.db#x") == (
        "cannot open the database file:///no%20such/sim.db#x: the folder /no such does not exist"
    )
