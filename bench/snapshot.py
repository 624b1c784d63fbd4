"""A revision of gateway-sim as a side of its own: its tree and a venv of its own, under bench/out/.

`prepare(rev)` resolves REV (`git rev-parse`), exports its tree with `git archive` (read-only: no
worktree, branch, index or stash of the checkout is touched) into bench/out/rev-SHA12/src, makes
bench/out/rev-SHA12/.venv with the Python this benchmark runs on (the same version as the
checkout's side) and pip-installs the tree into it with its own pyproject's dependencies (at
31de8e6, before the edge change: uvicorn 0.54 and httptools, whose private protocol its fast lane
subclasses). Wherever the checkout's venv holds a package the revision needs too, the same version
is installed (a constraints file made of this venv's `pip list`), so that only gateway-sim's own
code and the server it brings differ between the sides (the same Starlette, pydantic, uvloop...).
A stamp marks a finished install; later runs reuse it. bench/out/ is in .gitignore.

    .venv/bin/python bench/snapshot.py 31de8e6     # prepare it ahead of a run; prints where
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import servers

OUT = servers.BENCH / "out"
STAMP = ".installed"
PACKAGES = ("granian", "uvicorn", "httptools", "starlette", "uvloop")
"""The packages whose versions the report names for each side."""


class SnapshotError(RuntimeError):
    """A revision could not be exported or installed; the message tells why."""


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=servers.ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SnapshotError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def versions(python: Path | str) -> str:
    """`name version` of `PACKAGES` as the interpreter `python` sees them (the missing left out)."""
    code = (
        "import importlib.metadata as m, json\n"
        "found = {}\n"
        f"for name in {PACKAGES!r}:\n"
        "    try:\n"
        "        found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "?"
    found: dict[str, str] = json.loads(done.stdout)
    return ", ".join(f"{name} {version}" for name, version in found.items())


def checkout() -> str:
    """The checkout's commit, and how many of the package's files differ from it."""
    head = _git("rev-parse", "--short=7", "HEAD")
    changed = _git("status", "--porcelain", "--", "gateway_sim").splitlines()
    if not changed:
        return head
    return f"{head}, {len(changed)} file(s) of gateway_sim/ changed in the working tree"


@dataclass(frozen=True)
class Snapshot:
    """A revision exported and installed in a venv of its own."""

    rev: str  # as given
    commit: str  # the full hash
    subject: str  # its commit message's first line
    base: Path  # bench/out/rev-SHA12

    @property
    def short(self) -> str:
        return self.commit[:7]

    @property
    def root(self) -> Path:
        """The exported tree: its servers run in it."""
        return self.base / "src"

    @property
    def venv(self) -> Path:
        return self.base / ".venv"

    @property
    def gateway_sim(self) -> str:
        return str(self.venv / "bin" / "gateway-sim")

    def command(self, scenario: Path = servers.SCENARIO, port: int = 0) -> list[str]:
        """Its `gateway-sim serve` on `scenario` (any file: the bench's own are read as given)."""
        return [self.gateway_sim, "serve", "--scenario", str(scenario), "--port", str(port)]

    def describe(self) -> str:
        return (
            f"{self.short} ({self.subject[:90]}{'...' if len(self.subject) > 90 else ''}); "
            f"{versions(self.venv / 'bin' / 'python')}"
        )


def _constraints(path: Path) -> Path:
    """This venv's packages at their versions (gateway-sim itself left out), as a pip constraints
    file: the revision gets the same versions of what both need."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SnapshotError(f"pip list: {done.stderr.strip()}")
    pins = [
        line
        for line in done.stdout.splitlines()
        if "==" in line and not line.lower().startswith(("gateway-sim==", "gateway_sim=="))
    ]
    path.write_text("\n".join(pins) + "\n")
    return path


def _export(commit: str, root: Path) -> None:
    archive = root.parent / "tree.tar"
    with archive.open("wb") as out:
        done = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=servers.ROOT,
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    if done.returncode != 0:
        raise SnapshotError(f"git archive {commit}: {done.stderr.decode(errors='replace')}")
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    archive.unlink()


def _install(snapshot: Snapshot) -> None:
    """Export the tree, make the venv, install the tree into it; raise with pip's log on failure."""
    base = snapshot.base
    shutil.rmtree(base, ignore_errors=True)
    snapshot.root.mkdir(parents=True)
    _export(snapshot.commit, snapshot.root)
    python = getattr(sys, "_base_executable", sys.executable)  # this venv's own interpreter
    log = base / "install.log"
    pip = [str(snapshot.venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constraints = _constraints(base / "constraints.txt")
    steps = [
        [python, "-m", "venv", str(snapshot.venv)],
        [*pip, "--upgrade", "pip"],
        [*pip, "--constraint", str(constraints), str(snapshot.root)],
    ]
    with log.open("ab") as out:
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                shown = " ".join(step[:6])
                raise SnapshotError(
                    f"{shown}... failed ({done.returncode}):\n{servers.log_tail(log)}"
                )
    (base / STAMP).write_text(snapshot.commit + "\n")


def prepare(rev: str) -> Snapshot:
    """REV exported and installed under bench/out/ (reused when already there)."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    subject = _git("log", "-1", "--format=%s", commit)
    snapshot = Snapshot(rev, commit, subject, OUT / f"rev-{commit[:12]}")
    stamp = snapshot.base / STAMP
    if not (stamp.exists() and Path(snapshot.gateway_sim).exists()):
        print(f"snapshot: installing {rev} ({commit[:7]}) into {snapshot.base}", flush=True)
        _install(snapshot)
    return snapshot


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        snapshot = prepare(args[0])
    except SnapshotError as error:
        print(f"snapshot: {error}", file=sys.stderr)
        return 1
    print(f"{snapshot.gateway_sim}: {snapshot.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
