"""The command line: `gateway-sim serve | validate | init | demo | healthcheck | readyz | record |
probe`. Thin: parse flags, then call the library.

Every flag has an environment twin, `GATEWAY_SIM_<FLAG>` (for example `GATEWAY_SIM_PORT=9000`),
so a Docker service or CI job can be configured without changing its command.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gateway_sim import __version__
from gateway_sim.domain.limits import LIMITS
from gateway_sim.domain.scenario import DEFAULT_SCENARIO
from gateway_sim.kit import command
from gateway_sim.observe.logs import FORMATS, LEVELS
from gateway_sim.server import commands
from gateway_sim.server.guard import WILDCARDS

ENV_PREFIX = "GATEWAY_SIM_"
EPILOG = """examples:
  gateway-sim serve                                   default scenario on 127.0.0.1:8080
  gateway-sim serve --scenario my.yaml --port 9000    your own scenario
  GATEWAY_SIM_PORT=0 gateway-sim serve                any free port (the URL is printed)
  gateway-sim serve --tls                             HTTPS; the CA file to trust is printed
  gateway-sim serve --db sim.db --log-format json     keep state across restarts; JSON logs
  gateway-sim validate scenarios/*.yaml               check scenario files (exit 1 if invalid)
  gateway-sim init my-scenarios                       copy the shipped scenarios to edit them
  gateway-sim demo --count 100                        seeded demo traffic into a running one
  gateway-sim healthcheck                             exit 0 if the local simulator is alive
  gateway-sim readyz --wait --timeout 30 --url URL    wait until a simulator is ready (exit 0/1)
  gateway-sim conform traffic.jsonl --format markdown replay a recording; a fidelity matrix
"""


SERVE_EPILOG = """It prints where it listens (each port), the scenario, whether the state came from
the --db file (and how many messages it kept), the accounts it has, --trust-proxy and
--control-token when on, the inbox and metrics URLs (and with --tls the CA file to trust), then a
log line per request on stderr.

examples:
  gateway-sim serve --port 0 --seed 7
  gateway-sim serve --port 8080,8081        # a primary and a backup, one simulator
  GATEWAY_SIM_HOST=0.0.0.0 GATEWAY_SIM_SCENARIO=/scenarios/my.yaml gateway-sim serve
  gateway-sim serve --tls --tls-ca-file ca.pem --tls-hostnames gateway-sim
  gateway-sim serve --clock manual --control-token s3cret --log-level warning
"""


def default_url(environ: Mapping[str, str] | None = None) -> str:
    """Where a local simulator configured by these `GATEWAY_SIM_*` variables listens: the
    `GATEWAY_SIM_URL` twin, else `http(s)://127.0.0.1:<GATEWAY_SIM_PORT>` (127.0.0.1 for a
    wildcard host, so that a container's health check asks the simulator it runs)."""
    env = os.environ if environ is None else environ
    if env.get("GATEWAY_SIM_URL"):
        return env["GATEWAY_SIM_URL"]
    tls = _truthy(env.get("GATEWAY_SIM_TLS"))
    host = env.get("GATEWAY_SIM_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in WILDCARDS else host
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    port = (env.get("GATEWAY_SIM_PORT") or "8080").split(",")[0].strip()  # the first of several
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def _env(flag: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + flag.upper().replace("-", "_"), default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-sim",
        description="A local simulator of the IntelliSoftware (IntelliSMS) SMS/MMS gateway.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gateway-sim {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = subcommands.add_parser(
        "serve",
        help="run the simulator (env twins GATEWAY_SIM_*)",
        description="Run the simulator until SIGTERM or SIGINT (a clean stop within 2 s). Every "
        "flag has an environment twin: --max-messages is GATEWAY_SIM_MAX_MESSAGES.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--scenario",
        default=_env("scenario", str(DEFAULT_SCENARIO)),
        help="scenario YAML file (default: the shipped default scenario)",
    )
    serve.add_argument("--host", default=_env("host", "127.0.0.1"), help="default 127.0.0.1")
    serve.add_argument(
        "--port",
        type=ports,
        default=_env("port", "8080") or "8080",
        help="default 8080; 0 = any; several, comma-separated (8080,8081), serve one simulator",
    )
    serve.add_argument(
        "--seed",
        type=int,
        default=_int_or_none(_env("seed")),
        help="RNG seed (default: the scenario's settings.seed)",
    )
    serve.add_argument(
        "--db",
        default=_env("db", ":memory:"),
        help="SQLite file that keeps messages, journal, credit and ids across restarts "
        "(default: in memory); a file of an older gateway-sim is migrated at start, one of "
        "another program or a newer version refused. A postgresql:// URL keeps them in "
        "PostgreSQL, which several replicas can share (the 'postgres' extra)",
    )
    serve.add_argument(
        "--max-messages",
        type=_positive,
        default=int(_env("max_messages", "10000") or 10000),
        help="messages kept, oldest dropped first (default 10000)",
    )
    serve.add_argument(
        "--max-journal",
        type=_positive,
        default=int(_env("max_journal", "50000") or 50000),
        help="journal entries kept (default 50000)",
    )
    serve.add_argument(
        "--max-content-bytes",
        type=_positive,
        default=int(_env("max_content_bytes", str(128 * 1024 * 1024)) or 0),
        help="MMS content bytes kept; past it the oldest parts' bytes go (default 128 MiB)",
    )
    serve.add_argument(
        "--clock",
        choices=["real", "manual"],
        default=_env("clock", "real"),
        help="manual: time stands still until POST /_sim/clock/advance (default real)",
    )
    serve.add_argument(
        "--trust-proxy",
        action="store_true",
        default=(_env("trust_proxy") or "").lower() not in ("", "0", "false", "no", "off"),
        help="count X-Forwarded-Proto: https as HTTPS (behind a TLS-terminating proxy)",
    )
    serve.add_argument(
        "--control-token",
        default=_env("control_token"),
        help="require 'Authorization: Bearer TOKEN' on /_sim (the gateway paths never need it)",
    )
    serve.add_argument(
        "--allowed-hosts",
        default=_env("allowed_hosts", ""),
        metavar="NAMES",
        help="more Host names /_sim and the inbox answer to, comma-separated ('*': any); "
        "localhost, IP addresses, single-label names, this machine's names, --host and "
        "--tls-hostnames always are",
    )

    serve.add_argument(
        "--log-level",
        choices=LEVELS,
        default=_env("log_level", "info"),
        help="info: a line per request and per callback attempt (default); warning: problems only",
    )
    serve.add_argument(
        "--log-format",
        choices=FORMATS,
        default=_env("log_format", "text"),
        help="text (default) or json: one object per line, with the request's fields",
    )
    _add_tls(serve)
    _add_limits(serve)

    demo = subcommands.add_parser(
        "demo", help="send seeded, realistic traffic into a running simulator"
    )
    demo.add_argument("--url", default=default_url(), help="the simulator")
    demo.add_argument("--count", type=_positive, default=50, help="sends to make (default 50)")
    demo.add_argument(
        "--seed",
        type=int,
        default=_int_or_none(_env("seed")) or 0,
        help="seed of the traffic's choices: the same seed sends the same traffic (default 0)",
    )
    demo.add_argument("--username", default="demo", help="account (default demo)")
    demo.add_argument("--password", default="demo", help="its password (default demo)")
    demo.add_argument(
        "--control-token",
        default=_env("control_token"),
        help="the simulator's control token, for the handsets' replies (they go through /_sim)",
    )

    validate = subcommands.add_parser("validate", help="check scenario files; exit 1 if any is bad")
    validate.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="scenario YAML files to check"
    )
    init = subcommands.add_parser(
        "init",
        help="write the shipped scenarios into a folder, to edit and serve",
        description="Write the scenarios shipped in the package (default, low-credit, "
        "multi-account) into DIR, for `serve --scenario DIR/<name>.yaml`. Existing files are "
        "left alone unless --force.",
    )
    init.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("scenarios"),
        metavar="DIR",
        help="the folder, made if missing (default: ./scenarios)",
    )
    init.add_argument("--force", action="store_true", help="overwrite files already there")
    _add_probes(subcommands.add_parser)
    command.add_record_parser(subcommands.add_parser, _env)
    command.add_probe_parser(subcommands.add_parser, _env)
    command.add_parser(subcommands.add_parser)
    return parser


def _add_limits(serve: argparse.ArgumentParser) -> None:
    """A flag for each of `limits.Limits`, with its environment twin."""
    group = serve.add_argument_group(
        "limits (each bounds what a client can make the simulator hold)"
    )
    for info in LIMITS:
        number: Callable[[str], float] = _positive_seconds if info.unit == "seconds" else _positive
        if info.most is not None:
            number = _at_most(number, info.most, info.flag)
        default = _env(info.name)
        group.add_argument(
            info.flag,
            type=number,
            default=number(default) if default is not None else info.default,
            metavar="SECONDS" if info.unit == "seconds" else "N",
            help=f"{info.help} (default {info.shown})",
        )


def _add_tls(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--tls",
        action="store_true",
        default=_truthy(_env("tls")),
        help="serve HTTPS; without --tls-cert/--tls-key a CA and a certificate are made at start",
    )
    serve.add_argument("--tls-cert", default=_env("tls_cert"), help="certificate chain (PEM)")
    serve.add_argument("--tls-key", default=_env("tls_key"), help="its private key (PEM)")
    serve.add_argument(
        "--tls-ca-file",
        default=_env("tls_ca_file"),
        help="where to write the generated CA's certificate (default: a new temporary folder; "
        "the path is printed)",
    )
    serve.add_argument(
        "--tls-hostnames",
        default=_env("tls_hostnames", ""),
        help="more names for the generated certificate, comma-separated (e.g. a compose service "
        "name); localhost, 127.0.0.1, ::1, this machine's name and --host are always in it",
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _add_probes(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """The probes' commands, added with the subcommands' `add_parser`."""
    health = add_parser(
        "healthcheck", help="exit 0 if a simulator answers /_sim/health, else 1 (Docker)"
    )
    ready = add_parser(
        "readyz", help="exit 0 if a simulator is ready, else 1; --wait to wait for it"
    )
    for probe in (health, ready):
        probe.add_argument(
            "--url",
            default=default_url(),
            help="the simulator (default: GATEWAY_SIM_URL, else the local one that the "
            "GATEWAY_SIM_PORT and GATEWAY_SIM_TLS twins describe)",
        )
        probe.add_argument(
            "--control-token", default=_env("control_token"), help="when /_sim is guarded"
        )
        probe.add_argument(
            "--ca",
            default=_env("tls_ca_file"),
            help="CA file to check an https simulator's certificate (default: not checked)",
        )
    ready.add_argument("--wait", action="store_true", help="ask again until ready or timeout")
    ready.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait with --wait (default 30)"
    )


def ports(value: str) -> list[int]:
    """`--port`: one port or several, comma-separated, each 0 (any free one) to 65535."""
    given = [part.strip() for part in value.split(",")]
    if not all(part.isascii() and part.isdigit() and int(part) <= 65535 for part in given):
        raise argparse.ArgumentTypeError(
            f"must be a port (0-65535) or ports separated by commas, not {value!r}"
        )
    chosen = [int(part) for part in given]
    named = [port for port in chosen if port]
    if len(set(named)) != len(named):
        raise argparse.ArgumentTypeError(f"names a port twice: {value!r}")
    return chosen


def _positive(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {value!r}")
    return int(value)


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds over 0, not {value!r}")
    return seconds


def _at_most(number: Callable[[str], float], most: float, flag: str) -> Callable[[str], float]:
    """`number`, refusing values over `most` (a bound the server itself sets)."""

    def checked(value: str) -> float:
        parsed = number(value)
        if parsed > most:
            raise argparse.ArgumentTypeError(
                f"must be at most {most:g} (the most granian takes for {flag}), not {value!r}"
            )
        return parsed

    return checked


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the return value is the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "validate":
        return commands.validate(args.files)
    if args.command == "init":
        return commands.init(args.dir, force=args.force)
    if args.command == "serve":
        from gateway_sim.server.serve import serve

        return serve(args)
    if args.command == "demo":
        return commands.demo(args)
    if args.command in ("healthcheck", "readyz"):
        return commands.probe(args)
    if args.command in ("record", "probe"):
        from gateway_sim.kit import probe, proxy

        ran: int = (proxy if args.command == "record" else probe).run(args)
        return ran
    if args.command == "conform":
        from gateway_sim.kit import conform

        return conform.run(args)
    parser.print_help()
    return 2
