"""Scenario files: YAML in, a frozen and validated `Scenario` out.

Validation happens once, at load. Every problem names the file, the key path and what is
allowed there, so a typo in a CI fixture fails loudly instead of silently changing behaviour.
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from gateway_sim.rules import Rule

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.yaml"
MAX_ID = 10**20 - 1

Credit = Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=6)]


def region_code(value: str) -> str:
    """An ISO 3166 region that libphonenumber knows, upper-cased; else ValueError."""
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not a region code; use ISO 3166 two letters such as GB, US, DE"
        )
    return region


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Model):
    """Simulator-wide behaviour (PROTOCOL.md policies)."""

    id_start: int = Field(default=10011000000000000001, ge=0, le=MAX_ID)
    line_ending: Literal["crlf", "lf"] = "crlf"
    trailing_newline: bool = False
    default_country: str = "GB"
    mms_max_bytes: int = Field(default=614_400, gt=0)
    max_body_bytes: int = Field(default=10_485_760, gt=0)
    max_header_bytes: int = Field(default=16_384, ge=1024)
    subaccount_credit: Credit = Decimal(0)
    seed: int = 0
    report_step_seconds: Annotated[float, Field(ge=0)] = 1.0
    callback_concurrency: Annotated[int, Field(ge=1, le=1024)] = 64
    callback_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    callback_max_age_seconds: Annotated[float, Field(gt=0)] = 86_400.0

    @field_validator("default_country")
    @classmethod
    def _check_region(cls, value: str) -> str:
        return region_code(value)


class Prices(_Model):
    """Credits charged per SMS part (per recipient), or per message for binary, WAP and MMS."""

    sms_part: Credit = Decimal(1)
    unicode_part: Credit = Decimal(1)
    binary: Credit = Decimal(1)
    wap_push: Credit = Decimal(1)
    voice_part: Credit = Decimal(1)
    mms: Credit = Decimal(5)


KEY_MAX_LENGTH = 128


def key_problem(value: str) -> str | None:
    """Why an access or secret key is malformed, or None when it is well-formed (a policy: 1 to
    128 printable ASCII characters, no spaces or control characters)."""
    if not value:
        return "it is empty"
    if len(value) > KEY_MAX_LENGTH:
        return f"{len(value)} characters; at most {KEY_MAX_LENGTH}"
    for char in value:
        if not "!" <= char <= "~":
            return f"character {char!r} is not allowed; use printable ASCII without spaces"
    return None


def _well_formed_key(value: str) -> str:
    problem = key_problem(value)
    if problem:
        raise ValueError(f"not a well-formed key: {problem}")
    return value


Key = Annotated[str, AfterValidator(_well_formed_key)]


class AccessKey(_Model):
    """An access key pair that logs in to the newer APIs (`/api/https`, `/api/json`)."""

    accesskey: Key
    secretkey: Key


def unique_access_keys(keys: list[AccessKey]) -> list[AccessKey]:
    """The pairs, unless an access key appears twice; else ValueError."""
    seen = [pair.accesskey for pair in keys]
    twice = sorted({key for key in seen if seen.count(key) > 1})
    if twice:
        raise ValueError(f"access keys must be unique; repeated: {', '.join(twice)}")
    return keys


def callback_url(value: str | None) -> str | None:
    """An http:// or https:// URL the gateway can POST to; else ValueError."""
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


class Account(_Model):
    """A gateway account a client logs in to, and where the gateway calls it back."""

    username: str = Field(min_length=1)
    password: str = Field(min_length=1)
    credit: Credit = Decimal(0)
    default_sender: str = ""
    default_country: str | None = None
    status_url: str | None = None
    inbound_url: str | None = None
    mms_url: str | None = None
    inbound_format: Literal["form", "json"] = "form"
    retry_seconds: Annotated[float, Field(gt=0)] = 300
    report_all: bool = False
    access_keys: list[AccessKey] = Field(default_factory=list)
    daily_allowance: Annotated[int, Field(ge=0)] | None = None

    @field_validator("default_country")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        return None if value is None else region_code(value)

    @field_validator("access_keys")
    @classmethod
    def _unique_keys(cls, keys: list[AccessKey]) -> list[AccessKey]:
        return unique_access_keys(keys)

    @field_validator("status_url", "inbound_url", "mms_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return callback_url(value)


class Numbers(_Model):
    """How recipients are judged (PROTOCOL.md section 8)."""

    validation: Literal["possible", "strict"] = "possible"
    unroutable: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)


class Scenario(_Model):
    """A whole scenario file."""

    version: Literal[1]
    settings: Settings = Field(default_factory=Settings)
    prices: Prices = Field(default_factory=Prices)
    accounts: list[Account] = Field(default_factory=list)
    numbers: Numbers = Field(default_factory=Numbers)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [rule.name for rule in rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(twice)}")
        return rules

    @field_validator("accounts")
    @classmethod
    def _unique_usernames(cls, accounts: list[Account]) -> list[Account]:
        seen: set[str] = set()
        for account in accounts:
            key = account.username.casefold()
            if key in seen:
                raise ValueError(
                    f"username {account.username!r} appears twice "
                    "(usernames match case-insensitively)"
                )
            seen.add(key)
        unique_access_keys([pair for account in accounts for pair in account.access_keys])
        return accounts


class ScenarioError(Exception):
    """A scenario that cannot be used; the message lists every problem, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot read the file: {exc}"]) from exc
    return parse_scenario(text, source=str(path))


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Validate scenario text (YAML, or JSON, which is YAML too)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [f"not valid YAML: {exc}"]) from exc
    except RecursionError:
        raise ScenarioError(source, ["not usable YAML: nested too deeply"]) from None
    return scenario_from_data(data, source=source)


def scenario_from_data(data: Any, *, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed scenario data."""
    if not isinstance(data, dict):
        raise ScenarioError(source, ["the top level must be a mapping with at least `version: 1`"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, describe_errors(exc, Scenario)) from exc


def describe_errors(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem: the key path, what is wrong, and what is allowed there."""
    return [_describe(problem, root) for problem in error.errors()]


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
    if isinstance(given, (dict, list)):
        return f"{path}: {message}"
    return f"{path}: {message} (got {given!r})"


def _key_path(location: tuple[str | int, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
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
