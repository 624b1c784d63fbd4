"""Database files shared by the store's tests: the file of the old format (tests/fixtures), a
crafted record that would run code if unpickled, and a trigger that makes a write fail."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"

POISON = (
    "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.text = 'poison' "
    "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
)
"""SQL that makes every insert of a message with the text "poison" fail."""


def old_file(path: Path) -> Path:
    """A database file written by gateway-sim before schema version 1 (tests/fixtures)."""
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "old_format.sql").read_text())
    return path


class Marker:
    """Pickles as a call that creates `path`: what a crafted file would hold."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))
