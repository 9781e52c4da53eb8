"""The import rule of docs/architecture.md, checked on the code: package levels, no circle (between modules or
packages), no other package's private module, no sweep/__init__, size. Each rule has a test that plants a violation
and sees the check find it."""

import ast
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


def _imports(type_checking: bool = False) -> dict[str, set[str]]:
    """``{module: project modules it imports}``, imports inside functions included, ``if TYPE_CHECKING:`` ones
    only with ``type_checking``."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = set() if type_checking else _type_checking_nodes(tree)
        graph[module] = {target for node in ast.walk(tree)
                         if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped
                         for target in _targets(module, node) if target != module}
    return graph


def _table() -> tuple[dict[str, int], dict[str, set[str]]]:
    """``({package: level}, {package: its modules as listed})`` from the package table of docs/architecture.md.
    A row names its packages in the second column and their modules (relative names) in the fourth, one
    ``;``-separated group per package."""
    levels, listed = {}, {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|[^|]*\|([^|]*)\|\s*$", line)
        if not row:
            continue
        packages = re.findall(r"`([\w.]+)`", row.group(2))
        groups = row.group(3).split(";") if ";" in row.group(3) else [row.group(3)] + [""] * (len(packages) - 1)
        assert len(groups) == len(packages), f"docs/architecture.md: one module group per package in {line!r}"
        for package, group in zip(packages, groups):
            assert package not in levels, f"{package} is in two rows of docs/architecture.md"
            levels[package] = int(row.group(1))
            listed[package] = set(re.findall(r"`([\w.]+)`", group))
    return levels, listed


def _package_of(module: str, levels: dict[str, int]) -> str | None:
    """The table's package holding ``module``: the longest package it is or lies in (``sweep`` holds only
    ``sweep/__init__``: a module at the top of ``sweep/`` is a package of its own), None: unplaced."""
    holders = [p for p in levels if module == p or (p != "sweep" and module.startswith(p + "."))]
    return max(holders, key=len) if holders else None


GRAPH = _imports()
LEVELS, LISTED = _table()
PACKAGE = {m: p for m in MODULES if (p := _package_of(m, LEVELS)) is not None}


def _is_private(module: str, package: str) -> bool:
    """Whether a part of ``module`` below its package starts with ``_`` (``__init__``/``__main__`` do not count)."""
    return any(part.startswith("_") and not part.startswith("__") for part in module[len(package):].split(".") if part)


def _upward(graph: dict[str, set[str]], levels: dict[str, int]) -> list[str]:
    """Imports of a package of a higher level than the importer's."""
    return sorted(f"{m} ({PACKAGE[m]}, level {levels[PACKAGE[m]]}) imports {t} ({PACKAGE[t]}, level "
                  f"{levels[PACKAGE[t]]})" for m, targets in graph.items() for t in targets
                  if m in PACKAGE and t in PACKAGE and levels[PACKAGE[t]] > levels[PACKAGE[m]])


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), i.e. import circles."""
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


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``{package: packages its modules import}``."""
    packages: dict[str, set[str]] = {}
    for m, targets in graph.items():
        packages.setdefault(PACKAGE[m], set()).update(PACKAGE[t] for t in targets if PACKAGE[t] != PACKAGE[m])
    return packages


def _private_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of another package's private module."""
    return sorted(f"{m} imports {t}, private to {PACKAGE[t]}" for m, targets in graph.items() for t in targets
                  if PACKAGE[t] != PACKAGE[m] and _is_private(t, PACKAGE[t]))


def _oversized(lines: dict[str, int]) -> list[str]:
    return sorted(f"{m}: {n} lines" for m, n in lines.items() if n > MAX_LINES)


def test_when_the_package_table_is_read_then_it_places_every_module_and_lists_each_package_s_modules():
    assert sorted(set(MODULES) - set(PACKAGE)) == [], "place these modules in docs/architecture.md's package table"
    assert sorted(set(LEVELS) - set(MODULES)) == [], "these packages in docs/architecture.md do not exist"
    wings = {f"sweep.{p.name}" for p in (REPO / "sweep").iterdir() if (p / "__init__.py").is_file()}
    assert sorted(wings - set(LEVELS)) == [], "these packages of sweep/ are not rows of docs/architecture.md"
    for package, listed in LISTED.items():
        actual = {m[len(package) + 1:] for m, p in PACKAGE.items() if p == package and m != package}
        assert listed == actual, f"docs/architecture.md lists {sorted(listed)} for {package}, it has {sorted(actual)}"


def test_when_imports_are_parsed_then_no_package_imports_a_higher_level():
    assert _upward(GRAPH, LEVELS) == []


def test_when_an_upward_import_is_planted_then_the_check_finds_it():
    planted = {**GRAPH, "sweep.storage.store": {*GRAPH["sweep.storage.store"], "sweep.runs.run"}}
    assert any(line.startswith("sweep.storage.store (sweep.storage, level 1) imports sweep.runs.run")
               for line in _upward(planted, LEVELS))


def test_when_imports_are_parsed_then_there_is_no_circle_between_modules_even_through_type_checking_imports():
    assert _circles(GRAPH) == []
    assert _circles(_imports(type_checking=True)) == []


def test_when_a_circle_is_planted_then_the_check_finds_it():
    planted = {**GRAPH, "sweep.errors": {*GRAPH["sweep.errors"], "sweep.runs.run"}}
    assert any("sweep.errors" in circle and "sweep.runs.run" in circle for circle in _circles(planted))


def test_when_imports_are_parsed_then_there_is_no_circle_between_packages():
    assert _circles(_package_graph(GRAPH)) == []


def test_when_a_package_circle_is_planted_then_the_check_finds_it():
    # data imports stats (windows reads the paired tests' origin floor); stats importing data closes a circle of
    # packages although no module circle exists
    planted = {**GRAPH, "sweep.stats.metrics": {*GRAPH["sweep.stats.metrics"], "sweep.data.bar_time"}}
    assert _circles(planted) == []
    assert ["sweep.data", "sweep.stats"] in _circles(_package_graph(planted))


def test_when_imports_are_parsed_then_no_package_imports_another_s_private_module():
    assert _private_imports(GRAPH) == []


def test_when_a_private_import_is_planted_then_the_check_finds_it():
    assert _is_private("sweep.search._symbol_batch", "sweep.search")
    assert not _is_private("sweep.search.study", "sweep.search") and not _is_private("tototraining.__main__",
                                                                                     "tototraining")
    planted = {**GRAPH, "sweep.runs.run": {*GRAPH["sweep.runs.run"], "sweep.search._symbol_batch"}}
    assert _private_imports(planted) == ["sweep.runs.run imports sweep.search._symbol_batch, private to sweep.search"]


def test_when_a_package_init_is_read_then_its_docstring_says_what_it_owns_and_all_is_explicit():
    for package in LEVELS:
        path = MODULES[package]
        if path.name != "__init__.py" or package == "sweep":
            continue
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path} has no docstring saying what {package} owns"
        assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)
                   for n in tree.body) or package in ("tototraining", "kronostraining", "chronostraining"), \
            f"{path} has no __all__"


def _init_importers(graph: dict[str, set[str]]) -> list[str]:
    return sorted(m for m, targets in graph.items() if "sweep" in targets)


def test_when_imports_are_parsed_then_nothing_in_the_project_imports_the_package_init():
    assert _init_importers(GRAPH) == []


def test_when_an_import_of_the_package_init_is_planted_then_the_check_finds_it():
    planted = {**GRAPH, "sweep.cli": {*GRAPH["sweep.cli"], "sweep"}}
    assert _init_importers(planted) == ["sweep.cli"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_when_a_module_is_counted_then_it_is_at_most_400_lines(module):
    assert _oversized({module: len(MODULES[module].read_text().splitlines())}) == []


def test_when_an_oversized_module_is_planted_then_the_check_finds_it():
    assert _oversized({"sweep.runs.run": MAX_LINES + 1, "sweep.errors": MAX_LINES}) == ["sweep.runs.run: 401 lines"]
