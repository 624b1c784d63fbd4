"""How a validation problem is told: one line per problem, naming the key path, what is wrong
and what is allowed there, and quoting at most a few hundred characters of the bad value (a bad
10 MB value must give a short error, not a 10 MB one). Used by scenario files and by the bodies
of the control API.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

SHOWN_CHARS = 200
"""Characters of a bad value a problem quotes; the rest is counted, not shown."""
MAX_PROBLEMS = 50
"""Problems listed; the others are counted."""
MAX_PROBLEM_CHARS = 1000
"""Characters of one problem line, whatever it quotes."""


def cut(text: str, most: int = SHOWN_CHARS) -> str:
    """`text`, or its first `most` characters and how many there were."""
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"


def shown(value: object, most: int = SHOWN_CHARS) -> str:
    """`value` as a problem quotes it: its repr, cut after `most` characters (a string is cut
    before its repr is made, so a huge one is not copied whole)."""
    if isinstance(value, str) and len(value) > most:
        return f"{value[:most]!r}… ({len(value)} characters)"
    return cut(repr(value), most)


def first_problems(problems: list[str]) -> list[str]:
    """The first `MAX_PROBLEMS`, each cut to `MAX_PROBLEM_CHARS`, then how many more there are
    (a list it has made is kept as it is)."""
    listed = [cut(problem, MAX_PROBLEM_CHARS) for problem in problems[: MAX_PROBLEMS + 1]]
    if len(problems) > MAX_PROBLEMS + 1:
        listed[MAX_PROBLEMS:] = [f"… and {len(problems) - MAX_PROBLEMS} more problems"]
    return listed


def describe_errors(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem: the key path, what is wrong, and what is allowed there (the first
    `MAX_PROBLEMS` of them, and how many more there are)."""
    problems = error.errors(include_url=False)
    described = [_describe(problem, root) for problem in problems[: MAX_PROBLEMS + 1]]
    if len(problems) > MAX_PROBLEMS + 1:
        described[MAX_PROBLEMS:] = [f"… and {len(problems) - MAX_PROBLEMS} more problems"]
    return described


def _describe(error: Any, root: type[BaseModel]) -> str:
    location: tuple[str | int, ...] = tuple(error["loc"])
    path = _key_path(location) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(root, location[:-1]))
        return f"{path}: unknown key; allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{path}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, str) and len(given) > SHOWN_CHARS:
        # a message may quote the value itself (pydantic's, or a validator's own)
        message = message.replace(repr(given), shown(given)).replace(given, shown(given))
    message = cut(message, MAX_PROBLEM_CHARS // 2)
    if isinstance(given, (dict, list)):
        return f"{path}: {message}"
    return f"{path}: {message} (got {shown(given)})"


def _key_path(location: tuple[str | int, ...]) -> str:
    """`accounts[0].username`; a key is cut to 100 characters (an unknown key can be any)."""
    path = ""
    for part in location:
        key = cut(str(part), 100)
        path += f"[{key}]" if isinstance(part, int) else (f".{key}" if path else key)
    return path


def _allowed_keys(root: type[BaseModel], location: tuple[str | int, ...]) -> list[str]:
    model: Any = root
    for part in location:
        if isinstance(part, int):
            continue
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        if part not in fields:
            return []
        annotation = fields[part].annotation
        model = _model_inside(annotation)
        if model is None:
            return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_inside(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, types.UnionType, typing.Union, typing.Annotated):
        for argument in typing.get_args(annotation):
            found = _model_inside(argument)
            if found is not None:
                return found
    return None
