"""Packaging: every third-party import of src/gencal is a declared dependency.

(The wheel itself, installed in clean venvs with and without the extras, is checked by
``.ci/package_check``.)
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: import name -> distribution, for modules not installed here (packages_distributions is empty)
KNOWN = {
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "hydra": "hydra-core",
    "submitit": "submitit",
    "numba": "numba",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _norm(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1))


def declared_distributions() -> dict[str, str]:
    """Distribution -> the group declaring it (``core`` or an extra), dev excluded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = {_requirement_name(r): "core" for r in project["dependencies"]}
    for extra, reqs in project["optional-dependencies"].items():
        if extra != "dev":
            for r in reqs:
                out.setdefault(_requirement_name(r), extra)
    out.pop("gencal", None)  # `all` lists the other extras
    return out


def third_party_imports() -> dict[str, list[str]]:
    """Top-level module -> files of src/gencal that import it (absolute imports, not stdlib)."""
    found: dict[str, list[str]] = {}
    for path in sorted((SRC / "gencal").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("gencal", "__future__"):
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_declared_dependency():
    imports = third_party_imports()
    assert {"torch", "numpy", "scipy", "sklearn", "lightning", "hydra"} <= set(imports)
    installed = packages_distributions()
    declared = declared_distributions()
    missing = {}
    for module, files in imports.items():
        dists = {_norm(d) for d in installed.get(module, [])} or {_norm(KNOWN.get(module, module))}
        if not dists & set(declared):
            missing[module] = (sorted(dists), files[:3])
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_core_dependencies_are_the_scientific_stack():
    core = {d for d, group in declared_distributions().items() if group == "core"}
    assert core == {"torch", "numpy", "scipy", "scikit-learn", "threadpoolctl"}
