"""The server tree reads top-down: the composition root (`polytraders.servers.mesh`) and the
schema that gathers every table sit above the bot groups, and the groups above the runtime.
An import that points up the tree (or from one group into another) fails here, naming the line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVERS = Path(__file__).resolve().parents[2] / "servers" / "polytraders" / "servers"
RUNTIME = "runtime"
ABOVE_THE_GROUPS = ("mesh", "schema")


def _packages() -> list[str]:
    """The packages directly under the server tree, namespace packages (no __init__.py) included."""
    return sorted(
        p.name
        for p in SERVERS.iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and any(p.rglob("*.py"))
    )


GROUPS = tuple(p for p in _packages() if p != RUNTIME and p not in ABOVE_THE_GROUPS)
"""Every bot group: each package of the tree but the runtime and the schema, so a new one is checked."""


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path` (or in `source`, as if it were
    there), relative ones resolved."""
    package = ["polytraders", "servers", *path.relative_to(SERVERS).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _layer(module: str) -> str | None:
    """The part of the server tree `module` belongs to, if any."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["polytraders", "servers"] and len(parts) > 2 else None


FORBIDDEN = {
    RUNTIME: {*GROUPS, *ABOVE_THE_GROUPS},
    **{group: {*(g for g in GROUPS if g != group), *ABOVE_THE_GROUPS} for group in GROUPS},
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_lies_below_it(layer: str) -> None:
    paths = sorted((SERVERS / layer).rglob("*.py"))
    assert paths, f"no modules under {SERVERS / layer}: nothing was checked"
    upward = [
        f"{path.relative_to(SERVERS)}:{line} imports {module}"
        for path in paths
        for line, module in _imports(path)
        if _layer(module) in FORBIDDEN[layer]
    ]
    assert upward == []


def test_every_part_of_the_tree_has_a_place() -> None:
    """The groups are found, and nothing at the top of the tree is left out of the layering: a
    new module beside mesh.py must be named above the groups (or moved into a package)."""
    assert len(GROUPS) >= 5, GROUPS  # attribution, audit, ledger, lifecycle, operations at least
    modules = {p.stem for p in SERVERS.glob("*.py") if p.name != "__init__.py"}
    placed = {RUNTIME, *GROUPS, *ABOVE_THE_GROUPS}
    assert {*_packages(), *modules} <= placed
    assert {*ABOVE_THE_GROUPS, RUNTIME} <= {*_packages(), *modules}


def test_the_check_sees_an_upward_import() -> None:
    """The resolver itself: a relative import one level up lands on the composition root."""
    source = "from ..mesh import Mesh\nfrom .bus import ReportBus\nimport polytraders.servers.ledger.book\n"
    found = _imports(SERVERS / "runtime" / "example.py", source)
    assert [(line, _layer(name)) for line, name in found] == [(1, "mesh"), (2, "runtime"), (3, "ledger")]
