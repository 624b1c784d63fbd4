"""The database format holds data, never code: records as JSON and typed columns that read back
exactly; a reader of old pickles that runs nothing; the schema version and what opening a file
of each kind does (made, opened, migrated, refused, the file left as it was); and a batch that
fails losing only its bad item (in-process; tests/test_db_files.py runs real servers)."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import pickle
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import gateway_sim
from gateway_sim.control.views_records import RequestView
from gateway_sim.domain.records import (
    Attempt,
    ContentPart,
    DeliveryPlan,
    Exchange,
    KeptFields,
    ReplyPlan,
    StatusChange,
)
from gateway_sim.effects.callbacks import Callback
from gateway_sim.store import pickled
from gateway_sim.store.queries import AttemptQuery, ExchangeQuery, MessageQuery
from gateway_sim.store.rows import Unusable
from gateway_sim.store.store import Store
from tests.conftest import START
from tests.helpers import message
from tests.helpers_store import POISON, Marker, old_file

PACKAGE = Path(gateway_sim.__file__).parent


def exchange(n: int) -> Exchange:
    fields = {"username": "demo", "to": "447700900123", "text": str(n)}
    return Exchange(
        START,
        "POST",
        "/smsgateway/sendmsg.aspx",
        "",
        fields,
        6,
        200,
        "ID:1",
        "accepted",
        "",
        "demo",
        message_id=message(n).id,
        body=b"x" * 100,
    )


# -- no code ------------------------------------------------------------------------------------


def test_the_package_imports_no_pickle_marshal_or_shelve() -> None:
    forbidden = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "pickletools", "dill"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
                names = [getattr(node.args[0], "value", "") if node.args else ""]
            else:
                continue
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in forbidden]
    assert found == []
    assert len(list(PACKAGE.rglob("*.py"))) > 40  # the walk did see the package


PLAIN: list[Any] = [
    None, True, False, 0, 255, 65_535, 65_536, -1, -(2**31), 2**31, 2**100, -(2**100), 1.5,
    float("inf"), "", "x", "caf\u00e9 \u2603", "\udfff", "y" * 70_000, b"", b"\x00" * 300,
    b"z" * 70_000, (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], [1] * 3000, {},
    {"a": 1, "b": [1, {"c": (None, "d")}], "e": "\udfff"},
]  # fmt: skip


@pytest.mark.parametrize("protocol", [4, 5])
def test_the_old_record_reader_reads_plain_data_as_pickle_does(protocol: int) -> None:
    for value in PLAIN:
        assert pickled.loads(pickle.dumps(value, protocol)) == value
    shared = "shared"
    value = pickled.loads(pickle.dumps([shared, shared, (shared,)], protocol))
    assert value == [shared, shared, (shared,)]
    assert value[0] is value[1]  # the memo


def test_the_old_record_reader_refuses_what_would_run_code_and_runs_none(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    with pytest.raises(pickled.NotPlainData) as refused:
        pickled.loads(pickle.dumps(Marker(marker), 5))
    assert refused.value.names == (os.system.__module__, "system")
    assert "STACK_GLOBAL" in str(refused.value)
    assert not marker.exists()
    made = [
        b"\x80\x04cos\nsystem\n\x8c\x01x\x85R.",  # GLOBAL, REDUCE
        pickle.dumps(Attempt(START, 1, 1, "status", "demo", None, "u", {}, None, 1.0, None, "x")),
        pickle.dumps({1, 2}, 5),  # a set: not one of the records' shapes
        pickle.dumps(bytearray(b"x"), 5),
        pickle.dumps({(1,): 2}, 5),  # a container as a key
        b"\x80\x05K\x01.junk",
        b"\x80\x05\x8c\xff",  # ends early
        b"",
    ]
    for data in made:
        with pytest.raises(pickled.NotPlainData):
            pickled.loads(data)


# -- records read back exactly ----------------------------------------------------------------


def test_records_read_back_exactly_from_a_database_file(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "sim.db"))
    far = datetime(9000, 6, 1, 12, 0, 0, 123457, tzinfo=timezone(timedelta(hours=14)))
    sent = message(
        1,
        rejected=("123", "4477009009\udfff"),
        cost=Decimal("1.50"),
        created_at=far,
        user_context="ctx \udfff \u2603",
        udh="050003", ud="00ff", href="http://x/\u00e9",
        delivery=DeliveryPlan(final=5, delay_seconds=0.25, before_answer=True),
        auto_reply=ReplyPlan(after_seconds=3.0, only=("447700900123",)),
        direction="inbound", reply_to="1", network_code="234-15", rule="r",
        content=(ContentPart("snow\u2603.png", "image/png", b"\x89PNG\x00\xff"),),
    )  # fmt: skip
    store.add(sent)
    fields = KeptFields(
        {"to": "447700900123", "text": "t", "usercontext": "u\udfff"},
        body_cut=True,
        query_size=70_000,
        fields_cut=True,
        answer_cut=False,
    )
    files = ({"filename": "a\u00e9.png", "content_type": "image/png", "size": 3},)
    made = Exchange(START.replace(microsecond=999_999), "POST", "/smsgateway/sendmsg.aspx", "127.0.0.1:1", fields, 70_000, 200, "ID:1", "accepted", "why", "demo", "1", "rule", files, b"q=\xff", b"\x00body\xfe")  # fmt: skip
    store.record(made)
    store.add_status(StatusChange("1", "447700900123", 4, START + timedelta(microseconds=7)))
    tried = Attempt(START, 3, 2, "inbound", "demo", None, "http://h/\u00e9", {"messages": [{"a": 1.25}]}, 500, 12.345, "Err: \u2603", "retrying")  # fmt: skip
    store.record_attempt(tried)
    callback = Callback(9, "status", "demo", "http://h/", far, {"msgid": "1"}, None, "1", 2)
    store.keep_pending(9, far, callback.record())
    store.close()

    again = Store(str(tmp_path / "sim.db"))
    [(_, kept)] = again.messages(MessageQuery())
    assert kept == sent
    assert kept.created_at.microsecond == 123_457
    assert isinstance(kept.rejected, tuple)
    assert str(kept.cost) == "1.50"
    [(_, entry)] = again.exchanges(ExchangeQuery())
    assert entry == made
    assert isinstance(entry.parsed, KeptFields)
    assert isinstance(entry.files, tuple)
    assert RequestView.of(entry).shown() == RequestView.of(made).shown()
    assert again.statuses("1") == [
        StatusChange("1", "447700900123", 4, START + timedelta(microseconds=7))
    ]
    [(_, attempt)] = again.attempts(AttemptQuery())
    assert attempt == tried
    [(due, record)] = again.pending()
    assert (due, Callback.of_record(record)) == (far, callback)
    again.close()


# -- opening: made, opened, migrated or refused ------------------------------------------------


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    return int(version)


def test_a_new_file_gets_the_schema_and_version_1_and_opens_again(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(str(path)).close()
    assert user_version(path) == 1
    store = Store(str(path))
    assert store.migrated is None
    store.close()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    Store(str(empty)).close()
    assert user_version(empty) == 1


def test_an_old_file_is_migrated_once_in_place_numbering_going_on(tmp_path: Path) -> None:
    path = old_file(tmp_path / "old.db")
    store = Store(str(path))
    assert store.migrated is not None
    migrated = store.migrated
    assert (migrated.messages, migrated.journal, migrated.statuses) == (10, 9, 3)
    assert (migrated.cut_journal, migrated.attempts, migrated.pending) == (1, 3, 3)
    assert (
        "dropped 1 journal entry cut to the body cap, 3 callback attempts, 3 pending callbacks"
        in str(store.migrated)
    )
    assert len(store) == 10
    assert store.pending() == []
    assert store.attempts(AttemptQuery()) == []
    store.add(message(99))
    [(seq, newest), *_] = store.messages(MessageQuery())
    assert (seq, newest.id) == (11, message(99).id)
    store.close()
    assert user_version(path) == 1
    with sqlite3.connect(path) as db:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        (index,) = db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'statuses_by_message'"
        ).fetchone()
    assert not any(name.startswith("v0_") for name in tables)
    assert index == 1
    again = Store(str(path))
    assert again.migrated is None
    again.close()


def refused(path: Path) -> str:
    """Why opening `path` is refused; and that the file was left byte for byte as it was."""
    before = path.read_bytes()
    with pytest.raises(Unusable) as refusal:
        Store(str(path))
    assert path.read_bytes() == before
    assert "\n" not in str(refusal.value)
    return str(refusal.value)


def test_files_that_are_not_of_this_simulator_are_refused_untouched(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    Store(str(newer)).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 2")
    assert refused(newer).startswith("it has schema version 2, written by a newer gateway-sim")

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
    assert (
        refused(foreign)
        == "it is not a gateway-sim database: it has the tables 'invoices' (schema version 0)"
    )

    lacking = old_file(tmp_path / "lacking.db")
    with sqlite3.connect(lacking) as db:
        db.execute("ALTER TABLE messages DROP COLUMN content_count")
    assert "its table 'messages' has the columns" in refused(lacking)

    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    assert refused(text).startswith("it is not an SQLite database (file is not a database)")


def test_a_crafted_old_record_is_refused_and_nothing_of_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    for table in ("messages", "journal"):
        path = old_file(tmp_path / f"crafted-{table}.db")
        with sqlite3.connect(path) as db:
            db.execute(
                f"UPDATE {table} SET record = ? WHERE seq = 2", (pickle.dumps(Marker(marker), 5),)
            )
        assert refused(path).startswith(f"{table} record 2 is not plain data: STACK_GLOBAL")
        assert not marker.exists()
    shaped = old_file(tmp_path / "shape.db")
    with sqlite3.connect(shaped) as db:
        db.execute("UPDATE messages SET record = ? WHERE seq = 3", (pickle.dumps(("a", 1), 5),))
    assert refused(shaped) == "messages record 3 is not of gateway-sim's version 0 shape"


def test_a_crafted_record_in_a_current_file_runs_nothing_when_read(tmp_path: Path) -> None:
    marker, path = tmp_path / "MARKER", tmp_path / "sim.db"
    store = Store(str(path))
    store.add(message(1))
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE messages SET record = ?", (pickle.dumps(Marker(marker), 5),))
    store = Store(str(path))
    with pytest.raises(UnicodeDecodeError):  # not JSON: read as nothing but a broken record
        store.messages(MessageQuery())
    store.close()
    assert not marker.exists()


# -- a failed batch loses only its bad item ------------------------------------------------------


def test_in_memory_a_failing_row_loses_only_itself_and_is_refunded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Text is made storable at the edge, so no request can make a row fail in memory any more:
    the store is handed one that does (a lone surrogate in a TEXT column cannot be encoded)."""
    store = Store()
    refunded: list[str] = []
    store.unstored = lambda lost: refunded.append(lost.id)
    picture = (ContentPart("p.png", "image/png", b"\x89PNG" * 100),)
    for n in range(5):
        store.add(message(n, text="bad \udfff" if n == 2 else str(n), content=picture))
    with caplog.at_level(logging.ERROR, "gateway_sim"):
        texts = sorted(m.text or "" for m in store)
    assert texts == ["0", "1", "3", "4"]
    assert refunded == [message(2).id]
    assert store._retainer.content_bytes == 4 * 400  # the lost one's content is not counted
    assert sorted(store._retainer.blobs) == [1, 2, 4, 5]
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        f"could not store message {message(2).id} (its cost is refunded): UnicodeEncodeError"
    )
    store.close()


def test_with_a_file_only_the_send_of_the_failing_row_learns_it_failed(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    Store(str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(POISON)

    async def sends() -> list[bool]:
        store = Store(str(path))
        refunded: list[str] = []
        store.unstored = lambda lost: refunded.append(lost.id)
        batch = [message(n, text="poison" if n % 3 == 0 else str(n)) for n in range(1, 8)]
        for one in batch:
            store.add(one)
        for n in range(1, 8):
            store.record(exchange(n))
        stored = [await store.committed(one.id) for one in batch]
        assert refunded == [message(3).id, message(6).id]
        assert sorted(m.text or "" for m in store) == ["1", "2", "4", "5", "7"]
        # an entry that came in the same batch as its message goes with it
        assert len(store.exchanges(ExchangeQuery())) == 5
        held = store._retainer.counts()
        assert store._connection is not None
        store._retainer.opened(store._connection)  # counted again from the tables
        assert store._retainer.counts() == held
        store.close()
        return stored

    assert asyncio.run(sends()) == [True, True, False, True, True, False, True]


def test_pending_callbacks_keep_their_times_exactly() -> None:
    made = Callback(
        1,
        "mms",
        "demo",
        "http://h/",
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        None,
        {"a": [1, "\udfff"]},
    )
    assert Callback.of_record(made.record()) == made
