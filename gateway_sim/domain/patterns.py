"""Rule text patterns (`match.text`): the only regular expressions a user gives the simulator.

This module owns how they are checked when a rule is loaded and how they are run. They run on
RE2, whose search time grows linearly with the text: Python's `re` backtracks, and `(a+)+$` on
31 `a`s and a `!` held the event loop (every client) for about 100 s. A pattern RE2 cannot run
(a backreference, a lookaround, a possessive quantifier), one that Python would read otherwise
(`\\12` as a backreference, `{,3}` as a count), or one whose program is too large is refused,
with the reason, naming the rule and the key path `match.text`. Python's `re` never sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import re2
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_PROGRAM_SIZE = 2_000
"""RE2 instructions a pattern may compile to (`.{0,200}` is about 1,800). RE2 is linear in the
text, but where its DFA gives up a character costs up to the program's size: this bound keeps
the worst pattern's cost per message small (bench/RESULTS.md, "Measures behind the bounds")."""
SHOWN = 100
"""Characters of a refused pattern (and of RE2's message) echoed in an error."""
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # else RE2 writes each refused pattern to stderr
_OPTIONS.never_capture = True  # only whether it matches is asked: no groups to fill in


class _Searchable(Protocol):
    def search(self, text: bytes) -> object: ...


@dataclass(frozen=True, slots=True)
class TextPattern:
    """A rule's text pattern, compiled by RE2; searched (not anchored), like `re.search`."""

    regexp: _Searchable

    def found_in(self, text: str) -> bool:
        # Encoded here (not by re2) so that a lone surrogate, which has no UTF-8, cannot raise.
        return self.regexp.search(text.encode("utf-8", "surrogatepass")) is not None


class PatternRefused(ValueError):
    """A pattern that is not run; the message says why."""


def compile_text(pattern: str | None) -> TextPattern | None:
    """`pattern` compiled (None for no pattern); PatternRefused if it is not run."""
    if pattern is None:
        return None
    reading = _python_reading(pattern)
    if reading is not None:
        raise PatternRefused(reading)
    try:
        regexp = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise PatternRefused(_why(exc)) from None
    if regexp.programsize > MAX_PROGRAM_SIZE:
        raise PatternRefused(
            f"too large: {regexp.programsize:,} RE2 instructions, over {MAX_PROGRAM_SIZE:,} "
            "(a search may cost that many steps per character)"
        )
    return TextPattern(regexp)


def check_rule_text(rule: str, pattern: str | None) -> TextPattern | None:
    """`pattern` compiled, or refused as a validation error at `match.text` that names `rule`;
    the pattern shown is cut to SHOWN characters (it may be as long as the body that carried it)."""
    try:
        return compile_text(pattern)
    except PatternRefused as refused:
        assert pattern is not None
        message = f"not a regular expression RE2 can run (rule {rule!r}): {refused}"
        error = PydanticCustomError("text_pattern", message)  # no context: braces stay as given
        shown = pattern if len(pattern) <= SHOWN else f"{pattern[:SHOWN]}…"
        problem = InitErrorDetails(type=error, loc=("match", "text"), input=shown)
        raise ValidationError.from_exception_data("Rule", [problem]) from None


# What RE2's refusals mean to someone who wrote a Python pattern: (RE2 message start, reason).
_REASONS = (
    ("invalid perl operator: (?=", "lookarounds are not supported"),
    ("invalid perl operator: (?!", "lookarounds are not supported"),
    ("invalid perl operator: (?<=", "lookarounds are not supported"),
    ("invalid perl operator: (?<!", "lookarounds are not supported"),
    ("invalid perl operator: (?>", "atomic groups are not supported"),
    ("invalid perl operator: (?P", "backreferences by name are not supported"),
    ("invalid perl operator: (?#", "comments are not supported"),
    ("invalid perl operator: (?(", "conditionals are not supported"),
    ("invalid perl operator: (?", "the inline flags are i, m, s and U"),
    ("invalid escape sequence: \\Z", "the end of the text is written \\z"),
    ("invalid escape sequence: \\u", "a code point is written \\x{hhhh}"),
    ("invalid escape sequence: \\U", "a code point is written \\x{hhhhhh}"),
    ("invalid repetition size", "counts go up to 1000"),
    ("pattern too large", "too large for RE2"),
)


def _why(exc: re2.error) -> str:
    raw = exc.args[0] if exc.args else ""
    said = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if said.startswith("bad repetition operator") and said.endswith("+"):
        reason = "possessive quantifiers are not supported"
    else:
        reason = next((why for start, why in _REASONS if said.startswith(start)), "")
    said = said if len(said) <= SHOWN else f"{said[:SHOWN]}…"  # RE2 may quote the whole rest
    return f"{reason} (RE2: {said})" if reason else said


def _python_reading(pattern: str) -> str | None:
    """Why Python's `re` would read `pattern` otherwise than RE2 does, or None. Character
    classes are followed as Python sees them: inside one, `\\12` is octal in both."""
    in_class = False
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            if not in_class and _group_reference(pattern, at + 1):
                return "backreferences are not supported"
            at += 2
        elif in_class:
            in_class = char != "]"
            at += 1
        elif char == "[":
            in_class = True
            at += 2 if pattern.startswith("^", at + 1) else 1
            at += 1 if pattern.startswith("]", at) else 0  # a `]` first is a member
        elif char == "{" and _count_without_minimum(pattern, at + 1):
            return "write {0,n}: RE2 reads {,n} as the text itself, Python as 0 to n times"
        else:
            at += 1
    return None


def _group_reference(pattern: str, at: int) -> bool:
    """Whether the escape whose letter is at `at` is a group number to Python (RE2 reads a
    `\\1` to `\\9` with more digits as octal); three octal digits are octal to both."""
    digits = pattern[at : at + 3]
    if not digits or digits[0] not in "123456789":
        return False
    return not (len(digits) == 3 and all(d in "01234567" for d in digits))


def _count_without_minimum(pattern: str, at: int) -> bool:
    """Whether `{` before `at` opens Python's `{,n}` or `{,}` (0 to n times)."""
    if not pattern.startswith(",", at):
        return False
    end = at + 1
    while end < len(pattern) and pattern[end] in "0123456789":
        end += 1
    return pattern.startswith("}", end)
