"""The bounds a client can push against, in one table: each has a default, a `serve` flag and its
environment twin (`--max-connections` is `GATEWAY_SIM_MAX_CONNECTIONS`), and a row in the
README's limits table (a test checks that the table and this module agree).

`Limits` is what the app and the server are handed; `LIMITS` describes each field for the CLI
and the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

KIB = 1024
MIB = 1024 * KIB


SERVER_MOST_SECONDS = 60.0
"""The longest head timeout granian takes (its documented range for `header_read_timeout` is 1 to
60,000 ms)."""


def _limit(default: float, help: str, most: float | None = None) -> Any:
    """A field of `Limits` with the help text its flag shows, and the largest value it takes."""
    return field(default=default, metadata={"help": help, "most": most})


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound of one simulator process. The defaults suit a test tool on a laptop or in CI."""

    max_connections: int = _limit(
        1000,
        "open client connections at once, on each port; a connection past it waits unaccepted "
        "in the listen backlog until one closes (logged)",
    )
    head_timeout: float = _limit(
        10.0,
        "seconds a connection may take to send a whole request head, counted from its opening "
        "or from its last answer; the server has one timer for this and the keep-alive "
        "timeout, set to the smaller of the two",
        SERVER_MOST_SECONDS,
    )
    keep_alive_timeout: float = _limit(
        5.0,
        "seconds a connection may stay idle, after its last answer or from its opening, before "
        "it is closed (the server's one head timer: the smaller of this and --head-timeout)",
        SERVER_MOST_SECONDS,
    )
    max_head_bytes: int = _limit(
        64 * KIB,
        "bytes of request line and headers buffered; past it the request is refused as the "
        "bytes arrive (the gateway paths also refuse past the scenario's max_header_bytes)",
    )
    body_timeout: float = _limit(
        10.0, "seconds a request body may stall (no bytes arrive) before the request is refused"
    )
    whole_body_timeout: float = _limit(
        30.0,
        "seconds a whole request body may take to arrive, from its head; past it the request "
        "is refused (408), so a body that trickles in cannot hold its connection",
    )
    max_other_body_bytes: int = _limit(
        64 * KIB,
        "a request body on a path that takes none (the inbox page, /metrics, unknown paths); a "
        "larger one is refused (413) before it is read",
    )
    max_control_body_bytes: int = _limit(
        16 * MIB, "a request body under /_sim; a larger one is refused (413) before it is read"
    )
    max_scenario_bytes: int = _limit(
        8 * MIB, "a scenario: the body of PUT /_sim/scenario, and a scenario file at start"
    )
    max_pending_body_bytes: int = _limit(
        64 * MIB,
        "bytes received of request bodies not yet complete, across all connections (counted as "
        "they arrive, not as announced); a body whose bytes would pass it gets 503 and its "
        "connection closes",
    )
    max_waits: int = _limit(
        1000, "long-polls (GET /_sim/messages/wait) waiting at once; past it, 503"
    )
    max_journal_bytes: int = _limit(
        64 * MIB, "bytes the request journal holds; the oldest entries go first"
    )
    max_journal_body_bytes: int = _limit(
        16 * KIB, "bytes of each request body the journal keeps (the full size is recorded)"
    )
    max_accounts: int = _limit(10_000, "accounts in a scenario")
    max_rules: int = _limit(
        10_000, "rules in force: a scenario's plus those added through /_sim/rules"
    )


Unit = Literal["bytes", "seconds", "count"]


@dataclass(frozen=True, slots=True)
class LimitInfo:
    """One field of `Limits`, as the CLI and the README show it."""

    name: str
    default: float
    unit: Unit
    help: str
    most: float | None = None
    """The largest value the flag takes (None: no bound but the type's)."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "GATEWAY_SIM_" + self.name.upper()

    @property
    def shown(self) -> str:
        """The default as people read it: 16 MiB, 64 KiB, 10 s, 1,000."""
        if self.unit == "bytes":
            for size, name in ((MIB, "MiB"), (KIB, "KiB")):
                if self.default >= size and self.default % size == 0:
                    return f"{int(self.default // size)} {name}"
            return f"{int(self.default)} bytes"
        if self.unit == "seconds":
            return f"{self.default:g} s"
        return f"{int(self.default):,}"


def _unit(name: str) -> Unit:
    if name.endswith("_bytes"):
        return "bytes"
    if name.endswith("_timeout"):
        return "seconds"
    return "count"


LIMITS: tuple[LimitInfo, ...] = tuple(
    LimitInfo(f.name, f.default, _unit(f.name), f.metadata["help"], f.metadata["most"])  # type: ignore[arg-type]
    for f in fields(Limits)
)

DEFAULT_LIMITS = Limits()
