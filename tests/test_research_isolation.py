"""The research record uses the library as any user would (studies/README.md): no code under
studies/ or benchmarks/ (nor the examples under docs/) assigns to the library's attributes or
items, patches it, or redefines a registered name; and the tests import no research code (only
study files are read).

Checked on the source with ``ast`` (as test_plugin_isolation does for imports), so a patch
inside a function counts too. A name is the library's when an import binds it (``import
pgg_zoo``, ``from pgg_zoo.vision import cam``, ``from pgg_zoo_tasks.stad.data import scenes``)
or when it is set to an attribute or item of such a name (``hook = hooks.SomeHook``, also by
tuple assignment), or to a library module imported by name (``importlib.import_module``,
``sys.modules[...]``); ``vars(x)`` / ``getattr(x, ...)`` of a library name is the library's too.
``object.__setattr__`` (the way around a frozen spec) is flagged wherever it is used.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("pgg_zoo", "pgg_zoo_tasks")
RESEARCH = ("studies", "benchmarks")
#: Non-library code a user reads or runs: held to the same rule as the research record.
EXAMPLES = ("docs",)
#: Calls that change an object in place (dict / registry mutators and patch helpers).
MUTATORS = {"setattr", "delattr"}
METHOD_MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__",
                   "__delitem__", "remove", "setitem", "delitem"}
PATCHERS = {"patch", "patch.object", "patch.dict"}


def _is_library(module: str) -> bool:
    return module.split(".")[0] in LIBRARY


def _library_string(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) \
        and _is_library(node.value)


def _root(node: ast.AST) -> str | None:
    """The name an attribute / item chain starts from (``a`` of ``a.b[c].d``; through
    ``vars(a)`` and ``getattr(a, ...)``), ``"sys.modules[lib]"`` for a library module taken
    from ``sys.modules``, or None."""
    while True:
        if isinstance(node, ast.Subscript) and _dotted(node.value) == "sys.modules" \
                and _library_string(node.slice):
            return "sys.modules[lib]"
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call) and _dotted(node.func) in ("vars", "getattr") \
                and node.args:
            node = node.args[0]
        else:
            break
    return node.id if isinstance(node, ast.Name) else None


def _imports_library(node: ast.AST) -> bool:
    """``importlib.import_module("pgg_zoo...")`` / ``__import__("pgg_zoo...")``."""
    return isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] in (
        "import_module", "__import__") and bool(node.args) and _library_string(node.args[0])


def _library_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if _is_library(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level \
                and _is_library(node.module):
            names |= {a.asname or a.name for a in node.names}
    names.add("sys.modules[lib]")
    # aliases of library objects: ``x = lib.attr`` / ``x = lib[key]`` (not call results, but
    # library modules imported by name), element by element for ``a, b = lib.A, lib.B``
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign):
                continue
            pairs = []
            for t in node.targets:
                if isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs += list(zip(t.elts, node.value.elts))
                else:
                    pairs.append((t, node.value))
            for t, value in pairs:
                aliased = _imports_library(value) or (
                    isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Call))
                    and not (isinstance(value, ast.Call)
                             and _dotted(value.func) not in ("vars", "getattr"))
                    and _root(value) in names)
                if aliased and isinstance(t, ast.Name) and t.id not in names:
                    names.add(t.id)
                    changed = True
    return names


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def library_patches(path: Path) -> list[str]:
    """``"<file>:<line>: <what>"`` for every assignment to, or in-place change of, a library
    object in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lib = _library_names(tree)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{rel}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.For, ast.AsyncFor, ast.comprehension)):
            targets = [node.target]
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
            if isinstance(node.target, ast.Name) and node.target.id in lib:
                # ``SPECS |= {...}`` changes the library's dict in place
                flag(node, f"changes {node.target.id} in place")
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        for t in targets:
            for sub in ast.walk(t):  # tuple targets: a, lib.x = ...
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and _root(sub) in lib:
                    flag(node, f"assigns to {ast.unparse(sub)}")
                    break
        if isinstance(node, ast.Call):
            fn = node.func
            name = _dotted(fn)
            first = node.args[0] if node.args else None
            names_library = first is not None and (
                _root(first) in lib or (isinstance(first, ast.Constant)
                                        and isinstance(first.value, str)
                                        and _is_library(first.value)))
            if name in ("object.__setattr__", "object.__delattr__"):
                flag(node, f"{name}(...) gets around a frozen object")
            elif name in MUTATORS and names_library:
                flag(node, f"{name}({ast.unparse(first)}, ...)")
            elif isinstance(fn, ast.Attribute) and fn.attr in METHOD_MUTATORS \
                    and _root(fn.value) in lib:
                flag(node, f"{ast.unparse(fn)}(...) changes a library object")
            elif isinstance(fn, ast.Attribute) and fn.attr in ("setattr", "setitem", "delattr",
                                                                 "delitem") and names_library:
                flag(node, f"{ast.unparse(fn)}({ast.unparse(first)}, ...) patches the library")
            elif (name.split(".", 1)[-1] in PATCHERS or name in PATCHERS) and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, str)
                    and _is_library(a.value) for a in node.args):
                flag(node, f"{name}({ast.unparse(node.args[0])}, ...) patches the library")
            elif any(k.arg == "replace" and isinstance(k.value, ast.Constant)
                     and k.value.value is True for k in node.keywords) \
                    and _root(fn) in lib:
                flag(node, f"{ast.unparse(fn)}(..., replace=True) redefines a registered name")
    return found


def _research_files() -> list[Path]:
    return sorted(p for d in RESEARCH + EXAMPLES for p in (ROOT / d).rglob("*.py"))


def test_research_code_never_patches_the_library():
    files = _research_files()
    assert any(p.parts[-3:-1] == ("studies", "probes") for p in files), "no probe found"
    bad = [line for p in files for line in library_patches(p)]
    assert not bad, ("research code changes the library (use a registered name, an option or a "
                     "benchmark variant instead):\n" + "\n".join(bad))


def test_the_scan_sees_patches(tmp_path):
    src = tmp_path / "probe.py"
    src.write_text(
        "import pgg_zoo\n"
        "from pgg_zoo.vision import cam, backbones as bb\n"
        "from pgg_zoo_tasks.stad.data import scenes\n"
        "from pgg_zoo.engine import hooks\n"
        "import numpy as np\n"
        "def f():\n"
        "    cam.CAMClassifier.task_loss = None\n"           # 7 attribute of a class
        "    bb._conv_bn = lambda: None\n"                    # 8 module attribute
        "    scenes.SCENES_SPECS['stad-scenes-v1'] = 1\n"     # 9 item of a module dict
        "    setattr(pgg_zoo.vision.cam, 'x', 1)\n"           # 10 setattr
        "    hook = hooks.AtomicCheckpointHook\n"
        "    hook._save = None\n"                             # 12 through an alias
        "    scenes.SCENES_SPECS.update({})\n"                # 13 in-place method
        "    pgg_zoo.BACKBONES.add('tiny_cam', f, replace=True)\n"  # 14 redefinition
        "    np.x = 1\n"                                      # not the library
        "    monkeypatch.setattr('pgg_zoo.vision.cam.F', None)\n"  # 16 patch by name
        "    spec = pgg_zoo.get_benchmark('x')\n"
        "    local = {}\n"
        "    local['k'] = spec\n"                             # a local dict: fine
    )
    lines = sorted(int(s.split(":")[1]) for s in library_patches(src))
    assert lines == [7, 8, 9, 10, 12, 13, 14, 16]


def test_the_scan_sees_patches_by_other_routes(tmp_path):
    src = tmp_path / "probe.py"
    src.write_text(
        "import importlib, sys\n"
        "from pgg_zoo.vision import cam\n"
        "from pgg_zoo.benchmarks import _SPECS\n"
        "m = importlib.import_module('pgg_zoo.vision.cam')\n"
        "m.x = 1\n"                                          # 5 a module imported by name
        "setattr(m, 'y', 2)\n"                               # 6
        "sys.modules['pgg_zoo.vision.cam'].z = 3\n"          # 7
        "vars(cam)['w'] = 4\n"                               # 8
        "_SPECS |= {'a': 1}\n"                               # 9 in place
        "object.__setattr__(spec, 'seed', 3)\n"              # 10 around a frozen spec
        "for cam.v in range(2): pass\n"                      # 11 loop target
        "a, b = cam.A, cam.B\n"
        "b.u = 5\n"                                          # 13 tuple alias
        "n = sum([1])\n"
        "n += 1\n"                                           # a local: fine
        "sys.modules['numpy'].q = 1\n"                       # not the library
    )
    lines = sorted(int(s.split(":")[1]) for s in library_patches(src))
    assert lines == [5, 6, 7, 8, 9, 10, 11, 13]


def _test_imports_of_research(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        mods: list[str] = []
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods = [node.module]
        found += [f"{path.name}:{node.lineno}: imports {m}" for m in mods
                  if m.split(".")[0] in RESEARCH[:1]]
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                ("studies/" in node.value and ".py" in node.value) or node.value == "probes"
                or "studies/probes" in node.value or node.value.startswith("studies.probes")):
            # a probe by path, by a path built from parts (ROOT / "studies" / "probes"), or
            # by module name (importlib)
            found.append(f"{path.name}:{node.lineno}: loads {node.value!r}")
    return found


def test_tests_import_no_research_code():
    """Tests may read study files (studies/<name>/study.yaml, summaries, the log), never run
    or import a probe: research code is not a dependency of the library's tests."""
    bad = [line for p in sorted((ROOT / "tests").glob("*.py")) if p.name != Path(__file__).name
           for line in _test_imports_of_research(p)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("src, n", [("import studies.probes.x\n", 1),
                                    ("from studies.probes import x\n", 1),
                                    ("load('studies/probes/x.py')\n", 1),
                                    ("run(ROOT / 'studies' / 'probes' / 'x.py')\n", 1),
                                    ("importlib.import_module('studies.probes.x')\n", 1),
                                    ("run('studies/probes/' + name)\n", 1),
                                    ("read('studies/decoy-corner/study.yaml')\n", 0)])
def test_the_test_scan_sees_research_imports(tmp_path, src, n):
    p = tmp_path / "test_x.py"
    p.write_text(src)
    assert len(_test_imports_of_research(p)) == n
