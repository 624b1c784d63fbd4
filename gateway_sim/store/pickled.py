"""A reader of pickled plain data that runs no code: it owns reading the records that database
files of schema version 0 hold (migration.py) without unpickling them.

Unpickling runs whatever the bytes name (a class's constructor, `os.system`), so a crafted file
would run code. This reader walks the opcodes itself and knows only those that plain data uses at
protocol 4 and 5 (strings, bytes, integers, floats, None, booleans, tuples, lists, dicts, the memo
and framing). Anything else (a class or function by name, a call, an object's state, an extension
code, a persistent id, an out-of-band buffer) stops it with `NotPlainData`, before anything of it
is built; nothing is ever imported or called.
"""

from __future__ import annotations

import struct
from typing import Any

_MARK = object()
"""Where a MARK opcode put its mark on the stack."""

# The opcodes of plain data at protocols 4 and 5 (their bytes, as pickletools names them).
PROTO, FRAME, STOP, MARK = 0x80, 0x95, ord("."), ord("(")
NONE, NEWTRUE, NEWFALSE = ord("N"), 0x88, 0x89
BININT, BININT1, BININT2, LONG1, LONG4, BINFLOAT = (
    ord("J"),
    ord("K"),
    ord("M"),
    0x8A,
    0x8B,
    ord("G"),
)
SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 = 0x8C, ord("X"), 0x8D
SHORT_BINBYTES, BINBYTES, BINBYTES8 = ord("C"), ord("B"), 0x8E
EMPTY_TUPLE, TUPLE1, TUPLE2, TUPLE3, TUPLE = ord(")"), 0x85, 0x86, 0x87, ord("t")
EMPTY_LIST, APPEND, APPENDS = ord("]"), ord("a"), ord("e")
EMPTY_DICT, SETITEM, SETITEMS = ord("}"), ord("s"), ord("u")
MEMOIZE, BINPUT, LONG_BINPUT, BINGET, LONG_BINGET = 0x94, ord("q"), ord("r"), ord("h"), ord("j")

REFUSED = {
    ord("c"): "GLOBAL",
    0x93: "STACK_GLOBAL",
    ord("R"): "REDUCE",
    ord("b"): "BUILD",
    0x81: "NEWOBJ",
    0x92: "NEWOBJ_EX",
    ord("i"): "INST",
    ord("o"): "OBJ",
    0x82: "EXT1",
    0x83: "EXT2",
    0x84: "EXT4",
    ord("P"): "PERSID",
    ord("Q"): "BINPERSID",
    0x97: "NEXT_BUFFER",
    0x98: "READONLY_BUFFER",
}
"""Names of the opcodes that run code or need more than data, for the refusal's message."""
_KEYS = (str, bytes, int, float, type(None))
"""What a dict key may be (bool is an int): a container would be hashed recursively (a deep one
could exhaust the C stack), and the records' keys are all strings."""


class NotPlainData(ValueError):
    """The bytes are not a pickle of plain data: what was found, and where."""

    def __init__(self, reason: str, offset: int, names: tuple[str, str] | None = None) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset
        self.names = names
        """For GLOBAL and STACK_GLOBAL: the module and name it would load (read, not loaded)."""


def loads(data: bytes) -> Any:
    """The value pickled in `data`, if it is plain data; else `NotPlainData`."""
    reader = _Reader(bytes(data))
    try:
        return reader.run()
    except (IndexError, UnicodeDecodeError, struct.error) as error:  # past the end, bad UTF-8
        raise NotPlainData(f"malformed data ({error})", reader.start) from None


class _Reader:
    """One pass over the opcodes, one branch each (the most frequent first: a version 0
    file's records take a few seconds to read at the default caps)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.start = 0
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}

    def run(self) -> Any:  # noqa: PLR0915 (one opcode a branch reads best)
        data, stack, memo = self.data, self.stack, self.memo
        while True:
            self.start = self.at
            op = data[self.at]
            self.at += 1
            if op == SHORT_BINUNICODE:
                stack.append(self.text(self.byte()))
            elif op == MEMOIZE:
                memo[len(memo)] = self.top()
            elif op == BININT1:
                stack.append(self.byte())
            elif op == BINGET:
                stack.append(self.got(self.byte()))
            elif op == NONE:
                stack.append(None)
            elif op == NEWTRUE:
                stack.append(True)
            elif op == NEWFALSE:
                stack.append(False)
            elif op == MARK:
                stack.append(_MARK)
            elif op == EMPTY_DICT:
                stack.append({})
            elif op == EMPTY_TUPLE:
                stack.append(())
            elif op == EMPTY_LIST:
                stack.append([])
            elif op == SETITEMS:
                self.setitems(self.pop_mark())
            elif op == SETITEM:
                value = self.pop()
                self.setitems([self.pop(), value])
            elif op == APPENDS:
                self.appends(self.pop_mark())
            elif op == APPEND:
                self.appends([self.pop()])
            elif op == TUPLE:
                stack.append(tuple(self.pop_mark()))
            elif TUPLE1 <= op <= TUPLE3:
                items = [self.pop() for _ in range(op - TUPLE1 + 1)]
                stack.append(tuple(reversed(items)))
            elif op == SHORT_BINBYTES:
                stack.append(self.take(self.byte()))
            elif op == BINUNICODE:
                stack.append(self.text(self.number(4, "<I")))
            elif op == BINBYTES:
                stack.append(self.take(self.number(4, "<I")))
            elif op == BININT:
                stack.append(self.number(4, "<i"))
            elif op == BININT2:
                stack.append(self.number(2, "<H"))
            elif op in (LONG1, LONG4):
                size = self.byte() if op == LONG1 else self.number(4, "<i")
                stack.append(int.from_bytes(self.take(size), "little", signed=True))
            elif op == BINFLOAT:
                stack.append(struct.unpack(">d", self.take(8))[0])
            elif op == BINUNICODE8:
                stack.append(self.text(self.number(8, "<Q")))
            elif op == BINBYTES8:
                stack.append(self.take(self.number(8, "<Q")))
            elif op in (BINPUT, LONG_BINPUT):
                memo[self.byte() if op == BINPUT else self.number(4, "<I")] = self.top()
            elif op == LONG_BINGET:
                stack.append(self.got(self.number(4, "<I")))
            elif op == FRAME:
                self.take(8)  # a frame only groups the opcodes that follow, read as they come
            elif op == PROTO:
                if self.byte() > 5:
                    raise NotPlainData("a pickle protocol above 5", self.start)
            elif op == STOP:
                return self.stop()
            else:
                raise self.refusal(op)

    def stop(self) -> Any:
        value = self.pop()
        if self.stack:
            raise NotPlainData("STOP with more on the stack", self.start)
        if self.at != len(self.data):
            raise NotPlainData("bytes after STOP", self.at)
        return value

    def byte(self) -> int:
        """The next byte (past the end: IndexError, which `loads` reports)."""
        value = self.data[self.at]
        self.at += 1
        return value

    def take(self, size: int) -> bytes:
        start = self.at
        if size < 0 or start + size > len(self.data):
            raise NotPlainData("the data ends early", self.start)
        self.at = start + size
        return self.data[start : start + size]

    def number(self, size: int, code: str) -> int:
        value: int = struct.unpack(code, self.take(size))[0]
        return value

    def text(self, size: int) -> str:
        # pickle writes a lone surrogate with "surrogatepass"; the store's JSON keeps it escaped
        return self.take(size).decode("utf-8", "surrogatepass")

    def got(self, index: int) -> Any:
        if index not in self.memo:
            raise NotPlainData(f"memo {index} was never put", self.start)
        return self.memo[index]

    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise NotPlainData("the stack is empty", self.start)
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise NotPlainData("the stack is empty", self.start)
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        """The items above the topmost mark, which is removed."""
        stack = self.stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is _MARK:
                items = stack[index + 1 :]
                del stack[index:]
                return items
        raise NotPlainData("no MARK to close", self.start)

    def setitems(self, items: list[Any]) -> None:
        target = self.top()
        if not isinstance(target, dict) or len(items) % 2:
            raise NotPlainData("SETITEMS without a dict and pairs", self.start)
        for index in range(0, len(items), 2):
            key = items[index]
            if not isinstance(key, _KEYS):
                raise NotPlainData(f"a dict key of type {type(key).__name__}", self.start)
            target[key] = items[index + 1]

    def appends(self, items: list[Any]) -> None:
        target = self.top()
        if not isinstance(target, list):
            raise NotPlainData("APPENDS without a list", self.start)
        target.extend(items)

    def refusal(self, op: int) -> NotPlainData:
        name = REFUSED.get(op)
        if name is None:
            return NotPlainData(f"opcode {bytes([op])!r} is not one of plain data", self.start)
        names = None
        if name == "STACK_GLOBAL" and len(self.stack) >= 2:
            module, qualname = self.stack[-2], self.stack[-1]
            if isinstance(module, str) and isinstance(qualname, str):
                names = (module, qualname)
        elif name == "GLOBAL":
            lines = self.data[self.at : self.at + 512].split(b"\n", 2)
            if len(lines) == 3:
                names = (lines[0].decode("latin-1"), lines[1].decode("latin-1"))
        # quoted and cut: the names come from the file, and the message is one line
        shown = f" ({names[0][:80]!r}, {names[1][:80]!r})" if names else ""
        return NotPlainData(f"{name}{shown} would run code", self.start, names)
