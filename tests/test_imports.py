"""The import graph points one way: library <- cli, library <- eval scripts; tests are leaves.

Parsed from the source (ast), so nothing is imported and every import counts, including the
ones inside functions.
"""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nwcodec", "cli", "eval", "tests", "bitstream_spec")


def _imports(path: Path) -> set[str]:
    """Top-level package names that ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _graph() -> dict[str, set[str]]:
    """Source file (relative path) -> the project packages it imports."""
    return {
        str(path.relative_to(ROOT)): _imports(path) & set(PACKAGES)
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


ALLOWED = {"nwcodec/__main__.py": {"cli"}}  # `python -m nwcodec` runs the command line

FORBIDDEN = {
    "nwcodec": {"cli", "eval", "tests", "bitstream_spec"},
    "cli": {"eval", "tests", "bitstream_spec"},
    "eval": {"cli", "tests"},
    "bitstream_spec": {"cli", "eval", "tests"},
}


def test_imports_point_one_way():
    wrong = [
        f"{path} -> {target}"
        for path, targets in _graph().items()
        for target in (targets & FORBIDDEN.get(path.split("/")[0], set()))
        - ALLOWED.get(path, set())
    ]
    assert wrong == []


@pytest.mark.parametrize("package", ["tests", "eval", "bitstream_spec"])
def test_no_module_edits_sys_path(package):
    edits = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert edits == []


def test_only_nwcodec_and_cli_are_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(include) == ["cli*", "nwcodec*"]
