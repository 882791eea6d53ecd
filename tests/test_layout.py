"""The structure the architecture page promises (docs/architecture.md), checked on the code itself."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PKG = ROOT / "edge_lrcn"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules) -> set[str]:
    """The edge_lrcn modules ``name`` imports (at any depth of its code, lazily or not)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def test_no_import_cycle_inside_edge_lrcn():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(graph[n]):
            if m == "edge_lrcn" or n == "edge_lrcn":
                continue
            assert state.get(m) != 1, " -> ".join(stack + [n, m])
            if m not in state:
                visit(m, stack + [n])
        state[n] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_no_function_over_60_and_no_class_over_200_lines():
    too_long = []
    for path in [*PKG.rglob("*.py"), *(ROOT / "convert").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            limit = 200 if isinstance(node, ast.ClassDef) else 60
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and node.end_lineno - node.lineno + 1 > limit:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not too_long, too_long


def test_capture_and_model_do_not_depend_on_later_stages():
    """The flow goes one way: capture/ and model/ know nothing of classify/, publish/, the tracker or the daemon."""
    modules = _modules()
    later = ("edge_lrcn.classify", "edge_lrcn.publish", "edge_lrcn.events", "edge_lrcn.daemon", "edge_lrcn.service")
    for name, path in modules.items():
        if name.startswith(("edge_lrcn.capture", "edge_lrcn.model")):
            bad = [m for m in _imports(name, path, modules) if m.startswith(later)]
            assert not bad, (name, bad)
