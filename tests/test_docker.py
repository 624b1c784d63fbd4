"""The Docker image, without a Docker engine: hadolint lints the Dockerfile, and the Dockerfile is
replayed in a fresh virtual environment: its build context filtered by `.dockerignore`, its COPY
and pip RUN steps in order, then its exact ENTRYPOINT + CMD and HEALTHCHECK commands, with its ENV.

Only the host and port are changed, through their environment twins (as a user would): the image
listens on 0.0.0.0:8080, the replay on a free port of 127.0.0.1. pip may use the machine's cache
(`--no-cache-dir` is dropped) so that the replay is quick; on a clean machine it downloads.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import SEND, free_port, start_serve

ROOT = Path(__file__).parent.parent
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
    return found


def one(steps: list[tuple[str, str]], keyword: str) -> str:
    (arguments,) = [args for key, args in steps if key == keyword]
    return arguments


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, arguments in steps:
        if key == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))  # type: ignore[misc]
    return env


def healthcheck_command(steps: list[tuple[str, str]]) -> list[str]:
    arguments = one(steps, "HEALTHCHECK")
    _, command = arguments.split(" CMD ", 1)
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return parsed


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parents = [path] + [str(parent) for parent in Path(path).parents if str(parent) != "."]
    result = False
    for line in patterns:
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in parents):
            result = not negate
    return result


def build_context(into: Path) -> Path:
    """Copy what `.dockerignore` lets through into `into` (the build context Docker sends)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in ROOT.rglob("*"):
        relative = str(path.relative_to(ROOT))
        if path.is_file() and not relative.startswith(".git") and not ignored(relative, patterns):
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return into


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def test_hadolint_has_no_warnings() -> None:
    result = subprocess.run(
        [str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_dockerfile_shape(steps: list[tuple[str, str]]) -> None:
    keywords = [key for key, _ in steps]
    assert one(steps, "FROM").endswith("-slim")
    user = one(steps, "USER")
    assert user not in ("root", "0")
    assert one(steps, "EXPOSE") == "8080"
    env = env_of(steps)
    assert env["GATEWAY_SIM_HOST"] == "0.0.0.0"
    assert env["GATEWAY_SIM_PORT"] == "8080"
    assert json.loads(one(steps, "ENTRYPOINT")) == ["gateway-sim"]
    assert "curl" not in one(steps, "HEALTHCHECK")
    # the dependencies are installed before the source is copied (a cache-friendly layer)
    first_pip = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a)
    source = keywords.index("COPY", first_pip)
    assert "gateway_sim" not in " ".join(a for k, a in steps[:first_pip] if k == "COPY")
    assert any("gateway_sim" in a for k, a in steps[source:] if k == "COPY")
    # /scenarios and /data exist for mounts and belong to the user
    (setup,) = [a for k, a in steps if k == "RUN" and "useradd" in a]
    assert "/scenarios" in setup
    assert "/data" in setup
    assert "--uid 10001" in setup
    assert user == "10001"


def test_dockerignore_is_an_allow_list(tmp_path: Path) -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    assert next(line for line in lines if not line.startswith("#")) == "*"
    context = build_context(tmp_path)
    sent = {str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()}
    assert "pyproject.toml" in sent
    assert "gateway_sim/server/cli.py" in sent
    assert "gateway_sim/scenarios/default.yaml" in sent
    assert not any(name.startswith(("tests/", ".venv/", "bench/")) for name in sent)
    assert not any("__pycache__" in name for name in sent)


def replay_build(steps: list[tuple[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Install as the Dockerfile does, into a fresh venv; return its bin folder and the ENV."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    context = build_context(tmp_path / "context")
    workdir = tmp_path / "image" / one(steps, "WORKDIR").lstrip("/")
    workdir.mkdir(parents=True)
    env = {
        **os.environ,
        **env_of(steps),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
    }
    installs = 0
    for key, arguments in steps:
        if key == "COPY":
            *sources, destination = shlex.split(arguments)
            target = workdir / destination
            for source in sources:
                origin = context / source
                if origin.is_dir():
                    shutil.copytree(origin, target, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
        elif key == "RUN" and arguments.startswith(("python ", "pip ")):
            command = arguments.replace(" --no-cache-dir", "")
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            installs += 1
    assert installs == 2  # the dependencies, then the package
    return bin_dir, env


def run_probe(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_the_image_replayed_in_a_fresh_venv_serves_and_is_healthy(
    steps: list[tuple[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = replay_build(steps, tmp_path)
    port = free_port()
    env |= {"GATEWAY_SIM_HOST": "127.0.0.1", "GATEWAY_SIM_PORT": str(port)}
    entrypoint = json.loads(one(steps, "ENTRYPOINT"))
    command = json.loads(one(steps, "CMD"))
    # as in the image: the console script found on PATH, from the image's working directory
    argv = [str(bin_dir / entrypoint[0]), *entrypoint[1:], *command]
    assert shutil.which(entrypoint[0], path=env["PATH"]) == argv[0]
    process, url = start_serve(argv, env, cwd=str(tmp_path / "image"))
    try:
        assert url == f"http://127.0.0.1:{port}"
        check = healthcheck_command(steps)
        check = [str(bin_dir / check[0]), *check[1:]]
        deadline = time.monotonic() + 20
        while True:
            health = run_probe(check, env)
            if health.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert health.returncode == 0, health.stderr
        answer = httpx.post(
            url + SEND,
            data={"username": "demo", "password": "demo", "to": "07700900123", "text": "hi"},
        )
        assert answer.text == "ID:10011000000000000001"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=5)
        assert process.returncode == 0
        stopped = run_probe(check, env)
        assert stopped.returncode == 1  # the health check fails once the simulator is gone
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def test_compose_example_waits_on_health_and_its_client_sends(tmp_path: Path) -> None:
    """The compose file's simulator, with its environment (the mounts mapped onto this checkout
    and a temporary folder), and its client's exact command, aimed at that simulator. Run twice
    on the same /data, as two `docker compose up`s: the second run goes as the first did."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    simulator, client = compose["services"]["gateway-sim"], compose["services"]["client"]
    assert client["depends_on"]["gateway-sim"]["condition"] == "service_healthy"
    assert client["image"] == simulator["image"]
    assert client["build"] == simulator["build"] == "."  # `up` builds it, never pulls it
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in simulator["volumes"]}
    assert set(mounts) == {"/scenarios", "/data"}
    local = {"/scenarios": str(ROOT / mounts["/scenarios"]), "/data": str(tmp_path)}
    env = {
        name: next((value.replace(k, v) for k, v in local.items() if value.startswith(k)), value)
        for name, value in simulator["environment"].items()
    }
    bin_dir = Path(sys.executable).parent
    # the image's PATH finds its python and gateway-sim; here the venv's do
    client_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # compose's `entrypoint` replaces the image's ENTRYPOINT; without one, the image's runs
    image_entrypoint = json.loads(one(instructions(DOCKERFILE.read_text()), "ENTRYPOINT"))
    command = [*client.get("entrypoint", image_entrypoint), *client["command"]]
    (account,) = re.findall(r"--username (\S+)", " ".join(command))
    runs: list[tuple[str, dict[str, float]]] = []
    for _ in range(2):
        process, url = start_serve([str(bin_dir / "gateway-sim"), "serve", "--port", "0"], env)
        try:
            argv = [arg.replace("http://gateway-sim:8080", url) for arg in command]
            result = subprocess.run(
                argv, env=client_env, capture_output=True, text=True, timeout=60, check=False
            )
            assert result.returncode == 0, result.stderr
            assert re.match(r"\d+ sent \(\d+ of them MMS\), \d+ refused", result.stdout), (
                result.stdout
            )
            assert (tmp_path / "gateway-sim.db").exists()
            listed = httpx.get(url + "/_sim/requests", params={"limit": 1000}).json()["requests"]
            assert len([r for r in listed if r["path"].endswith(".aspx")]) >= 20
            accounts = httpx.get(url + "/_sim/accounts").json()["accounts"]
            credit = {entry["username"]: float(entry["credit"]) for entry in accounts}
            runs.append((result.stdout.replace(url, "URL"), credit))
        finally:
            process.terminate()
            process.communicate(timeout=10)
    (first_tally, first), (second_tally, second) = runs
    assert account != "demo"
    assert first[account] == second[account] < 100  # spent from the same 100 each time
    assert second_tally == first_tally  # the same seeded traffic, nothing refused for credit
    assert first["demo"] == second["demo"] == 100  # the scenario's account is left alone
