"""``pgg-zoo check-data``: every documented layout (docs/data.md) gives the counts written into
it, and a malformed file gives one error line naming that file (exit status 2).

The expected counts are those of the tiny folders each test writes (or of the shared layout
helpers of the readers' own tests, whose contents are spelled out in the comments).
"""
from __future__ import annotations

import csv
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pgg_zoo.cli.main import main
from pgg_zoo.data.check import check_data, summarize_dataset
from test_keypoint_data import pyskl_annotation, write_pyskl
from test_stad_data import frames_ramp, make_ann
from test_wsol_data import _lines, _png, make_cub, make_openimages, make_wsoleval_boxes


def run_cli(capsys, task: str, root: Path | None, *sets: str) -> tuple[int, str, str]:
    argv = ["check-data", task] + (["--data-root", str(root)] if root is not None else [])
    for s in sets:
        argv += ["--set", s]
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(capsys, task, root, *sets, file: Path, contains: str = "") -> str:
    """Run the command, check it fails (exit 2) with one error line naming ``file``."""
    rc, out, err = run_cli(capsys, task, root, *sets)
    lines = err.strip().splitlines()
    assert rc == 2 and "OK" not in out, (rc, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("pgg-zoo: error: ") and str(file) in lines[0], lines[0]
    assert contains in lines[0], lines[0]
    return lines[0]


def expect_report(capsys, task, root, *sets, lines: tuple[str, ...]) -> str:
    """Run the command, check it ends with OK (exit 0) and prints each of ``lines``."""
    rc, out, err = run_cli(capsys, task, root, *sets)
    assert rc == 0, err
    printed = [line.strip() for line in out.strip().splitlines()]
    assert printed[-1] == "OK", out
    for e in lines:
        assert e in printed, f"{e!r} not in\n{out}"
    return out


# ================================================================================================
# WSOL: CUB-200-2011 layout
# ================================================================================================
def test_wsol_cub_layout(tmp_path, capsys):
    # make_cub: images 1 (class 1, train, 1 box), 2 (class 1, test, 1 box), 3 (class 2, train)
    root = make_cub(tmp_path / "cub")
    expect_report(capsys, "wsol", root, lines=(
        "train: 2 items; 2 classes (items per class: min 1, max 1); 2 boxes",
        "test: 1 item; 1 of 2 classes (items per class: min 1, max 1); 1 box"))


def test_wsol_cub_malformed(tmp_path, capsys):
    root = make_cub(tmp_path / "cub")
    _lines(root / "bounding_boxes.txt", ["1 4.0 3.0 20.0 12.0", "2 0.0 0.0 50.0", "3 2 10 10 20"])
    assert_one_line_error(capsys, "wsol", root, file=root / "bounding_boxes.txt",
                          contains="line 2: expected 5 fields")
    root2 = make_cub(tmp_path / "cub2")
    (root2 / "images" / "002.Dog" / "c.jpg").write_bytes(b"not an image")
    assert_one_line_error(capsys, "wsol", root2, file=root2 / "images" / "002.Dog" / "c.jpg",
                          contains="cannot read image")


# ================================================================================================
# WSOL: wsolevaluation metadata (CUB, ILSVRC, OpenImages)
# ================================================================================================
def wsoleval_tree(base: Path, dataset: str = "CUB") -> tuple[Path, Path]:
    """train/ val/ test/ metadata folders of make_wsoleval_boxes: 2 images (classes 0 and 1)
    and 3 boxes each; ILSVRC's train has no localization (as wsolevaluation's)."""
    for folder in ("train", "val", "test"):
        data, meta = make_wsoleval_boxes(base, dataset, folder)
    if dataset == "ILSVRC":
        (meta / "ILSVRC" / "train" / "localization.txt").unlink()
    return data, meta


@pytest.mark.parametrize("dataset,k", [("CUB", 200), ("ILSVRC", 1000)])
def test_wsol_wsoleval_boxes(tmp_path, capsys, dataset, k):
    data, meta = wsoleval_tree(tmp_path, dataset)
    per_class = f"2 of {k} classes (items per class: min 1, max 1)"
    train = f"train: 2 items; {per_class}" + ("; 3 boxes" if dataset == "CUB" else "")
    expect_report(capsys, "wsol", data, "data_format=wsoleval", f"metadata_root={meta}",
                  f"dataset={dataset}", lines=(train, f"val: 2 items; {per_class}; 3 boxes",
                                               f"test: 2 items; {per_class}; 3 boxes"))


def test_wsol_wsoleval_malformed(tmp_path, capsys):
    data, meta = wsoleval_tree(tmp_path)
    bad = meta / "CUB" / "val" / "class_labels.txt"
    _lines(bad, ["001.A/a.jpg,0", "002.B/b.jpg,300"])
    assert_one_line_error(capsys, "wsol", data, "data_format=wsoleval", f"metadata_root={meta}",
                          file=bad, contains="line 2: class label 300 outside 0..199")


def openimages_tree(base: Path) -> tuple[Path, Path]:
    """make_openimages' test split (a.jpg: 2 instance masks, b.jpg: 1) copied to train/ and val/."""
    data, meta = make_openimages(base)
    for folder in ("train", "val"):
        shutil.copytree(meta / "OpenImages" / "test", meta / "OpenImages" / folder)
    return data, meta


def test_wsol_wsoleval_openimages(tmp_path, capsys):
    data, meta = openimages_tree(tmp_path)
    sets = ("data_format=wsoleval", f"metadata_root={meta}", "dataset=OpenImages")
    line = "2 items; 2 of 100 classes (items per class: min 1, max 1); 3 masks"
    expect_report(capsys, "wsol", data, *sets,
                  lines=(f"train: {line}", f"val: {line}", f"test: {line}"))
    (data / "test" / "c2" / "b_m.png").unlink()
    assert_one_line_error(capsys, "wsol", data, *sets, file=data / "test" / "c2" / "b_m.png",
                          contains="mask file not found")


# ================================================================================================
# classification: ImageFolder, Waterbirds metadata CSV, CUB
# ================================================================================================
PLAIN = ("edits=false", "synthesizer=none")


def image_folder_tree(root: Path) -> Path:
    """train: cat 3, dog 1; val: cat 1, dog 1; test: cat 2, dog 2."""
    for split, counts in (("train", {"cat": 3, "dog": 1}), ("val", {"cat": 1, "dog": 1}),
                          ("test", {"cat": 2, "dog": 2})):
        for cls, n in counts.items():
            for i in range(n):
                _png(root / split / cls / f"{i}.png", 8, 8)
    return root


def test_classification_imagefolder(tmp_path, capsys):
    root = image_folder_tree(tmp_path / "if")
    expect_report(capsys, "classification", root, *PLAIN, lines=(
        "train: 4 items; 2 classes (items per class: min 1, max 3)",
        "val: 2 items; 2 classes (items per class: min 1, max 1)",
        "test: 4 items; 2 classes (items per class: min 2, max 2)"))


def test_classification_imagefolder_malformed(tmp_path, capsys):
    root = image_folder_tree(tmp_path / "if")
    bad = root / "test" / "dog" / "1.png"
    bad.write_bytes(b"\x89PNG truncated")
    assert_one_line_error(capsys, "classification", root, *PLAIN, file=bad,
                          contains="cannot read image")


def waterbirds_tree(root: Path, rows: list[tuple[int, int, int]]) -> Path:
    """metadata.csv with one image per (y, split, place) row, plus a place_filename column."""
    root.mkdir(parents=True)
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        for i, (y, split, place) in enumerate(rows):
            rel = f"{y:03d}.bird/img_{i}.png"
            _png(root / rel, 8, 8)
            w.writerow([i, rel, y, split, place, "/x/y.jpg"])
    return root


#: (y, split, place): train has groups 0 (y0 land) x2, 1 (y0 water), 3 (y1 water) x2;
#: val one of each group; test groups 0 and 3.
WATERBIRDS_ROWS = [(0, 0, 0), (0, 0, 0), (0, 0, 1), (1, 0, 1), (1, 0, 1),
                   (0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1),
                   (0, 2, 0), (1, 2, 1)]


def test_classification_waterbirds_csv(tmp_path, capsys):
    root = waterbirds_tree(tmp_path / "wb", WATERBIRDS_ROWS)
    expect_report(capsys, "classification", root, *PLAIN, lines=(
        "train: 5 items; 2 classes (items per class: min 2, max 3); 3 groups",
        "val: 4 items; 2 classes (items per class: min 2, max 2); 4 groups",
        "test: 2 items; 2 classes (items per class: min 1, max 1); 2 groups"))


@pytest.mark.parametrize("content,contains", [
    (b"img_id,img_filename,y,split,place\n0,000.bird/img_0.png,zero,0,0\n",
     "line 2: y is not an integer"),
    (b"img_id,img_filename,y,split,place\n" + b"\x07" * 200_000, "not a readable CSV"),
    (b"img_id,img_filename,y,split,place\n0,\xff\xfe.png,0,0,0\n", "not UTF-8"),
])
def test_classification_waterbirds_malformed(tmp_path, capsys, content, contains):
    root = waterbirds_tree(tmp_path / "wb", WATERBIRDS_ROWS)
    (root / "metadata.csv").write_bytes(content)
    assert_one_line_error(capsys, "classification", root, *PLAIN, file=root / "metadata.csv",
                          contains=contains)


def test_classification_cub_has_no_val(tmp_path, capsys):
    root = make_cub(tmp_path / "cub")
    out = expect_report(capsys, "classification", root, *PLAIN, lines=(
        "train: 2 items; 2 classes (items per class: min 1, max 1)",
        "test: 1 item; 1 of 2 classes (items per class: min 1, max 1)"))
    assert any(line.strip().startswith("val: none in this data") for line in out.splitlines())


def test_classification_edits_are_counted(tmp_path, capsys):
    root = image_folder_tree(tmp_path / "if")
    (root / "edits").mkdir()
    _png(root / "edits" / "e0.png", 8, 8, value=(200, 0, 0))
    (root / "edits" / "edits.csv").write_text("edited_path,original_path,label\n"
                                              "e0.png,train/cat/0.png,0\n")
    expect_report(capsys, "classification", root, lines=(
        "train: 5 items; 2 classes (items per class: min 1, max 4); 1 edited copy",))


# ================================================================================================
# STAD: UCF101-24 / JHMDB-21 pickle
# ================================================================================================
def ucf_tree(root: Path) -> Path:
    """make_ann: C/v1 (12 frames, one class-1 tube on frames 3..8), C/v2 (class-0 tube on
    1..12); train = both, test = C/v2. Frames as JPEG folders."""
    import cv2

    for video in ("C/v1", "C/v2"):
        (root / "rgb-images" / video).mkdir(parents=True)
        for t, f in enumerate(frames_ramp()):
            cv2.imwrite(str(root / "rgb-images" / video / f"{t + 1:05d}.jpg"), f)
    with open(root / "GT.pkl", "wb") as f:
        pickle.dump(make_ann(), f, protocol=2)
    return root


def test_stad_ucf24_pickle(tmp_path, capsys):
    root = ucf_tree(tmp_path / "ucf")
    # train key frames every 4th annotated frame: v1 3, 7; v2 1, 5, 9 -> 5 items, one box each
    # test every frame of v2: 12 items
    expect_report(capsys, "stad", root, "annotations=GT.pkl", "clip_len=4", "image_size=16",
                  lines=("train: 5 items; 2 classes (tubes per class: min 1, max 1); 2 videos; "
                         "2 tubes; 5 key-frame boxes",
                         "test: 12 items; 1 of 2 classes (tubes per class: min 1, max 1); "
                         "1 video; 1 tube; 12 key-frame boxes"))


def test_stad_ucf24_malformed(tmp_path, capsys):
    root = ucf_tree(tmp_path / "ucf")
    ann = make_ann()
    ann["gttubes"]["C/v1"][1][0][0, 0] = 13  # frame 13 of a 12-frame video
    with open(root / "GT.pkl", "wb") as f:
        pickle.dump(ann, f)
    assert_one_line_error(capsys, "stad", root, "annotations=GT.pkl", file=root / "GT.pkl",
                          contains="frame 13 outside 1..nframes=12")
    (root / "GT.pkl").write_bytes(pickle.dumps(make_ann())[:40])  # cut short
    assert_one_line_error(capsys, "stad", root, "annotations=GT.pkl", file=root / "GT.pkl",
                          contains="not a readable pickle")
    with open(root / "GT.pkl", "wb") as f:
        pickle.dump(make_ann(), f)
    shutil.rmtree(root / "rgb-images" / "C" / "v2")
    assert_one_line_error(capsys, "stad", root, "annotations=GT.pkl",
                          file=root / "rgb-images" / "C" / "v2",
                          contains="no such frame folder or video file")


# ================================================================================================
# STAD: AVA CSV through the reader (any CSV; the task-level check is in test_stad_ava.py)
# ================================================================================================
def test_ava_layout_counts_and_errors(tmp_path):
    from pgg_zoo_tasks.stad.data import AVADataset, DatasetFormatError

    (tmp_path / "ava_action_list_v2.2.pbtxt").write_text(
        'item { name: "bend" id: 1 }\nitem { name: "stand" id: 12 }\n')
    (tmp_path / "ava_train_v2.2.csv").write_text(
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\n"
        "vidA,0902,0.1,0.2,0.5,0.9,1,0\n"   # the same person bends and stands
        "vidA,0902,0.6,0.1,0.9,0.8,12,1\n"
        "vidB,0903,0.0,0.0,1.0,1.0,12,0\n")
    for video in ("vidA", "vidB"):
        (tmp_path / "rawframes" / video).mkdir(parents=True)
        for t in range(4):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
                tmp_path / "rawframes" / video / f"img_{t + 1:05d}.jpg")
    ds = AVADataset(tmp_path, "ava_train_v2.2.csv", label_map="ava_action_list_v2.2.pbtxt",
                    clip_len=2, size=8)
    s = summarize_dataset(ds, "train")
    # items: (vidA, 902), (vidB, 903); persons per action: bend 1, stand 3
    assert s.describe() == ("train: 2 items; 2 classes (persons per class: min 1, max 3); "
                            "2 videos; 3 person boxes")
    shutil.rmtree(tmp_path / "rawframes" / "vidB")
    with pytest.raises(DatasetFormatError.__mro__[1]) as e:  # STADDataError: a ValueError
        summarize_dataset(AVADataset(tmp_path, "ava_train_v2.2.csv", clip_len=2, size=8), "train")
    assert str(tmp_path / "rawframes" / "vidB") in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "bad.csv").write_text("vidA,0902,0.1,0.2,1.5,0.9,12,0\n")
    with pytest.raises(DatasetFormatError) as e:
        AVADataset(tmp_path, "bad.csv")
    assert str(tmp_path / "bad.csv") in str(e.value) and "\n" not in str(e.value)


# ================================================================================================
# keypoint: PoseC3D / pyskl pickle
# ================================================================================================
def posec3d_tree(root: Path) -> Path:
    """sticks_2d.pkl: train 5 videos of class 0 and 5 of class 1, test 1 + 2."""
    root.mkdir(parents=True)
    anns = [pyskl_annotation(f"tr{i}", i % 2, seed=i) for i in range(10)]
    anns += [pyskl_annotation(f"te{i}", int(i > 0), seed=20 + i) for i in range(3)]
    write_pyskl(root / "sticks_2d.pkl", anns,
                {"train": [f"tr{i}" for i in range(10)], "test": ["te0", "te1", "te2"]})
    return root


def test_keypoint_posec3d(tmp_path, capsys):
    root = posec3d_tree(tmp_path / "kp")
    # val: round(0.2 * 5) = 1 video of each class held out of train (pgg_zoo.data.holdout)
    expect_report(capsys, "keypoint", root, lines=(
        "train: 8 items; 2 classes (items per class: min 4, max 4)",
        "val: 2 items; 2 classes (items per class: min 1, max 1)",
        "test: 3 items; 2 classes (items per class: min 1, max 2)"))


def test_keypoint_malformed(tmp_path, capsys):
    root = posec3d_tree(tmp_path / "kp")
    assert_one_line_error(capsys, "keypoint", root, "train_split=train1",
                          file=root / "sticks_2d.pkl", contains="no split 'train1'")
    anns = [pyskl_annotation("v0", 0), pyskl_annotation("v1", 1)]
    del anns[1]["keypoint_score"]
    write_pyskl(root / "sticks_2d.pkl", anns)
    assert_one_line_error(capsys, "keypoint", root, file=root / "sticks_2d.pkl",
                          contains="misses key(s) ['keypoint_score']")


# ================================================================================================
# decoy: ImageFolder + decoys.csv
# ================================================================================================
def decoy_tree(root: Path) -> Path:
    """train: digits 0 x2, 1 x1; val: 0, 1; test: 0, 1, 1; one swatch row per image."""
    rows = []
    for split, labels in (("train", [0, 0, 1]), ("val", [0, 1]), ("test", [0, 1, 1])):
        for i, y in enumerate(labels):
            rel = f"{split}/{y}/{i:04d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((28, 28), np.uint8), "L").save(root / rel)
            rows.append(f"{rel},0,0,4,4,{255 - 25 * y}")
    (root / "decoys.csv").write_text("path,x0,y0,x1,y1,shade\n" + "\n".join(rows) + "\n")
    return root


def test_decoy_layout(tmp_path, capsys):
    root = decoy_tree(tmp_path / "decoy")
    expect_report(capsys, "decoy", root, lines=(
        "train: 3 items; 2 of 10 classes (items per class: min 1, max 2)",
        "val: 2 items; 2 of 10 classes (items per class: min 1, max 1)",
        "test: 3 items; 2 of 10 classes (items per class: min 1, max 2)"))


@pytest.mark.parametrize("edit,contains", [
    (lambda t: t.replace("val/1/0001.png,0,0,4,4", "val/1/0001.png,0,0,x,4"),
     "is not four integers"),
    (lambda t: t.replace("test/0/0000.png", "test/0/0000.pngX"), "no row for test/0/0000.png"),
    (lambda t: t.replace("path,x0", "\x00path,x0"), "header must start with"),
])
def test_decoy_malformed(tmp_path, capsys, edit, contains):
    root = decoy_tree(tmp_path / "decoy")
    csv_path = root / "decoys.csv"
    csv_path.write_text(edit(csv_path.read_text()))
    assert_one_line_error(capsys, "decoy", root, file=csv_path, contains=contains)


def test_decoy_non_utf8_csv(tmp_path, capsys):
    root = decoy_tree(tmp_path / "decoy")
    csv_path = root / "decoys.csv"
    csv_path.write_bytes(csv_path.read_bytes() + b"\xff\xfe,1,2,3,4,5\n")
    assert_one_line_error(capsys, "decoy", root, file=csv_path, contains="not UTF-8")


# ================================================================================================
# the library function
# ================================================================================================
def test_check_data_returns_typed_summary(tmp_path):
    root = make_cub(tmp_path / "cub")
    summary = check_data("wsol", root)
    assert [s.split for s in summary.splits] == ["train", "test"]
    train = summary.split("train")
    assert (train.items, dict(train.class_counts), dict(train.annotations)) == (
        2, {0: 1, 1: 1}, {"boxes": 2})
    assert summary.data_root == str(root) and summary.lines()[0] == f"wsol data: data_root={root}"


def test_unknown_option_is_one_line(tmp_path, capsys):
    root = make_cub(tmp_path / "cub")
    rc, _, err = run_cli(capsys, "wsol", root, "no_such_option=1")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "no_such_option" in err
