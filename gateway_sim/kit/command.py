"""The kit's subcommands' flags (`record`, `probe`, `conform`), apart from the commands themselves
so that building the command line (for `serve` too) loads neither the simulator nor the proxy."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMATS = ("text", "json", "markdown")
DEFAULT_MAX_BODY = 16 * 1024 * 1024
"""`record`'s largest request body and upstream answer, by default."""


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The `conform` subcommand, added with the subcommands' `add_parser`."""
    conform = add(
        "conform",
        help="replay a recording against the simulator; exit 0 if every answer matches",
        description="Replay each request of a recording (from `gateway-sim record` or `probe`), "
        "in order, and compare each answer with the recorded one: message ids numbered by first "
        "appearance, balances as their change, Date and Server ignored, the rest byte for byte. "
        "Exit 0 when all match, 1 when any differs, 2 when the file or the target is unusable.",
    )
    conform.add_argument("file", type=Path, metavar="FILE", help="the recording (JSON lines)")
    conform.add_argument(
        "--scenario",
        type=Path,
        default=None,
        metavar="FILE",
        help="scenario of the fresh simulator replayed against, and whose accounts' passwords and "
        "access keys the placeholders become (default: the shipped default scenario)",
    )
    conform.add_argument(
        "--against",
        default=None,
        metavar="URL",
        help="replay against the simulator running at URL instead of a fresh one (its scenario "
        "given by --scenario, for the credentials)",
    )
    conform.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: the differences (default); json: every exchange; markdown: a fidelity matrix",
    )
    conform.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for each answer before counting it as none (default 10)",
    )


def add_record_parser(add: Callable[..., argparse.ArgumentParser], env: Callable[..., Any]) -> None:
    """`record`'s flags, added with the subcommands' `add_parser`; `env(flag, default)` reads a
    flag's environment twin."""
    record = add(
        "record",
        help="a recording proxy to the real gateway: forward, answer unchanged, record redacted",
        description="Forward every request on the gateway's paths to --upstream and answer with "
        "its exact answer; append each exchange, secrets redacted, to --out (one JSON line).",
    )
    add_upstream(record, env)
    host, port = env("record_host", "127.0.0.1"), int(env("record_port", "8081") or 8081)
    record.add_argument("--host", default=host, help="default 127.0.0.1 (GATEWAY_SIM_RECORD_HOST)")
    record.add_argument(
        "--port",
        type=int,
        default=port,
        help="default 8081; 0 = any free port (GATEWAY_SIM_RECORD_PORT)",
    )
    record.add_argument(
        "--max-body-bytes",
        type=int,
        default=int(env("record_max_body_bytes", str(DEFAULT_MAX_BODY)) or DEFAULT_MAX_BODY),
        help="largest request body (413 past it) and upstream answer (502) passed on "
        "(default 16 MiB; GATEWAY_SIM_RECORD_MAX_BODY_BYTES)",
    )


def add_upstream(parser: argparse.ArgumentParser, env: Callable[..., Any]) -> None:
    """The flags `record` and `probe` share."""
    parser.add_argument(
        "--upstream",
        required=env("upstream") is None,
        default=env("upstream"),
        help="the gateway's base URL, e.g. https://www.intellisoftware.co.uk "
        "(GATEWAY_SIM_UPSTREAM)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the recording to append to (JSON lines)"
    )
    parser.add_argument(
        "--upstream-ca",
        default=env("upstream_ca"),
        help="a CA file to trust as well as the system's, for an https upstream "
        "(GATEWAY_SIM_UPSTREAM_CA)",
    )
    parser.add_argument(
        "--upstream-timeout",
        type=float,
        default=float(env("upstream_timeout", "30") or 30),
        help="seconds to wait for the upstream (default 30; then 502, recorded "
        "with its error) (GATEWAY_SIM_UPSTREAM_TIMEOUT)",
    )
    parser.add_argument(
        "--redact-usernames",
        action="store_true",
        default=(env("redact_usernames") or "") not in ("", "0", "false"),
        help="record usernames as <username:n> too (GATEWAY_SIM_REDACT_USERNAMES)",
    )


def add_probe_parser(add: Callable[..., argparse.ArgumentParser], env: Callable[..., Any]) -> None:
    """`probe`'s flags, added with the subcommands' `add_parser`."""
    probe = add(
        "probe",
        help="record a set of probes of the real gateway (the free set costs nothing)",
        description="Send the probe set to --upstream and append each exchange, secrets "
        "redacted, to --out. The free set only makes requests the gateway refuses before "
        "sending, and balance calls; --paid adds real sends to --to.",
    )
    add_upstream(probe, env)
    probe.add_argument(
        "--username",
        default=env("probe_username"),
        help="your account (GATEWAY_SIM_PROBE_USERNAME); without it and "
        "--password only the probes that need no login run",
    )
    probe.add_argument(
        "--password",
        default=env("probe_password"),
        help="its password (GATEWAY_SIM_PROBE_PASSWORD); recorded as <password:1>",
    )
    probe.add_argument(
        "--paid",
        action="store_true",
        help="also make real sends (they cost credit): needs --to and --max-credit",
    )
    probe.add_argument(
        "--to",
        default="",
        metavar="N1,N2,...",
        help="your own numbers for the paid sends, comma-separated",
    )
    probe.add_argument(
        "--max-credit",
        type=float,
        default=0.0,
        help="credit the paid sends may spend at most (default 0)",
    )
