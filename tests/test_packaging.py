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


def _imported_top_level_names() -> dict[str, str]:
    """Top-level module -> one file importing it, over the installed code (pgg_zoo, tasks)."""
    out: dict[str, str] = {}
    for folder in ("pgg_zoo", "tasks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for m in mods:
                    out.setdefault(m.split(".")[0], str(path.relative_to(ROOT)))
    return out


def test_every_third_party_import_is_a_runtime_dependency():
    declared = {_norm(Requirement(r).name) for r in _project()["dependencies"]}
    dists = md.packages_distributions()
    own = {"pgg_zoo", "pgg_zoo_tasks", "pgg_zoo_model_cards", "__future__"}
    undeclared = []
    for mod, where in sorted(_imported_top_level_names().items()):
        if mod in own or mod in sys.stdlib_module_names:
            continue
        candidates = {_norm(d) for d in dists.get(mod, [mod])}
        if not candidates & declared:
            undeclared.append(f"{mod} ({where}; distribution {sorted(candidates)})")
    assert not undeclared, "imported at run time but not in [project].dependencies: " + ", ".join(undeclared)


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
