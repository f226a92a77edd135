"""The layers hold: every import of the product points down, and no module imports itself back.

Read from the code, every import counted, those inside functions and under TYPE_CHECKING too:
a deferred import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Lower first; a package may import those before it, never one after it.
LAYERS = ("lib", "courses", "quota", "selection")
#: Packages of one layer that must not know each other.
STRANGERS = {("courses", "quota"), ("quota", "courses")}
#: Within selection, the core stands below its shells.
SHELLS = ("selection.web", "selection.cli")


def product_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in (*LAYERS, "migrations"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The product modules ``name`` imports (a name imported from a package counts as that package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    resolved: set[str] = set()
    for target in targets:
        found = target
        while found and found not in known:
            found = found.rpartition(".")[0]
        if found and found != name:
            resolved.add(found)
    return resolved


def graph() -> dict[str, set[str]]:
    known = product_modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def top(module: str) -> str:
    return module.partition(".")[0]


def points_up(module: str, target: str) -> bool:
    a, b = top(module), top(target)
    if a == b:
        return False
    # Migrations stand apart: they import nothing, and only the command line applies them.
    if "migrations" in (a, b):
        return not (b == "migrations" and module.startswith("selection.cli"))
    return (a, b) in STRANGERS or LAYERS.index(b) > LAYERS.index(a)


def test_every_import_points_down() -> None:
    upward = [f"{m} -> {t}" for m, targets in graph().items() for t in targets if points_up(m, t)]
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_the_selection_core_does_not_import_its_shells() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        # ``python -m selection`` is the command line's own entry.
        if module.startswith("selection") and not module.startswith(SHELLS) and module != "selection.__main__"
        for target in targets
        if target.startswith(SHELLS)
    ]
    assert not upward, "the use case reaches into the web shell or the CLI:\n" + "\n".join(sorted(upward))


def test_no_module_is_part_of_an_import_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_reading_sees_deferred_and_relative_imports(tmp_path: Path) -> None:
    """A reading that missed these would pass a tree whose arrows point up."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from quota.gate import SeatGate\n"
        "def f() -> None:\n    from selection.worker import Worker\n"
        "from . import rounds\n"
    )
    known = {name: Path() for name in ("courses.rounds", "quota.gate", "selection.worker")}
    assert imports_of("courses.probe", probe, known) == {"courses.rounds", "quota.gate", "selection.worker"}
    assert points_up("courses.probe", "selection.worker")
    assert points_up("courses.probe", "quota.gate")
    assert points_up("lib.sql", "migrations")
    assert not points_up("selection.worker", "courses.rounds")
    assert not points_up("selection.cli.jobs", "migrations")
