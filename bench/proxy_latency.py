"""The recording proxy's added latency on loopback: the same request sent N times straight to a
simulator and N times through `gateway-sim record` (both in this process's threads, each on the
project's granian embedding), one keep-alive connection each, sides taking turns; prints the p50
and p90 of each and the p50 difference.

    .venv/bin/python bench/proxy_latency.py [--count 500] [--kind send|balance]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.kit.capture import redactor_for
from gateway_sim.kit.proxy import RecordingProxy, Upstream, upstream_client
from gateway_sim.server.app import create_app
from gateway_sim.server.httpserver import ServerThread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--kind", choices=["send", "balance"], default="send")
    args = parser.parse_args()
    scenario = load_scenario(DEFAULT_SCENARIO)
    rich = [a.model_copy(update={"credit": Decimal(10**9)}) for a in scenario.accounts]
    app = create_app(scenario.model_copy(update={"accounts": rich}))
    upstream = ServerThread(app)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench.jsonl"
        client = upstream_client(None, 30)
        proxy = ServerThread(
            RecordingProxy(
                Upstream(upstream.url, client), out, redactor_for(False), 16 * 1024 * 1024
            )
        )
        login = {"username": "demo", "password": "demo"}
        if args.kind == "send":
            path, fields = "/smsgateway/sendmsg.aspx", {**login, "to": "447700900123", "text": "hi"}
        else:
            path, fields = "/smsgateway/getbalance.aspx", login
        times: dict[str, list[float]] = {"direct": [], "proxy": []}
        with httpx.Client(base_url=upstream.url) as direct, httpx.Client(base_url=proxy.url) as via:
            for _ in range(20):  # warm both connections and the proxy's pool
                direct.post(path, data=fields)
                via.post(path, data=fields)
            for _ in range(args.count):
                for side, http in (("direct", direct), ("proxy", via)):
                    started = time.perf_counter()
                    answer = http.post(path, data=fields)
                    times[side].append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
        lines = len(out.read_text().splitlines())
        proxy.stop()
    upstream.stop()
    app.close()
    for side, values in times.items():
        deciles = statistics.quantiles(values, n=10)
        print(f"{side}: p50 {statistics.median(values):.3f} ms, p90 {deciles[8]:.3f} ms")
    added = statistics.median(times["proxy"]) - statistics.median(times["direct"])
    print(
        f"added p50 latency: {added:.3f} ms over {args.count} {args.kind}s each "
        f"({lines} exchanges recorded)"
    )


if __name__ == "__main__":
    main()
