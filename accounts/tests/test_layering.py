"""The base app stands alone: no accounts module imports a feature app."""

from __future__ import annotations

import ast
from pathlib import Path

import accounts

FEATURE_APPS = {"chat", "notifications", "bench"}


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every import in a module."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_accounts_module_imports_a_feature_app():
    base = Path(accounts.__file__).parent
    modules = [
        p for p in base.rglob("*.py") if "tests" not in p.relative_to(base).parts
    ]
    offenders = {
        str(p.relative_to(base)): imported_roots(p) & FEATURE_APPS for p in modules
    }
    assert modules and {k: v for k, v in offenders.items() if v} == {}
