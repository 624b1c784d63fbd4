"""`gateway-sim init`: the shipped scenarios copied into a folder of the user's, so that an
installed simulator (pipx, a wheel, a Git URL) can be given a scenario to edit without a checkout.
The files are read from the package with importlib.resources, so a zipped or installed package
serves them as well as a checkout does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "gateway_sim"
FOLDER = "scenarios"


class ScaffoldError(Exception):
    """Why nothing was written (the message names the path)."""


def shipped_scenarios() -> dict[str, bytes]:
    """The package's scenario files by name, in name order."""
    folder = files(PACKAGE) / FOLDER
    found = {
        item.name: item.read_bytes() for item in folder.iterdir() if item.name.endswith(".yaml")
    }
    return dict(sorted(found.items()))


def write_scenarios(target: Path, *, force: bool = False) -> list[Path]:
    """Write every shipped scenario into `target` (made if missing) and return the paths written.
    Without `force`, a file already there stops it before anything is written, so a refused run
    leaves the folder as it was."""
    scenarios = shipped_scenarios()
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} exists and is not a folder")
    paths = [target / name for name in scenarios]
    taken = [str(path) for path in paths if path.exists()]
    if taken and not force:
        raise ScaffoldError(
            f"{', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; --force overwrites"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        for path, data in zip(paths, scenarios.values(), strict=True):
            path.write_bytes(data)
    except OSError as error:
        raise ScaffoldError(f"cannot write into {target}: {error.strerror or error}") from error
    return paths
