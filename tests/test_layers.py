"""The package's layers, as the README's Development section draws them, are what the imports
do: each layer imports only from itself and the layers below it, no module imports itself back
through others (import circles, type-only and function-level imports counted), the domain
imports no web stack and no storage, and no module passes 400 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import gateway_sim

PACKAGE = Path(gateway_sim.__file__).parent
LAYERS = {
    "domain": 0,
    "store": 1,
    "effects": 2,
    "wire": 3,
    "observe": 4,
    "inbox": 4,
    "control": 5,
    "server": 6,
    "kit": 6,
    "testing": 7,
}
"""Lowest first: a module may import from its own layer and from those with a lower number."""
NOT_IN_THE_DOMAIN = {
    "starlette", "granian", "httpx", "httpcore", "multipart", "python_multipart", "uvloop",
    "prometheus_client", "sqlite3", "asyncio",
}  # fmt: skip
"""The web stack, storage and the event loop: the domain decides, it does no I/O."""
MOST_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every module `path` imports (at the top, under TYPE_CHECKING or in a function): the
    package's own as module names, others as their top-level name."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                yield whole if whole in known else node.module


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {used for used in imports(path, known) if used in known and used != name}
        for name, path in known.items()
    }


def test_every_module_is_in_a_layer() -> None:
    loose = [m for m in modules() if layer(m) is None and m.count(".") > 1]
    top = [m for m in modules() if m.count(".") == 1 and m.split(".")[1] not in LAYERS]
    assert loose == []
    assert sorted(top) == ["gateway_sim.__main__"], top


def test_each_layer_imports_only_itself_and_those_below() -> None:
    upward = sorted(
        (importer, used)
        for importer, used_set in graph().items()
        for used in used_set
        if (a := layer(importer)) is not None
        and (b := layer(used)) is not None
        and LAYERS[b] > LAYERS[a]
    )
    assert upward == KNOWN_UPWARD, "\n".join(f"{a} -> {b}" for a, b in upward)


def test_no_import_circles() -> None:
    edges = graph()
    circles = [sorted(c) for c in _strongly_connected(edges) if len(c) > 1]
    assert sorted(circles) == KNOWN_CIRCLES, circles


def test_the_domain_imports_no_web_stack_storage_or_event_loop() -> None:
    known = modules()
    found = sorted(
        (name, used)
        for name, path in known.items()
        if layer(name) == "domain"
        for used in imports(path, known)
        if used.split(".")[0] in NOT_IN_THE_DOMAIN
    )
    assert found == KNOWN_DOMAIN_IMPORTS, found


def test_above_the_store_only_its_interface_is_used() -> None:
    """The layers above the store reach it through `store.repository` (and `open_store`), so
    another engine can stand behind it with nothing above knowing."""
    found = []
    for name, path in modules().items():
        if layer(name) in (None, "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "gateway_sim.store"
            ):
                names = {alias.name for alias in node.names}
                if node.module == "gateway_sim.store.store" and names == {"open_store"}:
                    continue
                if node.module != "gateway_sim.store.repository":
                    found.append((name, node.module, sorted(names)))
    assert found == [], found


def test_no_module_passes_400_lines() -> None:
    long = sorted(
        (name, lines)
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > MOST_LINES
    )
    assert [name for name, _ in long] == KNOWN_LONG, long


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Groups of modules that each reach all the others (a graph of some 80 modules: each
    module's reach is found by a plain walk)."""
    reach: dict[str, set[str]] = {}
    for start in edges:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for used in edges[todo.pop()] - seen:
                seen.add(used)
                todo.append(used)
        reach[start] = seen
    groups: list[set[str]] = []
    for module, reached in reach.items():
        group = {module} | {other for other in reached if module in reach[other]}
        if group not in groups:
            groups.append(group)
    return groups


# What the renovation (issue 17) has still to remove; each list empties as its step lands.
KNOWN_UPWARD: list[tuple[str, str]] = []
KNOWN_CIRCLES: list[list[str]] = []
KNOWN_DOMAIN_IMPORTS: list[tuple[str, str]] = []
KNOWN_LONG: list[str] = []
