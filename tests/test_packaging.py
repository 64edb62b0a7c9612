"""What pyproject.toml declares matches what the code imports at run time."""
from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
Requirement = pytest.importorskip("packaging.requirements").Requirement


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports() -> list[tuple[str, str, bool]]:
    """``(top-level module, file, at module level)`` of every import in the installed code
    (pgg_zoo, tasks)."""
    out = []
    for folder in ("pgg_zoo", "tasks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            top = {id(n) for n in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for m in mods:
                    out.append((m.split(".")[0], str(path.relative_to(ROOT)), id(node) in top))
    return out


def _distributions(mod: str) -> set[str]:
    return {_norm(d) for d in md.packages_distributions().get(mod, [mod])}


def _optional() -> set[str]:
    """Distributions of the optional extras a user installs for a feature (not ``test``)."""
    extras = _project().get("optional-dependencies", {})
    return {_norm(Requirement(r).name) for name, reqs in extras.items() if name != "test"
            for r in reqs}


def test_every_third_party_import_is_a_dependency():
    """A run-time import is a dependency, or belongs to an optional extra and is imported
    inside the function that needs it (so ``import pgg_zoo`` works without the extra)."""
    declared = {_norm(Requirement(r).name) for r in _project()["dependencies"]}
    optional = _optional()
    own = {"pgg_zoo", "pgg_zoo_tasks", "pgg_zoo_model_cards", "__future__"}
    undeclared, eager = [], []
    for mod, where, module_level in _imports():
        if mod in own or mod in sys.stdlib_module_names:
            continue
        dists = _distributions(mod)
        if dists & declared:
            continue
        if dists & optional:
            if module_level:
                eager.append(f"{mod} ({where})")
            continue
        undeclared.append(f"{mod} ({where}; distribution {sorted(dists)})")
    assert not undeclared, "imported at run time but not declared: " + ", ".join(undeclared)
    assert not eager, "optional extras imported at module level: " + ", ".join(eager)


def test_mmengine_is_pinned_to_the_tested_range():
    # the engine subclasses private mmengine API (amp.py, loops.py, hooks.py)
    req = next(Requirement(r) for r in _project()["dependencies"] if _norm(Requirement(r).name) == "mmengine")
    spec = req.specifier
    assert any(s.operator == "<" for s in spec), f"mmengine needs an upper bound, got {spec}"
    assert "0.10.7" in spec and "0.11.0" not in spec and "0.10.0" not in spec
    assert md.version("mmengine") in spec  # the installed (tested) version is inside it


def test_runtime_dependencies_are_not_only_test_extras():
    runtime = {_norm(Requirement(r).name) for r in _project()["dependencies"]}
    extras = {_norm(Requirement(r).name) for r in _project()["optional-dependencies"].get("test", [])}
    assert {"scipy", "pillow"} <= runtime
    assert not (extras & {"scipy", "pillow"})


def test_every_source_folder_is_a_package():
    # setup.py lists packages with find_packages, which skips folders without __init__.py;
    # an editable install still imports them (namespace packages), a wheel would not ship them.
    missing = [str(d.relative_to(ROOT)) for folder in ("pgg_zoo", "tasks")
               for d in [ROOT / folder, *(ROOT / folder).rglob("*")]
               if d.is_dir() and "__pycache__" not in d.parts and any(d.glob("*.py"))
               and not (d / "__init__.py").is_file()]
    assert missing == []
