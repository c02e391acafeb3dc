"""The package graph is acyclic and follows the layers docs/architecture.md draws.

A package may import only from packages on lower layers (or its own); a module at the top of
`worker/` (errors, units, times, records) is a base everyone may use. Read from the source with
`ast`, so an import hidden inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[2] / "worker"

# Bottom to top; packages on one layer do not import each other.
LAYERS: list[set[str]] = [
    {"errors", "units", "times", "records"},
    {"queue"},
    {"observability", "fetching", "extraction", "rules", "dedupe"},
    {"feeds"},
    {"alerts"},
    {"config"},  # validates what the layers below define (queries, channel URLs, dedupe)
    {"polling", "pipeline", "websub"},
    {"ops", "archive"},
    {"web"},
    {"roles"},
    {"cli"},
]
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "worker"


def imports_between_packages() -> list[tuple[str, str, str]]:
    """(importing module, its package, imported package) for every worker-internal import."""
    found = []
    for path in sorted(WORKER.rglob("*.py")):
        relative = path.relative_to(WORKER.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        own = package_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("worker.") and package_of(name) != own:
                    found.append((module, own, package_of(name)))
    return found


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in WORKER.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in WORKER.glob("*.py") if p.stem != "__init__"}
    unknown = sorted((packages | modules) - LAYER_OF.keys())
    assert unknown == [], f"give these a layer in LAYERS and docs/architecture.md: {unknown}"


@pytest.mark.parametrize(("module", "own", "imported"), imports_between_packages())
def test_imports_only_reach_down(module: str, own: str, imported: str) -> None:
    assert LAYER_OF[imported] < LAYER_OF[own], (
        f"{module} ({own}, layer {LAYER_OF[own]}) imports {imported} "
        f"(layer {LAYER_OF[imported]}): upward or sideways"
    )


def test_the_graph_has_no_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for _module, own, imported in imports_between_packages():
        edges.setdefault(own, set()).add(imported)
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        assert node not in visiting, f"import cycle: {' -> '.join([*path, node])}"
        if node in done:
            return
        visiting.add(node)
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, [*path, node])
        visiting.discard(node)
        done.add(node)

    for start in sorted(edges):
        visit(start, [])
