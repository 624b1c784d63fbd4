"""A --db file that cannot be written stops the start with one line (exit 1), before "listening
on": otherwise sends would be answered `ID:` that the file never keeps. The line names the uid
and the fix (a root-owned folder bind-mounted at the image's /data is the usual case). Run as
an unprivileged user (root may write anywhere); skipped where no such user can be had, never
faked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "gateway-sim"
NOBODY = 65534


def _as_nobody(argv: list[str]) -> subprocess.CompletedProcess[str]:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the simulator as an unprivileged user")
    command = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A folder the unprivileged user may enter (the test's tmp_path may not be)."""
    path = Path(f"/tmp/gateway-sim-ro-{os.getpid()}-{tmp_path.name}")
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _serve(db: Path) -> subprocess.CompletedProcess[str]:
    return _as_nobody([str(SCRIPT), "serve", "--port", "0", "--db", str(db)])


def test_a_read_only_database_file_in_a_writable_folder_stops_the_start(folder: Path) -> None:
    os.chown(folder, NOBODY, NOBODY)
    db = folder / "sim.db"
    db.write_bytes(b"")
    db.chmod(0o444)
    finished = _serve(db)
    assert finished.returncode == 1, finished
    assert "listening on" not in finished.stdout
    assert finished.stderr.strip().splitlines() == [
        f"gateway-sim: cannot open the database {db}: the file is not writable by this user "
        f"(uid {NOBODY}): give it to that uid (chown {NOBODY} {db}) or run as its owner "
        "(docker run --user)"
    ]


def test_a_database_in_a_folder_the_user_cannot_write_stops_the_start(folder: Path) -> None:
    db = folder / "sim.db"  # the folder is root's, 0755
    finished = _serve(db)
    assert finished.returncode == 1, finished
    assert "listening on" not in finished.stdout
    assert finished.stderr.strip().splitlines() == [
        f"gateway-sim: cannot open the database {db}: the folder {folder} is not writable by "
        f"this user (uid {NOBODY}): give it to that uid (chown {NOBODY} {folder}) or run as its "
        "owner (docker run --user)"
    ]
