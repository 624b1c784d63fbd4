"""The Makefile's install tiers: `make run` installs the package and its runtime dependencies only;
the test targets add the `test` extra on top. Checked with `make -n` (print, do not run) in a
fresh copy of the Makefile and pyproject.toml, so every install a fresh clone would make shows."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def planned(target: str, folder: Path) -> list[str]:
    """The commands `make TARGET` would run in a fresh clone (no .venv yet)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, folder / name)
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # As a fresh shell would run it: not as a sub-make of `make test` (whose MAKEFLAGS and
    # MAKELEVEL would add "Entering directory" lines and pass its variables on).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(
        [make, "-n", "--no-print-directory", target],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    """The pip installs of the project itself (pip's own upgrade left out)."""
    return [line for line in commands if "pip install" in line and " -e " in line]


def test_make_run_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    commands = planned("run", tmp_path)
    assert any("-m venv .venv" in line for line in commands)  # it still makes the venv itself
    (install,) = installs(commands)
    assert install.endswith(" -e ."), install
    assert not any("[test]" in line for line in commands), commands
    assert "gateway-sim serve" in commands[-1]


@pytest.mark.parametrize("target", ["test", "test-quick", "lint"])
def test_the_test_targets_add_the_test_extra_on_top(target: str, tmp_path: Path) -> None:
    commands = planned(target, tmp_path)
    assert any("-m venv .venv" in line for line in commands)
    runtime, extra = installs(commands)
    assert runtime.endswith(" -e ."), runtime
    assert extra.endswith(" -e '.[test]'"), extra
