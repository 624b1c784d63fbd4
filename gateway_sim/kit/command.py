"""The `conform` subcommand's flags, apart from `conform` itself so that building the command
line does not load the simulator."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

FORMATS = ("text", "json", "markdown")


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
