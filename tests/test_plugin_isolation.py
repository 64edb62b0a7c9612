"""The shape of the code (docs/plugins.md): no plugin imports another plugin, the core never
imports a plugin, and the engine does not import ``pgg_zoo.task`` (which imports the engine).

Checked on the source with ``ast``, so an import hidden inside a function counts too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.name for p in (ROOT / "tasks").iterdir() if (p / "__init__.py").is_file())


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``path``, a module whose package is
    ``package`` (relative imports resolved against it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = package.split(".")  # level 1 is the module's own package, level 2 its parent
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` may import a submodule: count pkg.sub as well
            out += [(node.lineno, mod)] + [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def _modules(folder: Path, package: str):
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder).parent.parts
        yield path, ".".join([package, *rel])


@pytest.mark.parametrize("plugin", PLUGINS)
def test_no_plugin_imports_another_plugin(plugin):
    own = f"pgg_zoo_tasks.{plugin}"
    bad = [f"{path.relative_to(ROOT)}:{line}: {mod}"
           for path, pkg in _modules(ROOT / "tasks" / plugin, own)
           for line, mod in imported_modules(path, pkg)
           if (mod == "pgg_zoo_tasks" or mod.startswith("pgg_zoo_tasks."))
           and len(mod.split(".")) > 1 and mod.split(".")[1] != plugin]
    assert not bad, "plugin imports another plugin (move the shared part to pgg_zoo/):\n" \
        + "\n".join(bad)


def test_core_imports_no_plugin_and_engine_not_task():
    found = list(_modules(ROOT / "pgg_zoo", "pgg_zoo"))
    assert len(found) > 20
    to_plugins = [f"{p.relative_to(ROOT)}:{ln}: {m}" for p, pkg in found
                  for ln, m in imported_modules(p, pkg) if m.startswith("pgg_zoo_tasks")]
    assert not to_plugins, to_plugins
    engine_to_task = [f"{p.relative_to(ROOT)}:{ln}: {m}" for p, pkg in found
                      if pkg.startswith("pgg_zoo.engine")
                      for ln, m in imported_modules(p, pkg) if m == "pgg_zoo.task"]
    assert not engine_to_task, engine_to_task


def test_the_scan_sees_cross_plugin_imports(tmp_path):
    # the checker itself: absolute, relative and function-level imports are all found
    mod = tmp_path / "m.py"
    mod.write_text("from pgg_zoo_tasks.wsol.model import X\n"
                   "def f():\n    from ...wsol import data\n    import pgg_zoo_tasks.stad\n")
    mods = {m for _, m in imported_modules(mod, "pgg_zoo_tasks.classification.sub")}
    assert {"pgg_zoo_tasks.wsol.model", "pgg_zoo_tasks.wsol.data", "pgg_zoo_tasks.stad"} <= mods


def library_names_handed_on(path: Path) -> list[str]:
    """Names ``path`` imports from the core (``pgg_zoo``) and lists in its ``__all__`` or
    imports with ``# noqa: F401``: core functions handed on under a plugin's module name (a
    silent compatibility re-export; 0.1 keeps none)."""
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    lines = text.splitlines()
    exported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in node.targets):
            exported |= {e.value for e in getattr(node.value, "elts", [])
                         if isinstance(e, ast.Constant)}
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] == "pgg_zoo":
            unused_ok = any("noqa: F401" in lines[i - 1]
                            for i in range(node.lineno, (node.end_lineno or node.lineno) + 1))
            for a in node.names:
                name = a.asname or a.name
                if name in exported or unused_ok:
                    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    found.append(f"{where}:{node.lineno}: {name}")
    return found


def test_plugins_hand_on_no_core_names():
    bad = [line for plugin in PLUGINS for path in sorted((ROOT / "tasks" / plugin).rglob("*.py"))
           for line in library_names_handed_on(path)]
    assert not bad, ("a plugin module re-exports a core name (import it from pgg_zoo where it "
                     "is used):\n" + "\n".join(bad))


def test_the_re_export_scan_sees_them(tmp_path):
    src = tmp_path / "iou.py"
    src.write_text("from pgg_zoo.vision.boxes import box_iou  # noqa: F401\n"
                   "from pgg_zoo.video.tubes import tube_iou\n"
                   "from pgg_zoo.data import holdout_indices\n"
                   "__all__ = ['tube_iou', 'f']\n"
                   "def f(): return holdout_indices\n")
    assert [line.split(": ")[-1] for line in library_names_handed_on(src)] == ["box_iou",
                                                                                "tube_iou"]
