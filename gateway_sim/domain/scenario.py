"""Scenario files: YAML in, a frozen and validated `Scenario` out.

Validation happens once, at load. Every problem names the file, the key path and what is
allowed there, so a typo in a CI fixture fails loudly instead of silently changing behaviour.

A scenario is bounded by `limits.Limits`: its size (checked before it is read), its accounts and
its rules (counted before they are validated one by one); and a problem never quotes more than a
few hundred characters of a bad value, so a bad 10 MB value gives a short error, not a 10 MB one.
Parsing and validating are linear in the scenario's size and run in plain functions, so that the
control API can run them off the event loop.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
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

from gateway_sim.domain import problems
from gateway_sim.domain.limits import DEFAULT_LIMITS, Limits
from gateway_sim.domain.problems import cut, first_problems, shown
from gateway_sim.domain.rule_schema import Rule

try:  # libyaml's parser: many times faster than PyYAML's pure Python one, and as safe
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader  # type: ignore[assignment]

DEFAULT_SCENARIO = Path(__file__).parent.parent / "scenarios" / "default.yaml"
MAX_ID = 10**20 - 1

Credit = Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=6)]


def region_code(value: str) -> str:
    """An ISO 3166 region that libphonenumber knows, upper-cased; else ValueError."""
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{shown(value)} is not a region code; use ISO 3166 two letters such as GB, US, DE"
        )
    return region


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Model):
    """Simulator-wide behaviour (the README's "What is simulated" policies)."""

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
    twice = _repeated(pair.accesskey for pair in keys)
    if twice:
        raise ValueError(f"access keys must be unique; repeated: {twice}")
    return keys


def _repeated(names: Iterable[str]) -> str:
    """The names that occur more than once, sorted and joined (at most 20 shown); counted in
    one pass, as a scenario may hold thousands."""
    twice = sorted(name for name, seen in Counter(names).items() if seen > 1)
    listed = ", ".join(cut(name, 100) for name in twice[:20])
    return listed + (f" and {len(twice) - 20} more" if len(twice) > 20 else "")


def callback_url(value: str | None) -> str | None:
    """An http:// or https:// URL the gateway can POST to; else ValueError."""
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{shown(value)} is not an http:// or https:// URL")
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
    """How recipients are judged (README "What is simulated": recipients, numbers)."""

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
        twice = _repeated(rule.name for rule in rules)
        if twice:
            raise ValueError(f"rule names must be unique; repeated: {twice}")
        return rules

    @field_validator("accounts")
    @classmethod
    def _unique_usernames(cls, accounts: list[Account]) -> list[Account]:
        seen: set[str] = set()
        for account in accounts:
            key = account.username.casefold()
            if key in seen:
                raise ValueError(
                    f"username {shown(account.username)} appears twice "
                    "(usernames match case-insensitively)"
                )
            seen.add(key)
        unique_access_keys([pair for account in accounts for pair in account.access_keys])
        return accounts


class ScenarioError(Exception):
    """A scenario that cannot be used; the message lists its problems, one per line (the first
    `MAX_PROBLEMS`, each cut to `MAX_PROBLEM_CHARS`, and how many more there are)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        listed = first_problems(problems)
        self.source = source
        self.problems = listed
        super().__init__("\n".join(f"{source}: {problem}" for problem in listed))


class OverLimit(ScenarioError):
    """A scenario past one of the `Limits`: `error` says which (`scenario_too_large`,
    `too_many_accounts`, `too_many_rules`)."""

    def __init__(self, source: str, error: str, problem: str) -> None:
        super().__init__(source, [problem])
        self.error = error


def load_scenario(path: str | Path, limits: Limits | None = None) -> Scenario:
    """Read and validate a scenario file, within `limits` (default: `Limits()`): a file over
    `max_scenario_bytes` is refused before it is read."""
    path = Path(path)
    cap = (limits or DEFAULT_LIMITS).max_scenario_bytes
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > cap:
                raise _too_large(str(path), f"{size} bytes", cap)
            # read one byte past the cap: a pipe or a device tells no size beforehand
            data = file.read(cap + 1)
        if len(data) > cap:
            raise _too_large(str(path), f"over {cap} bytes", cap)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot read the file: {exc}"]) from exc
    return parse_scenario(text, source=str(path), limits=limits)


def parse_scenario(
    text: str, *, source: str = "<scenario>", limits: Limits | None = None
) -> Scenario:
    """Validate scenario text (YAML, or JSON, which is YAML too), within `limits` (default:
    `Limits()`)."""
    cap = (limits or DEFAULT_LIMITS).max_scenario_bytes
    # a character is 1 to 4 bytes of UTF-8: encode only when the length leaves it open
    if len(text) > cap or (len(text) * 4 > cap and len(text.encode("utf-8", "replace")) > cap):
        raise _too_large(source, f"{len(text.encode('utf-8', 'replace'))} bytes", cap)
    with _collector_paused():
        data = _yaml_data(text, source, limits or DEFAULT_LIMITS)
        return scenario_from_data(data, source=source, limits=limits)


def _yaml_data(text: str, source: str, limits: Limits) -> Any:
    """The YAML's data; its accounts and rules are counted as soon as its nodes are read,
    before the objects are made (which takes as long again)."""
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if isinstance(node, yaml.MappingNode):
            _check_counts(source, limits, _node_counts(node))
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [f"not valid YAML: {exc}"]) from exc
    except RecursionError:
        raise ScenarioError(source, ["not usable YAML: nested too deeply"]) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits, a 13th month
        raise ScenarioError(source, [f"not usable YAML: {exc}"]) from exc
    finally:
        loader.dispose()


def _node_counts(node: yaml.MappingNode) -> dict[str, int]:
    """How many entries each top-level sequence of a YAML mapping has."""
    return {
        key.value: len(value.value)
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.SequenceNode)
    }


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a scenario is parsed: its full passes
    grow with the millions of objects a big scenario makes on the way (bench/RESULTS.md,
    "Measures behind the bounds"), and each would hold up the whole server. These
    objects form no cycles: they go with their last reference, collector or not."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scenario_from_data(
    data: Any, *, source: str = "<scenario>", limits: Limits | None = None
) -> Scenario:
    """Validate already-parsed scenario data, within `limits` (default: `Limits()`)."""
    if not isinstance(data, dict):
        raise ScenarioError(source, ["the top level must be a mapping with at least `version: 1`"])
    counts = {key: len(value) for key, value in data.items() if isinstance(value, list)}
    _check_counts(source, limits or DEFAULT_LIMITS, counts)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, describe_errors(exc, Scenario)) from exc


def _check_counts(source: str, limits: Limits, counts: Mapping[Any, int]) -> None:
    """Refuse too many accounts or rules before they are validated one by one."""
    for key, most, flag in (
        ("accounts", limits.max_accounts, "--max-accounts"),
        ("rules", limits.max_rules, "--max-rules"),
    ):
        if counts.get(key, 0) > most:
            problem = f"the scenario has {counts[key]} {key}, over the limit of {most} ({flag})"
            raise OverLimit(source, f"too_many_{key}", problem)


def describe_errors(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """`problems.describe_errors`, where the control API's bodies have always imported it."""
    return problems.describe_errors(error, root)


def _too_large(source: str, size: str, cap: int) -> OverLimit:
    problem = f"the scenario is {size}, over the limit of {cap} (--max-scenario-bytes)"
    return OverLimit(source, "scenario_too_large", problem)
