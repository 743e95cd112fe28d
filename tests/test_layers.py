"""Dependencies point one way (README, "Architecture"): each package imports only itself and
the packages below it — core, then allocation, quality, reporting, the configuration
(wfo), the demo. Every import counts, also one inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "allocation", "quality", "reporting", "wfo", "demo"]


def imports_of(path: Path) -> set[str]:
    """The project packages a module imports (their top-level names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def upward_imports(package: str) -> list[str]:
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    return [
        f"{path.relative_to(ROOT)} imports {', '.join(sorted(found - allowed))}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if (found := imports_of(path)) - allowed
    ]


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_the_ones_below_it(package):
    assert upward_imports(package) == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The test can fail: a module of core importing an app is caught."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text("def f():\n    from allocation.models import WorkItem\n")
    monkeypatch.setattr("tests.test_layers.ROOT", tmp_path)
    assert upward_imports("core") == ["core/bad.py imports allocation"]
