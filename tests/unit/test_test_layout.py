"""The tests' own layout: a test module imports helpers from tests/support (or bench/), never another test module
or a conftest (pytest loads those itself; importing one runs it twice, under two names), and nothing edits
sys.path (the repository root is on it: pytest's `pythonpath`, `python -m bench.x`)."""

from __future__ import annotations

import ast

from tests.support.paths import REPO


def _imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            names += [f"{'.' * node.level}{node.module or ''}.{alias.name}" for alias in node.names]
    return names


def _forbidden(module: str) -> bool:
    parts = module.split(".")
    if "conftest" in parts:
        return True
    return parts[0] == "tests" and any(part.startswith("test_") for part in parts[1:])


def test_no_test_module_imports_another_test_module_or_a_conftest():
    offending = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        if "fixtures" in path.relative_to(REPO).parts:
            continue
        for module in _imported_modules(ast.parse(path.read_text(), filename=str(path))):
            if _forbidden(module) or module.startswith("."):
                offending.append(f"{path.relative_to(REPO)}: {module}")
    assert not offending, "move what these need to tests/support:\n" + "\n".join(offending)


def test_the_benchmarks_import_nothing_from_tests():
    offending = [
        f"{path.relative_to(REPO)}: {module}"
        for path in sorted((REPO / "bench").rglob("*.py"))
        for module in _imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if module.split(".")[0] == "tests"
    ]
    assert not offending, "tests may import bench, not the other way round:\n" + "\n".join(offending)


_EDITS = {"insert", "append", "extend", "remove", "pop", "clear"}


def _edits_sys_path(source: str) -> bool:
    """`sys.path.<edit>(...)` or `sys.path = ...` / `sys.path[...] = ...`, also inside code held in a string."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in _EDITS and _is_sys_path(node.value):
            return True
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_sys_path(getattr(t, "value", t)) or _is_sys_path(t) for t in targets):
                return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "sys.path" in node.value:
            try:
                if _edits_sys_path(node.value):
                    return True
            except SyntaxError:
                pass
    return False


def _is_sys_path(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys"


def test_nothing_edits_sys_path():
    files = [
        path
        for path in REPO.rglob("*.py")
        if not {".git", ".venv", "node_modules", "fixtures"} & set(path.relative_to(REPO).parts)
    ]
    offending = [str(path.relative_to(REPO)) for path in files if _edits_sys_path(path.read_text(errors="replace"))]
    assert not offending, offending
