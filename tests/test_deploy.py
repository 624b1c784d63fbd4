"""The shared deployment (deploy/), without a Docker engine: deploy/compose.yaml is linted (its
services, images, commands, environment, ports and health dependencies, and that they name each
other rightly), deploy/nginx.conf is checked by `nginx -t`, and the same topology is started from
the same commands: the replicas' exact command and environment (the image's ENTRYPOINT and ENV
under the service's own), the throwaway PostgreSQL of the tests for the `postgres` service, and
nginx on deploy/nginx.conf. Only the addresses change, as tests/test_docker.py changes them: each
`host:port` of a service becomes a free port of 127.0.0.1, the database URL the test's own.

nginx is Debian's (`make nginx`): a test that needs it is skipped where it is missing, failed on
CI (`CI=true`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from gateway_sim.control.waits import WAIT_MOST
from gateway_sim.server.cli import build_parser
from tests.conftest import SEND, free_port, start_serve
from tests.test_docker import env_of, instructions, one

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
NGINX_CONF = DEPLOY / "nginx.conf"
DOCKERFILE = ROOT / "Dockerfile"
REPLICAS = ("replica-1", "replica-2")
BALANCER = "gateway-sim"
"""The nginx service: named as the single simulator of docker-compose.yml is."""
CONTAINER_PORT = 8080
REPLICA_HEADER = "X-Gateway-Sim-Replica"
VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}` and `${NAME:-default}`, the only forms the file may use."""
    done = VARIABLE.sub(lambda found: env.get(found[1]) or found[2] or "", value)
    assert "$" not in done, f"a form of interpolation this test does not read: {value}"
    return done


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment, as compose hands it over (interpolated, values as strings)."""
    return {
        name: interpolate(str(value), env or {}) for name, value in service["environment"].items()
    }


def upstream(conf: str) -> tuple[str, list[tuple[str, int]]]:
    """The name of nginx.conf's one upstream and its servers' (host, port)."""
    ((name, body),) = re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, flags=re.S)
    servers = [(host, int(port)) for host, port in re.findall(r"server\s+([\w.-]+):(\d+)", body)]
    return name, servers


def directive(conf: str, name: str) -> list[str]:
    """The values of every `name value;` directive in nginx.conf."""
    return [value.strip() for value in re.findall(rf"^\s*{name}\s+([^;]*);", conf, flags=re.M)]


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[unit]


# -- the compose file --------------------------------------------------------------------------


def test_the_services_are_postgres_two_replicas_and_a_balancer(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", *REPLICAS, BALANCER}
    postgres = services(compose)["postgres"]
    assert postgres["image"].startswith("postgres:")  # the official image
    assert "ports" not in postgres  # reached by the replicas only
    check = postgres["healthcheck"]["test"]
    assert check[0] == "CMD"
    assert check[1] == "pg_isready"
    pg_env = environment(postgres)
    assert check[check.index("--username") + 1] == pg_env["POSTGRES_USER"]
    assert check[check.index("--dbname") + 1] == pg_env["POSTGRES_DB"]
    assert pg_env["POSTGRES_PASSWORD"]  # the official image refuses to start without one
    balancer = services(compose)[BALANCER]
    assert balancer["image"].startswith("nginx:")  # the official image
    assert balancer["ports"] == [f"{CONTAINER_PORT}:{CONTAINER_PORT}"]  # the one published port
    assert balancer["volumes"] == ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert (COMPOSE.parent / "nginx.conf").is_file()
    for replica in REPLICAS:
        assert balancer["depends_on"][replica] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", REPLICAS)
def test_each_replica_is_the_image_serving_on_the_postgres_service(
    compose: dict[str, Any], name: str
) -> None:
    replica = services(compose)[name]
    assert replica == services(compose)[REPLICAS[0]]  # the same service twice
    # built from the repository's Dockerfile, as docker-compose.yml builds it
    assert replica["build"] == ".."
    assert (COMPOSE.parent / replica["build"] / "Dockerfile").resolve() == DOCKERFILE
    assert replica["image"] == "gateway-sim"
    steps = instructions(DOCKERFILE.read_text())
    assert json.loads(one(steps, "ENTRYPOINT")) == ["gateway-sim"]
    assert replica["command"] == ["serve"]
    assert "HEALTHCHECK" in dict(steps)  # what the balancer's service_healthy waits on
    assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "ports" not in replica  # reached through the balancer only
    env = environment(replica)
    # every variable is the twin of a flag of `serve`
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    serve = commands.choices["serve"]  # type: ignore[index]
    twins = {
        "GATEWAY_SIM_" + a.option_strings[0].removeprefix("--").upper().replace("-", "_")
        for a in serve._actions
        if a.option_strings[0] != "-h"
    }
    assert set(env) <= twins, set(env) - twins
    assert env["GATEWAY_SIM_HOST"] == "0.0.0.0"
    assert env["GATEWAY_SIM_PORT"] == str(CONTAINER_PORT)
    assert env["GATEWAY_SIM_TRUST_PROXY"] == "true"  # nginx sets X-Forwarded-*
    # the database is the postgres service's, with its user, password and database
    url = urlsplit(env["GATEWAY_SIM_DB"])
    pg_env = environment(services(compose)["postgres"])
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == pg_env["POSTGRES_USER"]
    assert url.password == pg_env["POSTGRES_PASSWORD"]
    assert url.path == "/" + pg_env["POSTGRES_DB"]
    # one password for both, set once at `up`
    secret = {"GATEWAY_SIM_DB_PASSWORD": "s3cret"}
    assert urlsplit(environment(replica, secret)["GATEWAY_SIM_DB"]).password == "s3cret"
    assert environment(services(compose)["postgres"], secret)["POSTGRES_PASSWORD"] == "s3cret"
    # a DNS name the deployment is reached by is added to the Host check at `up`
    names = {"GATEWAY_SIM_ALLOWED_HOSTS": "sim.ci.example"}
    assert environment(replica, names)["GATEWAY_SIM_ALLOWED_HOSTS"] == "sim.ci.example"


def test_the_image_installs_the_postgres_extra(tmp_path: Path) -> None:
    """The Dockerfile's dependency step, run on pyproject.toml, asks for psycopg and its pool."""
    steps = instructions(DOCKERFILE.read_text())
    (listing,) = [a for k, a in steps if k == "RUN" and "tomllib" in a]
    command = listing.split(" > requirements.txt")[0]
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(
        ["sh", "-c", command.replace("python ", f"{sys.executable} ", 1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    wanted = result.stdout.splitlines()
    assert "psycopg[binary]>=3.1" in wanted
    assert "starlette>=1.0" in wanted  # and the runtime dependencies still


# -- nginx.conf --------------------------------------------------------------------------------


def test_nginx_balances_over_the_replica_services(compose: dict[str, Any]) -> None:
    conf = NGINX_CONF.read_text()
    name, servers = upstream(conf)
    assert servers == [(replica, CONTAINER_PORT) for replica in REPLICAS]
    assert directive(conf, "proxy_pass") == [f"http://{name}"]
    assert directive(conf, "listen") == [str(CONTAINER_PORT)]
    assert not re.search(r"^\s*(least_conn|ip_hash|hash|random)\b", conf, flags=re.M)  # round robin
    headers = dict(value.split(None, 1) for value in directive(conf, "proxy_set_header"))
    assert headers["Host"] == "$http_host"  # with its port: a browser's Origin matches it
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    # a long-poll holds its request for up to WAIT_MOST seconds
    (timeout,) = directive(conf, "proxy_read_timeout")
    assert seconds(timeout) > WAIT_MOST
    assert directive(conf, "proxy_next_upstream") == ["off"]  # a send is never made twice
    assert directive(conf, "proxy_buffering") == ["off"]


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        reason = "nginx is missing: install Debian's nginx (make nginx)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def local_conf(folder: Path, listen: int, servers: dict[str, int]) -> Path:
    """deploy/nginx.conf as it runs here: each upstream `service:8080` a port of 127.0.0.1, the
    listen port a free one, and nginx's temporary files in `folder` (Debian's nginx keeps them
    under /var/lib/nginx, the official image under /var/cache/nginx)."""
    conf = NGINX_CONF.read_text()
    for service, port in servers.items():
        conf, count = re.subn(
            rf"\bserver\s+{service}:{CONTAINER_PORT}\b", f"server 127.0.0.1:{port}", conf
        )
        assert count == 1, service
    conf, count = re.subn(
        rf"^(\s*)listen\s+{CONTAINER_PORT};", rf"\1listen 127.0.0.1:{listen};", conf, flags=re.M
    )
    assert count == 1
    temp = "".join(f"    {kind}_temp_path {folder / kind};\n" for kind in TEMP_PATHS)
    conf = conf.replace("http {\n", "http {\n" + temp, 1)
    path = folder / "nginx.conf"
    path.write_text(conf)
    return path


def nginx_argv(nginx: str, folder: Path, conf: Path) -> list[str]:
    return [nginx, "-p", str(folder), "-c", str(conf), "-g", f"pid {folder / 'nginx.pid'};"]


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = nginx_binary()
    conf = local_conf(tmp_path, free_port(), {replica: free_port() for replica in REPLICAS})
    argv = [*nginx_argv(nginx, tmp_path, conf), "-t"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# -- the topology, without containers ----------------------------------------------------------


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[Any]]]:
    """The processes a test starts: stopped after it, the last started first."""
    processes: list[subprocess.Popen[Any]] = []
    yield processes
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=10)


def test_the_topology_balances_over_two_replicas_that_share_one_database(
    compose: dict[str, Any],
    pg_database: str,
    tmp_path: Path,
    running: list[subprocess.Popen[Any]],
) -> None:
    """Two `gateway-sim serve` processes as the replicas' service runs them, on the test's own
    database, behind nginx on deploy/nginx.conf: sends through the balancer are answered by both
    replicas, and what one accepted the other lists."""
    nginx = nginx_binary()
    steps = instructions(DOCKERFILE.read_text())
    entrypoint = json.loads(one(steps, "ENTRYPOINT"))
    bin_dir = Path(sys.executable).parent
    replicas: dict[str, str] = {}  # the address nginx names a replica by: its URL
    ports: dict[str, int] = {}
    for name in REPLICAS:
        service = services(compose)[name]
        env = {**env_of(steps), **environment(service)}
        # the postgres service is the test's PostgreSQL; the replica's port a free one
        assert urlsplit(env["GATEWAY_SIM_DB"]).hostname == "postgres"
        ports[name] = free_port()
        env |= {
            "GATEWAY_SIM_DB": pg_database,
            "GATEWAY_SIM_HOST": "127.0.0.1",
            "GATEWAY_SIM_PORT": str(ports[name]),
        }
        # as in the image: its ENTRYPOINT (found on PATH) and the service's command
        argv = [str(bin_dir / entrypoint[0]), *entrypoint[1:], *service["command"]]
        process, url = start_serve(argv, env, cwd=str(tmp_path))
        running.append(process)
        assert url == f"http://127.0.0.1:{ports[name]}"
        replicas[f"127.0.0.1:{ports[name]}"] = url
    listen = free_port()
    conf = local_conf(tmp_path, listen, ports)
    log = tmp_path / "nginx.log"
    with log.open("wb") as output:
        balancer = subprocess.Popen(
            [*nginx_argv(nginx, tmp_path, conf), "-g", "daemon off;"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running.append(balancer)
    wait_for_port(listen, balancer, log)
    through = f"http://127.0.0.1:{listen}"

    answered: dict[str, str] = {}  # message id: the replica that accepted it
    with httpx.Client(base_url=through, timeout=10) as client:
        for n in range(4):
            answer = client.post(
                SEND,
                data={"username": "demo", "password": "demo", "to": "07700900123", "text": f"n{n}"},
            )
            assert answer.text.startswith("ID:"), answer.text
            answered[answer.text.removeprefix("ID:")] = answer.headers[REPLICA_HEADER]
        assert len(answered) == 4  # ids unique across the replicas
        assert set(answered.values()) == set(replicas)  # round robin: both answered
        # what one replica accepted, the other lists: asked directly, and through the balancer
        for address, url in replicas.items():
            listed = httpx.get(url + "/_sim/messages").json()["messages"]
            others = {mid for mid, by in answered.items() if by != address}
            assert others <= {message["id"] for message in listed}, address
        for _ in replicas:
            listed = client.get("/_sim/messages").json()["messages"]
            assert set(answered) <= {message["id"] for message in listed}
        # the client's Host reaches the replicas with its port: a page of the balancer's own
        # origin drives the control API, another origin is refused
        own = client.post(
            "/_sim/accounts/demo/topup", json={"credit": 1}, headers={"Origin": through}
        )
        assert own.status_code == 200, own.text
        foreign = client.post(
            "/_sim/accounts/demo/topup",
            json={"credit": 1},
            headers={"Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403, foreign.text


# -- the deployment's documentation --------------------------------------------------------------


def test_the_kubernetes_sketch_reads_the_url_from_its_secret() -> None:
    """deploy/README.md's Kubernetes sketch is valid YAML whose parts name each other: the
    Deployment reads GATEWAY_SIM_DB from the Secret, the Service selects its pods, and every
    variable is a twin of the replicas' compose environment."""
    text = (DEPLOY / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    documents = {doc["kind"]: doc for doc in yaml.safe_load_all(block)}
    assert set(documents) == {"Secret", "Deployment", "Service"}
    secret, deployment, service = (documents[k] for k in ("Secret", "Deployment", "Service"))
    assert urlsplit(secret["stringData"]["url"]).scheme == "postgresql"
    assert deployment["spec"]["replicas"] > 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels == service["spec"]["selector"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve"]
    env = {entry["name"]: entry for entry in container["env"]}
    source = env["GATEWAY_SIM_DB"]["valueFrom"]["secretKeyRef"]
    assert source == {"name": secret["metadata"]["name"], "key": "url"}
    compose_env = yaml.safe_load(COMPOSE.read_text())["services"][REPLICAS[0]]["environment"]
    assert set(env) <= set(compose_env)
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["containerPort"]
    assert "docker compose -f deploy/compose.yaml up --build" in text
