"""No shell anywhere: Slurm host lists are expanded in Python, and no code starts a shell.

The expected expansions are written out by hand from the Slurm host-list grammar (comma lists,
``lo-hi`` ranges keeping the lower bound's zero padding, several bracket groups as a product).
"""
import ast
import os
from pathlib import Path

import pytest

from pgg_zoo.engine import distributed
from pgg_zoo.engine.hostlist import expand_hostlist, first_host

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, hosts", [
    ("gpu5", ["gpu5"]),
    ("node[01-03,07],gpu5", ["node01", "node02", "node03", "node07", "gpu5"]),
    ("n[8-11]", ["n8", "n9", "n10", "n11"]),
    ("n[08-11]", ["n08", "n09", "n10", "n11"]),
    ("n[098-101]", ["n098", "n099", "n100", "n101"]),
    ("rack[1-2]-n[01-02]", ["rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"]),
    ("a[1,3],b[2-3].ib,c", ["a1", "a3", "b2.ib", "b3.ib", "c"]),
    ("x-[5]-y", ["x-5-y"]),
    ("host.example.org", ["host.example.org"]),
    ("  n[1-2]\n", ["n1", "n2"]),  # surrounding whitespace from a shell export is tolerated
])
def test_hostlist_expansions(text, hosts):
    assert expand_hostlist(text) == hosts
    assert first_host(text) == hosts[0]


def test_first_host_of_a_huge_range_is_immediate():
    # 10**12 hosts: expanding lazily is the only way this returns
    assert first_host("n[000000000001-999999999999],m") == "n000000000001"


@pytest.mark.parametrize("text, why", [
    ("n1;touch /tmp/pwned", "';'"),
    ("$(touch /tmp/pwned)", "'$'"),
    ("`id`", "'`'"),
    ("n1 n2", "' '"),
    ("n1|id", "'|'"),
    ("n[1-2", "'[' without ']'"),
    ("n1-2]", "']' without '['"),
    ("n[1-[2]]", "nested"),
    ("n[]", "not a number"),
    ("n[a-b]", "not a number"),
    ("n[3-1]", "ends before it starts"),
    ("n1,,n2", "empty host name"),
    ("", "empty"),
    ("-n1", "does not start with a letter or digit"),
])
def test_malformed_hostlists_are_one_line_errors_naming_the_variable(text, why):
    with pytest.raises(ValueError) as err:
        expand_hostlist(text)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("SLURM_NODELIST=")
    assert why in msg


def _slurm_environment(monkeypatch, nodelist):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_NODELIST", nodelist)


def test_slurm_master_addr_is_the_first_host(monkeypatch):
    _slurm_environment(monkeypatch, "gpu[07-09],cpu1")
    distributed._slurm_env()
    assert os.environ["MASTER_ADDR"] == "gpu07"
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["MASTER_PORT"]) == \
        ("0", "1", "29500")


def test_injected_nodelist_is_refused_and_not_executed(monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    _slurm_environment(monkeypatch, f"n1;touch {marker}")
    with pytest.raises(ValueError, match="SLURM_NODELIST"):
        distributed.init_distributed("slurm")
    assert not marker.exists()
    assert "MASTER_ADDR" not in os.environ


def test_slurm_without_a_nodelist_names_the_missing_variable(monkeypatch):
    _slurm_environment(monkeypatch, "n1")
    monkeypatch.delenv("SLURM_NODELIST")
    with pytest.raises(RuntimeError, match=r"MASTER_ADDR.*srun"):
        distributed.init_distributed("slurm")


# --- no code starts a shell ------------------------------------------------------------------

_SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
                ("subprocess", "getstatusoutput"), ("commands", "getoutput")}


def _shell_uses(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    where = path.relative_to(root)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and (f.value.id, f.attr) in _SHELL_CALLS:
            found.append(f"{where}:{node.lineno} {f.value.id}.{f.attr}")
        if isinstance(f, ast.Name) and f.id in {"system", "popen", "getoutput",
                                                "getstatusoutput"}:
            found.append(f"{where}:{node.lineno} {f.id}")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                          and kw.value.value is False):
                found.append(f"{where}:{node.lineno} shell=")
    return found


def test_no_code_starts_a_shell():
    files = [p for d in ("pgg_zoo", "tasks", "scripts", "benchmarks", "studies")
             if (ROOT / d).is_dir() for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 20  # the walk found the sources
    uses = [u for p in files for u in _shell_uses(p)]
    assert uses == []


def test_the_shell_finder_finds_shell_calls(tmp_path):
    # the static check above must be able to fail
    src = tmp_path / "bad.py"
    src.write_text("import os, subprocess\nos.system('x')\nsubprocess.run('x', shell=True)\n"
                   "subprocess.getoutput('x')\n")
    assert len(_shell_uses(src, root=tmp_path)) == 3
