"""The embedded fine-grained WSOL benchmark ``wsol-finegrained-v1``: written in CUB layout and
read back by the CUB reader; 12 species; the manifest records the spec; the val carve is
disjoint from what a val run trains on. Fast (no training; generation about 1 s)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pgg_zoo.data import content_hash
from pgg_zoo.vision.cub import CUBDataset
from pgg_zoo_tasks.wsol.data.finegrained import (
    ATTRIBUTES_FILE,
    SPEC_FG_V1,
    SPEC_FG_V2,
    bird_parts,
    ensure_finegrained_benchmark,
    finegrained_classes,
    render_bird_image,
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pgghome")


@pytest.fixture(scope="module")
def root(home: Path) -> Path:
    return ensure_finegrained_benchmark(home / "benchmarks" / SPEC_FG_V1["name"])


def test_layout_read_by_cub_reader(root: Path) -> None:
    train = CUBDataset(root, "train", image_size=32)
    test = CUBDataset(root, "test", image_size=32)
    assert train.num_classes == 12 == len(finegrained_classes())
    assert (len(train), len(test)) == (12 * 40, 12 * 25)
    assert sorted(set(train.labels)) == list(range(12))
    item = test[0]
    assert tuple(item["inputs"].shape) == (3, 32, 32)
    assert tuple(item["mask"].shape) == (1, 32, 32)
    # The box is the mask's tight box (x1, y1 exclusive).
    ys, xs = np.nonzero(item["mask"][0].numpy() > 0.5)
    assert item["boxes"].reshape(-1, 4)[0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    names = (root / "classes.txt").read_text().split()
    assert names[1] == "001.red-head_yellow-wing"
    assert len((root / ATTRIBUTES_FILE).read_text().splitlines()) == 12 * 65


def test_manifest_records_spec_and_hash(root: Path) -> None:
    m = json.loads((root / "manifest.json").read_text())
    assert m["name"] == "wsol-finegrained-v1" and m["seed"] == 0
    assert m["spec"] == json.loads(json.dumps(SPEC_FG_V1))
    assert m["content_sha256"] == content_hash(root)
    # Regenerating with the same spec and seed keeps the folder (no rewrite).
    before = (root / "manifest.json").stat().st_mtime_ns
    assert ensure_finegrained_benchmark(root) == root
    assert (root / "manifest.json").stat().st_mtime_ns == before


def test_species_differ_only_in_part_colours() -> None:
    # Same seed and image index: same frame, background and body; only head/wing colours move.
    a_img, a_mask, a = render_bird_image(0, 7, label=0)
    b_img, b_mask, b = render_bird_image(0, 7, label=5)
    assert a == b and (a_mask == b_mask).all()
    assert (a_img[~a_mask] == b_img[~b_mask]).all()
    assert (a_img[a_mask] != b_img[b_mask]).any()


def test_v2_adds_a_species_unique_tail_and_changes_nothing_else() -> None:
    # Same image stream as v1: only the visible tail pixels differ, and they carry the species'
    # own mark (within the +-20 jitter), a different colour for every species.
    for label in (0, 5, 11):
        v1, m1, a1 = render_bird_image(0, 7, label, SPEC_FG_V1)
        v2, m2, a2 = render_bird_image(0, 7, label, SPEC_FG_V2)
        assert a1 == a2 and (m1 == m2).all()
        parts = bird_parts(a1["side"], SPEC_FG_V1, facing_left=bool(a1["facing"]))
        tail = np.zeros_like(m1)
        tail[a1["y"]:a1["y"] + a1["side"], a1["x"]:a1["x"] + a1["side"]] = (
            parts["tail"] & ~parts["body"] & ~parts["wing"] & ~parts["head"])
        assert tail.sum() > 0 and ((v1 != v2).any(-1) <= tail).all()
        mark = np.asarray(list(SPEC_FG_V2["tail_marks"].values())[label])
        # noise sigma 6 plus jitter 20: every tail pixel within 20 + 4 sigma of its mark
        assert np.abs(v2[tail].astype(int) - mark).max() <= 20 + 24
    marks = np.asarray(list(SPEC_FG_V2["tail_marks"].values()), dtype=float)
    d = np.linalg.norm(marks[:, None] - marks[None], axis=-1)
    assert len(marks) == 12 and d[~np.eye(12, dtype=bool)].min() >= 100


def test_v2_class_names_carry_the_mark(home: Path) -> None:
    root = ensure_finegrained_benchmark(home / "benchmarks" / SPEC_FG_V2["name"], spec=SPEC_FG_V2)
    names = (root / "classes.txt").read_text().split()
    assert names[1] == "001.red-head_yellow-wing_white-tail"
    assert len(set(names[1::2])) == 12


def test_val_carve_disjoint_from_training(root: Path, home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import pgg_zoo

    monkeypatch.setenv("PGG_ZOO_HOME", str(home))
    task = pgg_zoo.build("wsol", benchmark="wsol-finegrained-v1", image_size=32,
                         eval_split="val")
    assert task.num_classes() == 12
    assert Path(task.data_root()) == root
    val, train = task.dataset("val"), task.dataset("train")
    assert len(val) == 96 and len(train) == 384  # 8 of 40 per species held out
    assert not set(val.indices) & set(train.indices)
    base = train.dataset
    assert sorted(np.bincount([base.labels[i] for i in val.indices]).tolist()) == [8] * 12


def test_epochs_to_reach_reads_the_learning_curve(tmp_path: Path) -> None:
    """pgg_zoo.study.read_curve reads a run's metrics.jsonl and epochs_to_reach finds the first
    evaluation that reaches a target (the convergence measure of docs/wsol.md, used by
    scripts/wsol_study.py and scripts/stad_study.py)."""
    from pgg_zoo.study import epochs_to_reach, read_curve

    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e, "metrics": {"maxboxacc_v2": v}}) + "\n"
        for e, v in ((2, 40.0), (4, 55.0), (6, 54.0), (8, 57.0), (10, 56.0))))
    hist = read_curve(tmp_path / "metrics.jsonl")
    assert [e for e, _ in hist] == [2, 4, 6, 8, 10]
    assert epochs_to_reach(hist, "maxboxacc_v2", 56.0) == 8
    assert epochs_to_reach(hist, "maxboxacc_v2", 55.0) == 4
    assert epochs_to_reach(hist, "maxboxacc_v2", 60.0) is None
