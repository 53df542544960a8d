"""No import circles between semmol's modules.

The import graph is read from the source with :mod:`ast`: every ``import`` and ``from ... import``
anywhere in a module counts, inside functions too (a deferred import hides a circle from Python
but not from the reader), except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "semmol"


def _module_names() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package (a package by its
    ``__init__.py``)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports: for ``from a import b`` the module ``a.b``
    where that is one, else ``a``."""
    imported: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    imported.add(f"{base}.{alias.name}")
                elif base in modules:
                    imported.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return imported


def _import_graph() -> dict[str, set[str]]:
    modules = _module_names()
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or of one importing itself:
    each holds at least one circle."""
    components = []
    assigned: set[str] = set()
    for module in sorted(graph):
        if module in assigned:
            continue
        component = {other for other in _reachable(graph, module) if module in _reachable(graph, other)}
        if component:
            components.append(sorted(component))
            assigned |= component
    return components


def test_the_reader_sees_deferred_imports_and_skips_type_checking_ones(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg import c\n"
        "def f():\n    from . import b\n"
    )
    (package / "b.py").write_text("import pkg.a\n")
    (package / "c.py").write_text("")
    modules = {"pkg": package / "__init__.py"} | {f"pkg.{name}": package / f"{name}.py" for name in "abc"}
    graph = {module: _imports(module, path, modules) for module, path in modules.items()}
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": set()}
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_no_import_cycles():
    assert _cycles(_import_graph()) == [], "modules that import each other, directly or through others"
