"""`gateway-sim serve --db` with files it did not write or wrote long ago, as real processes: a
file of an older schema version is migrated before "listening on", all it showed still shown; a
crafted one, a newer one, another program's and one that is not SQLite stop the start with one
line (exit 1, no traceback), and no pickle in any file ever runs, at start or when read."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers_store import FIXTURES, Marker, old_file
from tests.serving import SCRIPT, served

LOGIN = {"username": "demo", "password": "demo"}


def refused(db: Path) -> str:
    """The one line `serve` stops with (exit 1, nothing on stdout); the file left as it was."""
    before = db.read_bytes()
    finished = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 1, finished
    assert finished.stdout == ""
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith(f"gateway-sim: cannot open the database {db}: ")
    assert db.read_bytes() == before
    return line.removeprefix(f"gateway-sim: cannot open the database {db}: ")


def test_a_crafted_old_file_is_refused_before_listening_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    db = old_file(tmp_path / "crafted.db")
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE messages SET record = ? WHERE seq = 1", (pickle.dumps(Marker(marker)),)
        )
    reason = refused(db)
    assert reason.startswith("messages record 1 is not plain data: STACK_GLOBAL")
    assert reason.endswith("would run code at byte 28; nothing of it was run")
    assert not marker.exists()


def test_a_crafted_record_in_a_current_file_runs_nothing_when_listed(tmp_path: Path) -> None:
    marker, db = tmp_path / "MARKER", tmp_path / "sim.db"
    with served("--db", str(db)) as server:
        httpx.post(
            server.url + "/smsgateway/sendmsg.aspx",
            data={**LOGIN, "to": "07700900123", "text": "x"},
        )
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE messages SET record = ?", (pickle.dumps(Marker(marker)),))
    with served("--db", str(db)) as server:
        for _ in range(3):
            httpx.get(server.url + "/_sim/messages")
            httpx.get(server.url + "/_sim/messages/10011000000000000001")
        assert httpx.get(server.url + "/_sim/health").status_code == 200
    assert not marker.exists()


def newer(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE messages (seq INTEGER PRIMARY KEY, everything TEXT)")
        db.execute("PRAGMA user_version = 7")
    return path


def foreign(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        db.execute("INSERT INTO invoices VALUES (1, 9.5)")
    return path


def missing_columns(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT)")
        db.execute("CREATE TABLE parts (message_seq INTEGER)")
        db.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE statuses (seq INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)")
    return path


def not_sqlite(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(4096))
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (newer, "it has schema version 7, written by a newer gateway-sim (this one reads version 1 and migrates version 0)"),
        (foreign, "it is not a gateway-sim database: it has the tables 'invoices' (schema version 0)"),
        (missing_columns, "its table 'journal' has the columns 'seq', not gateway-sim's 'seq', 'at', 'path', 'account', 'recipients', 'sender', 'type', 'text', ... (schema version 0)"),
        (not_sqlite, "it is not an SQLite database (file is not a database)"),
    ],
)  # fmt: skip
def test_a_file_of_another_kind_is_refused_with_one_line(
    make: Any, reason: str, tmp_path: Path
) -> None:
    assert refused(make(tmp_path / "other.db")) == reason


def test_an_old_file_is_migrated_and_shows_all_it_showed(tmp_path: Path) -> None:
    """tests/fixtures/old_format.sql is a file written by gateway-sim before schema version 1
    (its generator beside it); old_format.json is what that version showed of it."""
    shown = json.loads((FIXTURES / "old_format.json").read_text())
    db = old_file(tmp_path / "old.db")
    with served("--db", str(db), "--scenario", str(scenario(tmp_path))) as server:
        url = server.url
        lines = server.logged().strip().splitlines()
        assert lines == [
            f"gateway-sim: migrated the database {db} to schema version 1: kept 10 messages, 9 "
            "journal entries, 3 delivery statuses, the content parts, accounts, credit and id "
            "counter; dropped 1 journal entry cut to the body cap, 3 callback attempts, 3 "
            "pending callbacks (version 0 kept them as pickled classes, which cannot be read "
            "without running code)"
        ]
        assert httpx.get(url + "/_sim/messages").json()["messages"] == shown["messages"]
        kept = [entry for entry in shown["requests"] if not entry["body_truncated"]]
        assert len(kept) == len(shown["requests"]) - 1
        assert httpx.get(url + "/_sim/requests").json()["requests"] == kept
        assert httpx.get(url + "/_sim/accounts").json() == shown["accounts"]
        assert httpx.get(
            url + "/_sim/messages/10011000000000000008/parts/0"
        ).content == b"\x89PNG\r\n\x1a\n" + bytes(range(40))
        assert httpx.get(url + "/_sim/callbacks").json()["callbacks"] == []
        sent = httpx.post(
            url + "/smsgateway/sendmsg.aspx", data={**LOGIN, "to": "07700900123", "text": "new"}
        )
        assert sent.text == "ID:10011000000000000011"  # the id counter goes on
        balance = httpx.get(url + "/smsgateway/getbalance.aspx", params=LOGIN).text
        assert balance == "BALANCE:94"  # 95.5 left, less 1
    with served("--db", str(db)) as server:  # migrated once: opened as it is now
        assert server.logged() == ""
        assert len(httpx.get(server.url + "/_sim/messages").json()["messages"]) == 11


def scenario(folder: Path) -> Path:
    """The scenario the old file was written with, its callbacks sent nowhere."""
    path = folder / "s.yaml"
    path.write_text(
        'version: 1\naccounts: [{username: demo, password: demo, credit: 100, default_sender: "447700900000"}]\n'
    )
    return path
