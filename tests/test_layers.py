"""Layers flow one way (``docs/architecture.md``): ``data`` →
``cltv``/``capacity`` → ``formulations`` → ``solver`` → ``orchestration`` →
``service`` → ``cli``.

A module imports from its own layer or a lower one, never a higher one nor a
sibling (``cltv`` and ``capacity`` know nothing of each other). ``cli`` is the
top and ``benchmarks`` stands beside the library (it drives the CLI, and
``tierflow bench`` runs it): neither is imported by a layer. Every import
statement counts, those inside functions too (a lazy import is still a
dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tierflow

#: Layer of each top-level package, lowest first.
LAYERS: dict[str, int] = {
    "data": 0,
    "cltv": 1,
    "capacity": 1,
    "formulations": 2,
    "solver": 3,
    "orchestration": 4,
    "service": 5,
    "cli": 6,
    "benchmarks": 7,
}

#: Packages the rule does not bind (they may import any layer).
UNBOUND = {"cli", "benchmarks"}

ROOT = Path(tierflow.__file__).resolve().parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``tierflow.*`` import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, m) for line, m in found if m.split(".")[0] == "tierflow"]


def _package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).resolve().rglob("*.py"))


@pytest.mark.parametrize("package", sorted(set(LAYERS) - UNBOUND))
def test_a_layer_imports_only_its_own_or_lower_ones(package: str) -> None:
    files = _package_files(package)
    assert files, f"no modules found under {package}"
    wrong = []
    for path in files:
        for line, module in _imports(path):
            parts = module.split(".")
            if len(parts) < 2 or parts[1] == package:
                continue
            target = parts[1]
            assert target in LAYERS, f"{path}:{line}: {module}: a package of no layer"
            if LAYERS[target] >= LAYERS[package]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {module}")
    assert wrong == []


def test_every_package_has_a_layer() -> None:
    """A new top-level package is given its place here, not left unchecked."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The scan finds a lazy import inside a function (not only the top)."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from tierflow.service.app import create_app\n"
        "    import tierflow.cli.main\n"
    )
    assert _imports(module) == [
        (2, "tierflow.service.app"),
        (3, "tierflow.cli.main"),
    ]
