"""pgg_zoo.stats.mean_std (the one mean ± std cell of the study tables, summarize_runs and the
report) and pgg_zoo.data.write_generated / ensure_generated's manifest options. Golden values
by hand."""
import json

from pgg_zoo.data import content_hash
from pgg_zoo.data.generated import ensure_generated, write_generated
from pgg_zoo.stats import mean_std


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"          # sample std: sqrt(2 / 2) = 1
    assert mean_std([-1.0, -3.0], signed=True) == "-2.00 ± 1.41"  # sqrt((1 + 1) / 1)
    assert mean_std([2.0, 4.0], signed=True) == "+3.00 ± 1.41"
    assert mean_std([0.5], signed=True) == "+0.50" and mean_std([0.5]) == "0.50"
    assert mean_std([]) == ""
    assert mean_std(x for x in (10.0, 10.0)) == "10.00 ± 0.00"


def _writer(calls, text="a\n", digest=None):
    def write(folder):
        calls.append(folder)
        (folder / "a.txt").write_text(text)
        return digest
    return write


def test_write_generated_manifest(tmp_path):
    root = write_generated(tmp_path / "b", "b-v1", {"k": (1, 2)}, 3, _writer([]),
                           record_content_hash=True, manifest_extra={"note": "x"})
    m = json.loads((root / "manifest.json").read_text())
    # name, seed, spec (tuples as lists), then the hash, then the extra keys, in that order
    assert list(m) == ["name", "seed", "spec", "content_sha256", "note"]
    assert m["spec"] == {"k": [1, 2]} and m["content_sha256"] == content_hash(root)
    # a hash the writer returns is recorded as it is
    root = write_generated(tmp_path / "c", "c-v1", {}, 0, _writer([], digest="abc"),
                           record_content_hash=True)
    assert json.loads((root / "manifest.json").read_text())["content_sha256"] == "abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"]  # no temporaries


def test_ensure_generated_verify(tmp_path):
    calls = []
    root = tmp_path / "b"
    for _ in range(2):
        ensure_generated(root, "b-v1", {"k": 1}, 0, _writer(calls), record_content_hash=True)
    assert len(calls) == 1
    (root / "a.txt").write_text("changed\n")
    ensure_generated(root, "b-v1", {"k": 1}, 0, _writer(calls), record_content_hash=True)
    assert len(calls) == 1  # the content is not checked by default
    ensure_generated(root, "b-v1", {"k": 1}, 0, _writer(calls), record_content_hash=True,
                     verify=True)
    assert len(calls) == 2 and (root / "a.txt").read_text() == "a\n"
    ensure_generated(root, "b-v1", {"k": 2}, 0, _writer(calls))  # another spec
    assert len(calls) == 3
