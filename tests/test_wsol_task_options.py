"""WSOL task options: wsolevaluation data wiring (CUB / OpenImages with ignore masks),
evaluation size, Guided Grad-CAM figures, ResizeMix."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pgg_zoo
from pgg_zoo.task import ConfigError
from pgg_zoo_tasks.wsol.evaluator import WSOLMetric
from pgg_zoo_tasks.wsol.metrics import (
    BoxAccumulator,
    PxAPAccumulator,
    normalize_scoremap,
    resize_boxes,
    resize_scoremap,
)


def _lines(path: Path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def _image(path: Path, w: int, h: int, label: int, box, rng) -> None:
    """Noise background; the object is a bright (class 0) or dark (class 1) rectangle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = rng.integers(60, 160, (h, w, 3)).astype(np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = 240 if label == 0 else 10
    Image.fromarray(arr, "RGB").save(path)


def make_wsoleval(base: Path, dataset: str, n: int = 8, seed: int = 0):
    """A 2-class dataset in wsolevaluation's layout, splits train / val / test.

    Images are 40 x 30 (not square, so "original" and "input" frames differ). CUB/ILSVRC get
    image_sizes.txt and box localization; OpenImages gets instance masks and, for every other
    image, an ignore mask (the left half of the image).
    """
    rng = np.random.default_rng(seed)
    data, meta = base / "images", base / "metadata"
    for split in ("train", "val", "test"):
        md = meta / dataset / split
        ids, labels, sizes, loc = [], [], [], []
        for i in range(n):
            lab = i % 2
            rel = f"{split}/c{lab}/{i}.png"
            w, h = 40, 30
            x0, y0 = int(rng.integers(0, 20)), int(rng.integers(0, 14))
            box = (x0, y0, x0 + int(rng.integers(8, 20)), y0 + int(rng.integers(8, 16)))
            _image(data / rel, w, h, lab, box, rng)
            ids.append(rel)
            labels.append(f"{rel},{lab}")
            sizes.append(f"{rel},{w},{h}")
            if dataset == "OpenImages":
                m = np.zeros((h, w), np.uint8)
                m[box[1]:box[3], box[0]:box[2]] = 255
                mrel = f"{split}/c{lab}/{i}_m.png"
                Image.fromarray(m, "L").save(data / mrel)
                ign = ""
                if i % 2:
                    g = np.zeros((h, w), np.uint8)
                    g[:, : w // 2] = 255
                    ign = f"{split}/c{lab}/{i}_ignore.png"
                    Image.fromarray(g, "L").save(data / ign)
                loc.append(f"{rel},{mrel},{ign}")
            else:
                loc.append(f"{rel},{box[0]},{box[1]},{box[2]},{box[3]}")
        _lines(md / "image_ids.txt", ids)
        _lines(md / "class_labels.txt", labels)
        if dataset != "OpenImages":
            _lines(md / "image_sizes.txt", sizes)
        _lines(md / "localization.txt", loc)
    return data, meta


# ------------------------------------------------------------------------------------------
# data wiring
# ------------------------------------------------------------------------------------------
def test_openimages_trains_and_reports_pxap_with_ignore(tmp_path):
    data, meta = make_wsoleval(tmp_path / "oi", "OpenImages")
    task = pgg_zoo.build("wsol", data_root=str(data), data_format="wsoleval",
                         metadata_root=str(meta), dataset="OpenImages", num_classes=2,
                         image_size=32, epochs=1, batch_size=4, work_dir=str(tmp_path / "run"))
    assert len(task.build_dataset("train")) == 8
    batch = task.collate([task.build_dataset("test")[i] for i in range(4)])
    s = batch["data_samples"]
    assert s["masks"].shape == (4, 1, 32, 32) and s["ignores"].shape == (4, 1, 32, 32)
    assert s["orig_sizes"].tolist() == [[30, 40]] * 4 and "boxes" not in s
    assert s["ignores"][1].sum() > 0 and s["ignores"][0].sum() == 0
    preds = task.model.eval().predict(batch["inputs"], s)
    assert "ignore" in preds[1] and preds[1]["boxes"].shape == (0, 4)

    metrics = task.train()
    assert "pxap" in metrics and 0 <= metrics["pxap"] <= 100 and "top1" in metrics
    assert "maxboxacc_v2" not in metrics  # no boxes in OpenImages
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert saved["pxap"] == pytest.approx(metrics["pxap"])
    val = task.evaluate(split="val")
    assert "pxap" in val


def test_wsoleval_cub_boxes_and_splits(tmp_path):
    data, meta = make_wsoleval(tmp_path / "cub", "CUB")
    task = pgg_zoo.build("wsol", data_root=str(data), data_format="wsoleval",
                         metadata_root=str(meta), num_classes=2, image_size=32,
                         work_dir=str(tmp_path / "ev"), batch_size=4)
    assert task.options["dataset"] == "CUB"
    assert task.build_dataset("val").split == "val"
    m = task.evaluate(split="val")
    assert {"top1", "maxboxacc_v2", "gt_known_loc"} <= set(m) and "pxap" not in m
    # the class count defaults to the dataset's (CUB: 200)
    assert pgg_zoo.build("wsol", data_root=str(data), data_format="wsoleval",
                         metadata_root=str(meta)).model.num_classes == 200


def test_data_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="metadata_root"):
        pgg_zoo.build("wsol", data_root=str(tmp_path), data_format="wsoleval")
    with pytest.raises(ConfigError, match="dataset"):
        pgg_zoo.build("wsol", data_root=str(tmp_path), data_format="wsoleval",
                      metadata_root=str(tmp_path), dataset="COCO")
    with pytest.raises(FileNotFoundError, match="OpenImages"):
        pgg_zoo.build("wsol", data_root=str(tmp_path), data_format="wsoleval",
                      metadata_root=str(tmp_path), dataset="OpenImages")
    with pytest.raises(ConfigError, match="data_format"):
        pgg_zoo.build("wsol", data_format="voc")
    with pytest.raises(ConfigError, match="eval_size"):
        pgg_zoo.build("wsol", eval_size="224")


def test_cub_layout_has_no_val_split(bench_home):
    with pytest.raises(ConfigError, match="val"):
        pgg_zoo.build("wsol").build_dataset("val")


# ------------------------------------------------------------------------------------------
# evaluation size and ignore masks in the metric
# ------------------------------------------------------------------------------------------
def _metric(samples, **kw):
    m = WSOLMetric(**kw)
    m.process(None, samples)
    return m.compute_metrics(m.results)


def test_eval_size_original_resizes_cam_and_scales_boxes_back():
    rng = np.random.default_rng(0)
    S, (h, w) = 32, (30, 50)
    samples = []
    for i in range(4):
        cam = rng.random((S, S)).astype(np.float32)
        x0, y0 = rng.integers(0, 16, 2)
        boxes = np.array([[x0, y0, x0 + 12.5, y0 + 10.0]], np.float32)
        samples.append({"cam": cam, "boxes": boxes, "top5": np.array([i % 2, 1 - i % 2]),
                        "label": 0, "orig_size": (h, w)})
    for preset, integer in (("wsoleval_bilinear", False), ("wsoleval", True)):
        got = _metric(samples, eval_size="original", preset=preset)
        v2 = BoxAccumulator("wsoleval", variant="v2")
        v1 = BoxAccumulator("wsoleval", variant="v1")
        for s in samples:
            cam = resize_scoremap(s["cam"], (w, h))
            assert cam.shape == (h, w)
            b = resize_boxes(s["boxes"], (S, S), (w, h), integer=integer)
            v2.update(cam, b)
            v1.update(cam, b, pred_top5=s["top5"], gt_label=s["label"])
        assert got["maxboxacc_v2"] == pytest.approx(v2.compute()["maxboxacc_v2"])
        assert got["top1_loc"] == pytest.approx(v1.compute()["top1_loc"])
        assert got["top1"] == 50.0
    # the input frame scores something else on the same predictions; wsoleval truncates the
    # boxes (x1 = x0 + 12.5 -> x0 + 12)
    inp = _metric(samples, eval_size="input")
    v2i = BoxAccumulator("wsoleval", variant="v2")
    for s in samples:
        v2i.update(normalize_scoremap(s["cam"]), np.trunc(s["boxes"]))
    assert inp["maxboxacc_v2"] == pytest.approx(v2i.compute()["maxboxacc_v2"])
    with pytest.raises(ValueError, match="orig_size"):
        _metric([{k: v for k, v in samples[0].items() if k != "orig_size"}],
                eval_size="original")


def test_eval_size_original_perfect_cam_stays_perfect():
    """A CAM that is exactly the GT box at input size is still right at original size."""
    S, (h, w) = 32, (64, 96)
    cam = np.zeros((S, S), np.float32)
    cam[8:20, 4:24] = 1.0
    box_in = np.array([[4, 8, 24, 20]], np.float32)
    s = {"cam": cam, "boxes": box_in, "top5": np.array([0]), "label": 0, "orig_size": (h, w)}
    for size in ("input", "original"):
        assert _metric([s], eval_size=size)["maxboxacc_v2@50"] == 100.0


def test_ignore_mask_reaches_pxap():
    rng = np.random.default_rng(1)
    S = 16
    samples, ref, ref_no_ignore = [], PxAPAccumulator(), PxAPAccumulator()
    for i in range(3):
        cam = rng.random((S, S)).astype(np.float32)
        mask = np.zeros((1, S, S), np.float32)
        mask[0, 4:10, 4:10] = 1
        ignore = np.zeros((1, S, S), np.float32)
        ignore[0, :, :8] = 1
        ignore[0][mask[0] > 0] = 0
        samples.append({"cam": cam, "boxes": np.zeros((0, 4)), "top5": np.array([0]),
                        "label": 0, "mask": mask, "ignore": ignore})
        c = normalize_scoremap(cam)
        ref.update(c, mask[0] > 0.5, ignore[0] > 0.5)
        ref_no_ignore.update(c, mask[0] > 0.5)
    got = _metric(samples)
    assert got["pxap"] == pytest.approx(ref.compute()["pxap"])
    assert got["pxap"] != pytest.approx(ref_no_ignore.compute()["pxap"])
    assert "maxboxacc_v2" not in got


# ------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------
def test_ablation_figures_and_cutmix_batch(bench_home, tmp_path, drawn_figures):
    import pgg_zoo_tasks.wsol.figures as figures
    from pgg_zoo_tasks.wsol.figures import cutmix_test_batch

    drawn_figures.watch(figures)

    a = pgg_zoo.build("wsol", guidance=False)
    b = pgg_zoo.build("wsol", seed=1)
    test = a.build_dataset("test")
    one = cutmix_test_batch(test, n=4, seed=3)
    two = cutmix_test_batch(test, n=4, seed=3)
    assert torch.equal(one["inputs"], two["inputs"]) and torch.equal(one["boxes"], two["boxes"])
    assert (one["host"] != one["pasted"]).all() and one["mixed"].all()
    x0, y0, x1, y1 = one["boxes"][0].long().tolist()
    assert x1 > x0 and y1 > y0
    paths = a.ablation_figures({"cutmix": a, "cutmix+pgg": b, "cutmix+no-mask": a}, tmp_path)
    assert [p.name for p in paths] == ["cams.png", "guided_gradcam_cutmix.png"]
    # cams.png: one row per variant over the same 6 test images; "cutmix" and
    # "cutmix+no-mask" are the same model here, so their rows are the same pixels and titles,
    # while the other model's row differs
    panels = [(ax.get_title(), ax.get_images()[0].get_array()) for ax in drawn_figures["cams.png"].axes
              if ax.get_images()]
    assert len(panels) == 18
    rows = [panels[0:6], panels[6:12], panels[12:18]]
    assert all(ta == tc and np.array_equal(ia, ic)
               for (ta, ia), (tc, ic) in zip(rows[0], rows[2]))
    assert any(not np.array_equal(ia, ib) for (_, ia), (_, ib) in zip(rows[0], rows[1]))
    # demo_figure also writes the Guided Grad-CAM figure beside its own
    fig = a.demo_figure({"cutmix": a, "cutmix+pgg": b}, tmp_path / "demo" / "figure.png")
    assert fig.is_file() and (tmp_path / "demo" / "guided_gradcam_cutmix.png").is_file()


# ------------------------------------------------------------------------------------------
# ResizeMix
# ------------------------------------------------------------------------------------------
def test_resizemix_trains_one_tiny_step(bench_home, tmp_path):
    assert "resizemix" in pgg_zoo.list_synthesizers()
    task = pgg_zoo.build("wsol", synthesizer="resizemix", limit_train=16, limit_test=8,
                         epochs=1, batch_size=16, work_dir=str(tmp_path / "rm"))
    assert type(task.synthesizer).__name__ == "ResizeMix"
    before = [p.detach().clone() for p in task.model.parameters()]
    metrics = task.train()
    # one step of guided ResizeMix training moved the weights, and the run was evaluated
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, task.model.parameters()))
    written = json.loads((tmp_path / "rm" / "metrics.json").read_text())["metrics"]
    assert written["top1"] == metrics["top1"] and "maxboxacc_v2" in metrics


# ------------------------------------------------------------------------------------------
# exactness of the component-tree fast paths added for speed (metrics/components.py)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("contact_table, chains", [(0, 1.0), (2 ** 18, 0.0), (2 ** 18, 1.0)],
                         ids=["sorted-contacts", "lifted-owners", "defaults"])
def test_component_fast_paths_equal_reference(monkeypatch, contact_table, chains):
    from pgg_zoo_tasks.wsol.metrics import best_iou_per_threshold, get_preset
    from pgg_zoo_tasks.wsol.metrics import components

    monkeypatch.setattr(components, "CONTACT_TABLE_MAX", contact_table)
    monkeypatch.setattr(components, "OWNER_CHAINS_MAX_PER_PIXEL", chains)
    rng = np.random.default_rng(99)
    conv = get_preset("wsoleval", cam_thresholds=np.arange(0, 1, 0.01))
    for trial in range(12):
        h, w = (int(v) for v in rng.integers(4, 28, size=2))
        if trial % 2:
            import cv2

            small = rng.random((max(2, h // 4), max(2, w // 4))).astype(np.float32)
            cam = normalize_scoremap(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
        else:
            cam = rng.random((h, w))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        gt = np.array([[x0, y0, int(rng.integers(x0, w)), int(rng.integers(y0, h))]], float)
        fast = best_iou_per_threshold(cam, gt, conv, "all", "fast")
        ref = best_iou_per_threshold(cam, gt, conv, "all", "reference")
        assert np.array_equal(fast, ref), trial
