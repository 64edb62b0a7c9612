"""Recipes (issue 14 item 2): every shipped recipe runs end to end on a tiny fixture written in
its data set's real on-disk layout (CUB-200-2011, Waterbirds, UCF101-24), with the backbone
initialized from a model card served from a local file; and each recipe's real backbone and
card are shape-checked on the meta device (no memory, no download)."""
from __future__ import annotations

import csv
import hashlib
import json
import pickle
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

import pgg_zoo
from pgg_zoo.cards import apply_card_rules, check_state_dict, load_card
from pgg_zoo.cli.main import main as cli
from pgg_zoo.config import CONFIG_FILE
from pgg_zoo.recipes import get_recipe, recipe_names, register_recipe
from pgg_zoo.registry import DuplicateNameError, UnknownNameError
from pgg_zoo.task import ConfigError
from test_cards_schema import _upstream_model
from test_wsol_data import make_cub

#: What every shipped recipe is for: task -> the tiny stand-ins the end-to-end run uses.
TINY = {
    "wsol": {"backbone": "tiny_cam", "sub": "features", "image_size": 32},
    "classification": {"backbone": "tiny_cam", "sub": "features", "image_size": 32},
    "stad": {"backbone": "tiny3d", "sub": "backbone", "image_size": 32, "clip_len": 4,
             "clip_stride": 1},
}
SHIPPED = recipe_names()


def test_recipes_are_shipped_for_the_papers_protocols():
    assert {"cub-vgg16-cutmix", "cub-vgg16-cutmix-pgg", "cub-vgg16-resizemix",
            "cub-vgg16-resizemix-pgg", "cub-resnet50-cutmix-pgg", "cub-resnet50-resizemix",
            "waterbirds-resnet50-edit-pgg", "ucf24-slowfast-paste-pgg"} <= set(SHIPPED)
    r = get_recipe("cub-vgg16-cutmix-pgg")
    assert r.task == "wsol" and r.target["value"] == 65.1 and r.target["baseline"] == 62.3
    assert r.config.run["optimizer"] == "sgd" and r.config.run["schedule"] == "step"
    assert get_recipe("waterbirds-resnet50-edit-pgg").target["value"] == 80.7


def test_recipes_command_lists_them_with_the_papers_numbers(capsys):
    assert cli(["recipes"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("cub-vgg16-resizemix-pgg "))
    assert "57.6 -> 62.2" in line and "wsol" in line
    assert "71.4 -> 80.7" in out
    assert cli(["recipes", "ucf24-slowfast-paste-pgg"]) == 0
    assert "task: stad" in capsys.readouterr().out


def test_recipe_errors(tmp_path, capsys):
    with pytest.raises(UnknownNameError, match="Did you mean 'cub-vgg16-cutmix'"):
        get_recipe("cub-vgg16-cutmx")
    assert cli(["train", "--recipe", "cub-vgg16-cutmix"]) == 2
    assert "give its folder with --data-root" in capsys.readouterr().err
    other = tmp_path / "cub-vgg16-cutmix.yaml"
    other.write_text("task: wsol\n")
    with pytest.raises(DuplicateNameError):
        register_recipe(other)


# -- fixtures in the real layouts ---------------------------------------------------------------
def _jpg(path: Path, seed: int, size: tuple[int, int] = (40, 36)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def make_waterbirds(root: Path) -> Path:
    """Waterbirds' layout: metadata.csv (img_id,img_filename,y,split,place,place_filename;
    split 0 train, 1 val, 2 test) and the images it names, plus edited copies of two train
    images listed in edits/edits.csv (edited_path,original_path)."""
    rows = []
    i = 0
    for split in (0, 1, 2):
        for y in (0, 1):
            for place in (0, 1):
                i += 1
                rel = f"{y:03d}.{'land' if y == 0 else 'water'}bird/img_{i:03d}.jpg"
                _jpg(root / rel, seed=i)
                rows.append([i, rel, y, split, place, f"places/{place}/{i}.jpg"])
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        w.writerows(rows)
    edits = root / "edits"
    pairs = []
    for k, (_, rel, *_rest) in enumerate(rows[:2]):  # train originals
        original = np.asarray(Image.open(root / rel)).copy()
        original[:, : original.shape[1] // 2] = 255 - original[:, : original.shape[1] // 2]
        (edits / "img").mkdir(parents=True, exist_ok=True)
        Image.fromarray(original).save(edits / "img" / f"edit_{k}.png")
        pairs.append([f"img/edit_{k}.png", rel])
    with open(edits / "edits.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["edited_path", "original_path"])
        w.writerows(pairs)
    return root


def make_ucf24(root: Path) -> Path:
    """UCF101-24's layout (MOC): rgb-images/<class>/<video>/00001.jpg and UCF101v2-GT.pkl with
    labels, gttubes (1-based frames, pixel boxes), nframes, train/test_videos, resolution."""
    n, h, w = 10, 32, 48
    videos = {"Basketball/v_Basketball_g01_c01": 0, "Diving/v_Diving_g01_c01": 1,
              "Basketball/v_Basketball_g02_c01": 0, "Diving/v_Diving_g02_c01": 1}
    rng = np.random.default_rng(0)
    tubes = {}
    for k, (video, label) in enumerate(videos.items()):
        folder = root / "rgb-images" / video
        folder.mkdir(parents=True)
        for t in range(n):
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            cv2.imwrite(str(folder / f"{t + 1:05d}.jpg"), frame)
        x0 = 4 + 8 * (k % 2)
        tubes[video] = {label: [np.array([[f, x0, 6, x0 + 20, 26] for f in range(1, n + 1)],
                                         dtype=np.float64)]}
    ann = {"labels": ["Basketball", "Diving"], "gttubes": tubes,
           "nframes": {v: n for v in videos},
           "train_videos": [list(videos)[:2]], "test_videos": [list(videos)[2:]],
           "resolution": {v: (h, w) for v in videos}}
    with open(root / "UCF101v2-GT.pkl", "wb") as f:
        pickle.dump(ann, f, protocol=2)
    return root


def _local_card(cards: Path, task: str) -> str:
    """A backbone card for ``task``'s tiny stand-in whose weights are a local file beside it
    (the path a recipe's ImageNet / Kinetics card takes, without the download)."""
    tiny = TINY[task]
    extra = {k: tiny[k] for k in ("clip_len",) if k in tiny}
    model = pgg_zoo.build(task, backbone=tiny["backbone"], image_size=tiny["image_size"],
                          **extra).model
    sd = {k: v.contiguous() for k, v in model.get_submodule(tiny["sub"]).state_dict().items()}
    name = f"{task}_{tiny['backbone']}_test_init"
    folder = cards / task
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.safetensors"
    save_file(sd, str(weights))
    input_cfg = {"size": [tiny["image_size"]] * 2, "mean": [0.5] * 3, "std": [0.25] * 3}
    if task == "stad":
        input_cfg.update(clip_len=tiny["clip_len"], frame_interval=1, sampling="dense")
    card = {
        "name": name, "task": task, "origin": "upstream",
        "modality": "video" if task == "stad" else "image", "backbone": tiny["backbone"],
        "synthesizer": None, "guidance": None, "training_data": ["nothing"],
        "metrics": {"nothing": {"acc@1[none]": 0.0}}, "input": input_cfg, "num_classes": 7,
        "categories": None, "num_params": sum(v.numel() for v in sd.values()),
        "file_size_mb": None,
        "weights": {"url": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                    "hash_verified": True, "format": "safetensors", "submodule": tiny["sub"]},
        "license": "Apache-2.0", "recipe": "upstream: tests/test_recipes.py", "citation": "none",
    }
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return name


@pytest.fixture(scope="module")
def world(tmp_path_factory, bench_home):
    """Data sets in their real layouts and local backbone cards (on PGG_ZOO_CARD_PATH)."""
    import os

    base = tmp_path_factory.mktemp("recipes")
    data = {"wsol": make_cub(base / "CUB_200_2011"),
            "classification": make_waterbirds(base / "waterbirds"),
            "stad": make_ucf24(base / "ucf24")}
    cards = base / "cards"
    names = {t: _local_card(cards, t) for t in TINY}
    old = os.environ.get("PGG_ZOO_CARD_PATH")
    os.environ["PGG_ZOO_CARD_PATH"] = str(cards)
    yield base, data, names
    if old is None:
        os.environ.pop("PGG_ZOO_CARD_PATH", None)
    else:
        os.environ["PGG_ZOO_CARD_PATH"] = old


@pytest.mark.parametrize("name", SHIPPED)
def test_recipe_runs_end_to_end_on_its_real_layout(world, name, capsys):
    base, data, cards = world
    recipe = get_recipe(name)
    task = recipe.task
    tiny = TINY[task]
    run = base / "runs" / name
    sizes = [f"{k}={json.dumps(tiny[k])}" for k in ("image_size", "clip_len", "clip_stride")
             if k in tiny]
    argv = ["train", "--recipe", name, "--data-root", str(data[task]), "--work-dir", str(run),
            "--epochs", "1", "--batch-size", "2",
            "--set", f"backbone={tiny['backbone']}", "--set", f"weights={cards[task]}",
            "--set", "leakage_items=0", "--set", "limit_test=2"]
    for item in sizes:
        argv += ["--set", item]
    assert cli(argv) == 0, capsys.readouterr().err
    saved = yaml.safe_load((run / CONFIG_FILE).read_text())
    assert saved["recipe"] == name and saved["task"] == task
    assert saved["allow_unverified"] is True
    # the recipe's protocol, except the sizes this test overrode
    for key, value in recipe.config.task_options.items():
        if key not in ("backbone", "weights", *tiny):
            assert saved["task_options"][key] == value, key
    for key, value in recipe.config.run.items():
        if key not in ("epochs", "batch_size"):
            assert saved["run"][key] == value, key
    assert saved["task_options"]["weights"] == cards[task]
    assert saved["run"]["data_root"] == str(data[task])
    assert json.loads((run / "metrics.json").read_text())["metrics"]


def test_lr_mult_reaches_the_optimizer(world):
    """wsolevaluation's 10x learning rate on the new layers (the recipes' lr_mult)."""
    from mmengine.optim import build_optim_wrapper

    from pgg_zoo.engine.runner import _optim_wrapper

    task = pgg_zoo.build("wsol", image_size=32, optimizer="sgd", lr=0.1, nesterov=True,
                         lr_mult={"fc.": 10})
    wrapper = build_optim_wrapper(task.model, _optim_wrapper(task.run))
    groups = wrapper.optimizer.param_groups
    fc = {id(p) for p in task.model.fc.parameters()}
    for g in groups:
        in_fc = not fc.isdisjoint(id(p) for p in g["params"])
        assert g["lr"] == pytest.approx(1.0 if in_fc else 0.1)
        assert g["nesterov"] is True
    assert any(not fc.isdisjoint(id(p) for p in g["params"]) for g in groups)
    with pytest.raises(ConfigError, match="option lr_mult.fc.: must be >= 0"):
        pgg_zoo.build("wsol", lr_mult={"fc.": -1})


# -- the real backbones and cards, shape-checked ------------------------------------------------
REAL = sorted({(get_recipe(n).task, get_recipe(n).config.task_options["weights"], n)
               for n in SHIPPED}, key=lambda t: t[:2])
REAL = list({(t, w): (t, w, n) for t, w, n in REAL}.values())


@pytest.mark.parametrize("task, card_name, name", REAL, ids=[f"{t}-{w}" for t, w, _ in REAL])
def test_recipe_real_backbone_fits_its_card(world, task, card_name, name):
    """The recipe's own model (vgg16 / resnet50 CAM, SlowFast-R50 detector, at the recipe's
    input size, with the fixture's classes) takes the card's upstream checkpoint layout."""
    _, data, _ = world
    recipe = get_recipe(name)
    card = load_card(card_name)
    options = {**recipe.config.task_options, **recipe.config.run, "data_root": str(data[task])}
    options.pop("weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upstream = _upstream_model(card.name)
        with torch.device("meta"):
            model = pgg_zoo.build(task, **options).model
    assert upstream is not None, f"no reference builder for {card.name}"
    assert card.backbone == options["backbone"]
    target = model.get_submodule(card.weights.submodule)
    sd = apply_card_rules(upstream.state_dict(), card)
    adapt = getattr(target, "adapt_card_state_dict", None) or getattr(model, "adapt_card_state_dict", None)
    if callable(adapt):
        sd = adapt(sd, card)
    check_state_dict(target, sd, what=f"card {card.name} for recipe {name}",
                     missing_ok=card.weights.missing_ok)
