"""Backbone names as users write them: aliases, per-task errors, backbones of other tasks."""
from __future__ import annotations

import pytest
import torch

import pgg_zoo
from pgg_zoo.registry import DuplicateNameError, Registry, UnknownNameError

STAD_OWN = ("slow_r50", "slowfast_r50", "tiny3d", "tiny3d_local")
OTHER_TASKS_ONLY = ("tiny_cam", "vgg16", "resnet18")


@pytest.fixture()
def no_downloads(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("building a backbone must not download anything")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("alias, name, cls_name", [("slowfast", "slowfast_r50", "SlowFastBackbone"),
                                                   ("slow", "slow_r50", "SlowBackbone")])
def test_hub_short_names_build_verbatim(alias, name, cls_name, no_downloads):
    # the meta device: the full R50 is constructed (the real code path) without allocating it
    with torch.device("meta"):
        task = pgg_zoo.build("stad", backbone=alias, num_classes=24, clip_len=8)
    assert task.options["backbone"] == name  # one spelling for cards, runs and validation
    assert type(task.model.backbone).__name__ == cls_name
    assert all(p.is_meta for p in task.model.parameters())
    assert sum(p.numel() for p in task.model.backbone.parameters()) > 20_000_000


def test_alias_is_validated_like_its_name():
    with pytest.raises(pgg_zoo.ConfigError, match="clip_len divisible by 4"):
        pgg_zoo.build("stad", backbone="slowfast", clip_len=6, num_classes=3)


def test_aliases_are_not_listed_as_backbones():
    assert pgg_zoo.list_backbones("stad") == list(STAD_OWN)
    assert pgg_zoo.BACKBONES.canonical("slowfast") == "slowfast_r50"
    assert pgg_zoo.BACKBONES.aliases("slowfast_r50") == ["slowfast"]


def test_unknown_backbone_lists_only_the_tasks_own():
    with pytest.raises(pgg_zoo.ConfigError) as ei:
        pgg_zoo.build("stad", backbone="slowfst", num_classes=3)
    msg = str(ei.value)
    assert "'slowfst'" in msg and "Did you mean 'slowfast'" in msg
    assert all(n in msg for n in STAD_OWN)
    assert not any(n in msg for n in OTHER_TASKS_ONLY), msg


@pytest.mark.parametrize("task, backbone", [("stad", "tiny_cam"), ("stad", "vgg16"),
                                            ("wsol", "tiny3d"), ("classification", "slowfast")])
def test_backbone_of_another_task_is_refused(task, backbone):
    with pytest.raises(pgg_zoo.ConfigError) as ei:
        pgg_zoo.build(task, backbone=backbone)
    assert str(ei.value).startswith(f"backbone {backbone!r} is not a {task} backbone ({task} "
                                    f"backbones: ")
    own = pgg_zoo.list_backbones(task)
    assert own and all(n in str(ei.value) for n in own)


def test_cli_other_tasks_backbone_is_one_line(capsys, tmp_path):
    from pgg_zoo.cli.main import main

    rc = main(["train", "stad", "--backbone", "tiny_cam", "--work-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().splitlines() == [
        "pgg-zoo: error: backbone 'tiny_cam' is not a stad backbone (stad backbones: "
        "slow_r50 (or slow), slowfast_r50 (or slowfast), tiny3d, tiny3d_local)"]


def test_registry_aliases():
    reg = Registry("widget")
    reg.add("big_one", dict, aliases=("big",))
    assert "big" in reg and reg.get("big") is dict and reg.names() == ["big_one"]
    assert reg.meta("big") == {}
    with pytest.raises(DuplicateNameError, match="alias 'big'"):
        reg.add("other", list, aliases=("big",))
    with pytest.raises(DuplicateNameError, match="already an alias"):
        reg.add("big", list)
    reg.remove("big_one")
    assert "big" not in reg
    with pytest.raises(UnknownNameError):
        reg.get("big")


def test_alias_matches_a_cards_backbone(monkeypatch):
    # The card says slowfast_r50; backbone="slowfast" is the same architecture, not a clash.
    # Offline with an empty cache, the build gets as far as fetching the weights, and no further.
    from pgg_zoo.cards import OfflineError

    monkeypatch.setenv("PGG_ZOO_OFFLINE", "1")
    with pytest.raises(pgg_zoo.ConfigError, match="backbone='tiny3d' but the weights have"):
        pgg_zoo.build("stad", weights="slowfast_r50_kinetics400", backbone="tiny3d",
                      allow_unverified=True)
    with torch.device("meta"), pytest.raises(OfflineError):
        pgg_zoo.build("stad", weights="slowfast_r50_kinetics400", backbone="slowfast",
                      allow_unverified=True)
