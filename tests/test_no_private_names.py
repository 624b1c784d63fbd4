"""No module of the package reaches into a dependency's private names: `from x import _y`,
`import x._y`, or `x._y` where `x` names a third-party module (or something imported from one).
Dependencies are used through their documented names only, so an upgrade cannot break them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gateway_sim"


def _third_party(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    return bool(top) and top != "gateway_sim" and top not in sys.stdlib_module_names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, where: str) -> list[str]:
    """Each reach into a dependency's private names in `source`, as `where:line: what`."""
    tree = ast.parse(source, where)
    bound: set[str] = set()  # names that stand for a third-party module or one of its objects
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _third_party(alias.name):
                    continue
                if any(_private(part) for part in alias.name.split(".")):
                    found.append(f"{where}:{node.lineno}: import {alias.name}")
                bound.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom) and node.level == 0 and _third_party(node.module or "")
        ):
            module = node.module or ""
            if any(_private(part) for part in module.split(".")):
                found.append(f"{where}:{node.lineno}: from {module} import ...")
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{where}:{node.lineno}: from {module} import {alias.name}")
                bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
        ):
            found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_scan_finds_each_kind_of_reach() -> None:
    source = (
        "import granian._granian\n"
        "import starlette.routing as routing\n"
        "from starlette.routing import _x, Mount\n"
        "from granian._internal import y\n"
        "import os\n"
        "routing._compile\n"
        "Mount._hidden\n"
        "os._exit\n"  # the standard library is not a dependency
        "routing.__name__\n"
    )
    assert [use.split(": ", 1)[1] for use in private_uses(source, "m.py")] == [
        "import granian._granian",
        "from starlette.routing import _x",
        "from granian._internal import ...",
        "routing._compile",
        "Mount._hidden",
    ]


def test_no_module_reaches_into_a_dependencys_private_names() -> None:
    found = []
    modules = sorted(PACKAGE.rglob("*.py"))
    for path in modules:
        found += private_uses(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert found == []
    assert len(modules) > 40  # the walk did see the package
