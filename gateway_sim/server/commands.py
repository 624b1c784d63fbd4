"""What each command of the command line does once its flags are parsed (cli.py parses them):
the probes, `demo`, `init` and `validate`; `serve` is serve.py's. Each returns the exit code and
prints its errors, one line each, on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway_sim.domain.scenario import ScenarioError, load_scenario


def probe(args: argparse.Namespace) -> int:
    from gateway_sim.server.probe import Probe

    probe = Probe(args.url, token=args.control_token, ca=args.ca)
    if args.command == "healthcheck":
        problem = probe.healthy()
    elif args.wait:
        problem = probe.wait_ready(args.timeout)
    else:
        problem = probe.ready()
    if problem is not None:
        print(f"gateway-sim {args.command}: {args.url}: {problem}", file=sys.stderr)
        return 1
    print(f"{args.url}: {'healthy' if args.command == 'healthcheck' else 'ready'}")
    return 0


def demo(args: argparse.Namespace) -> int:
    import httpx

    from gateway_sim.server import demo as traffic

    try:
        tally = traffic.run(
            args.url,
            count=args.count,
            seed=args.seed,
            username=args.username,
            password=args.password,
            control_token=args.control_token,
        )
    except httpx.HTTPError as error:
        print(f"gateway-sim demo: cannot reach {args.url}: {error}", file=sys.stderr)
        return 1
    except traffic.ControlRefused as refused:
        hint = (
            "; give its control token with --control-token (env GATEWAY_SIM_CONTROL_TOKEN)"
            if refused.status in (401, 403)
            else ""
        )
        print(
            f"gateway-sim demo: the control API of {args.url} refused the demo: {refused}{hint}",
            file=sys.stderr,
        )
        return 1
    print(
        f"{tally.sent} sent ({tally.mms} of them MMS), {tally.refused} refused, "
        f"{tally.replies} replies from handsets, into {args.url}"
    )
    if tally.sent == 0:
        login = "ERR:LOGIN_INVALID" in tally.answers
        hint = f"; check --username ({args.username!r}) and --password" if login else ""
        print(
            f"gateway-sim demo: every send was refused (the first answer: {tally.answers[0]!r})"
            + hint,
            file=sys.stderr,
        )
        return 1
    return 0


def init(target: Path, *, force: bool) -> int:
    from gateway_sim.server.scaffold import ScaffoldError, write_scenarios

    try:
        written = write_scenarios(target, force=force)
    except ScaffoldError as error:
        print(f"gateway-sim init: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def validate(files: list[Path]) -> int:
    status = 0
    for path in files:
        try:
            load_scenario(path)
        except ScenarioError as error:
            print(error, file=sys.stderr)
            status = 1
        else:
            print(f"{path}: valid")
    return status
