"""The import rule of docs/architecture.md, checked on the code: layers, no circle, no sweep/__init__, size."""

import ast
import fnmatch
import re
from pathlib import Path

import pytest

from conftest import REPO

PACKAGES = ("sweep", "tototraining", "kronostraining", "chronostraining")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the project's packages (a package is its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skipped.update(id(n) for statement in node.body for n in ast.walk(statement))
    return skipped


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads (``from pkg import name`` names ``pkg`` unless
    ``pkg.name`` is a module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            parts = parts[:len(parts) - node.level + 1]
            base = ".".join(parts + ([node.module] if node.module else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    targets = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            targets.append(name)
    return targets


def _imports() -> dict[str, set[str]]:
    """``{module: project modules it imports}``, imports inside functions included, TYPE_CHECKING ones not."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_nodes(tree)
        graph[module] = {target for node in ast.walk(tree)
                         if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped
                         for target in _targets(module, node) if target != module}
    return graph


def _table() -> dict[str, int]:
    """``{module or pattern: layer}`` from the layer table of docs/architecture.md (``sweep.forecasters.*``:
    every forecaster module a family adds)."""
    entries = {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|[^|]*\|(.*)\|\s*$", line)
        if row:
            for entry in re.findall(r"`([\w.*]+)`", row.group(2)):
                assert entry not in entries, f"{entry} is in two layers of docs/architecture.md"
                entries[entry] = int(row.group(1))
    return entries


def _layer_of(module: str, entries: dict[str, int]) -> int | None:
    """The layer naming ``module`` itself, else the one whose pattern it matches (None: unplaced)."""
    if module in entries:
        return entries[module]
    matches = {layer for entry, layer in entries.items() if "*" in entry and fnmatch.fnmatchcase(module, entry)}
    assert len(matches) <= 1, f"{module} matches patterns of layers {sorted(matches)}"
    return matches.pop() if matches else None


GRAPH = _imports()
TABLE = _table()
LAYERS = {m: layer for m in MODULES if (layer := _layer_of(m, TABLE)) is not None}


def test_when_the_layer_table_is_read_then_it_places_every_module_exactly_once():
    assert sorted(set(MODULES) - set(LAYERS)) == [], "place these modules in docs/architecture.md's layer table"
    named = {entry for entry in TABLE if "*" not in entry}
    assert sorted(named - set(MODULES)) == [], "these modules in docs/architecture.md do not exist"


def test_when_imports_are_parsed_then_none_goes_from_a_lower_layer_to_a_higher_one():
    upward = sorted(f"{m} (layer {LAYERS[m]}) imports {t} (layer {LAYERS[t]})" for m, targets in GRAPH.items()
                    for t in targets if m in LAYERS and t in LAYERS and LAYERS[t] > LAYERS[m])
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import circles."""
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_when_imports_are_parsed_then_there_is_no_circle():
    assert _circles(GRAPH) == []


def test_when_a_circle_is_planted_then_the_check_finds_it():
    planted = {**GRAPH, "sweep.errors": {*GRAPH["sweep.errors"], "sweep.runs.run"}}
    assert any("sweep.errors" in circle and "sweep.runs.run" in circle for circle in _circles(planted))


def test_when_imports_are_parsed_then_nothing_in_the_project_imports_the_package_init():
    assert sorted(m for m, targets in GRAPH.items() if "sweep" in targets) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_when_a_module_is_counted_then_it_is_at_most_400_lines(module):
    assert len(MODULES[module].read_text().splitlines()) <= MAX_LINES
