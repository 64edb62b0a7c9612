import importlib
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import pgg_zoo
from pgg_zoo import Registry
from pgg_zoo.registry import DuplicateNameError, UnknownNameError

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pgg_toy_plugin"


def test_unknown_name_lists_available_and_suggests_closest():
    reg = Registry("thing")
    reg.add("resnet18", object)
    reg.add("vgg16", object)
    with pytest.raises(UnknownNameError) as e:
        reg.get("resnet19")
    msg = str(e.value)
    assert "Did you mean 'resnet18'?" in msg
    assert "resnet18, vgg16" in msg


def test_duplicate_registration_raises_unless_replace():
    reg = Registry("thing")
    reg.add("a", dict)
    with pytest.raises(DuplicateNameError, match="already registered"):
        reg.add("a", list)
    reg.add("a", list, replace=True)
    assert reg.get("a") is list


def test_decorator_and_meta_filter():
    reg = Registry("thing")

    @reg.register("x", tasks=("t1",))
    def build_x():
        return 1

    assert reg.build("x") == 1
    assert reg.meta("x") == {"tasks": ("t1",)}


def test_builtin_task_registered_through_entry_point():
    assert "wsol" in pgg_zoo.list_tasks()
    assert "cutmix" in pgg_zoo.list_synthesizers()
    assert "tiny_cam" in pgg_zoo.list_backbones("wsol")
    with pytest.raises(UnknownNameError, match="Did you mean 'wsol'"):
        pgg_zoo.build("wsl")


def test_register_task_twice_raises():
    class T(pgg_zoo.Task):
        pass

    pgg_zoo.register_task("tmp_dup_task")(T)
    try:
        with pytest.raises(DuplicateNameError):
            pgg_zoo.register_task("tmp_dup_task")(T)
        pgg_zoo.register_task("tmp_dup_task", replace=True)(T)
    finally:
        pgg_zoo.TASKS.remove("tmp_dup_task")


def _install_plugin(site: Path) -> None:
    """Lay the example plugin out as an installed distribution (package + dist-info)."""
    shutil.copytree(EXAMPLE, site / "pgg_toy_plugin")
    info = site / "pgg_toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pgg-toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [pgg_zoo.plugins]
            toy = pgg_toy_plugin:register
            """
        )
    )
    (info / "RECORD").write_text("")


def test_third_party_plugin_discovered_built_and_trained(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    try:
        names = pgg_zoo.load_plugins(reload=True)
        assert "toy" in names
        assert "toy_blobs" in pgg_zoo.list_tasks()
        assert pgg_zoo.list_backbones("toy_blobs") == ["toynet"]
        task = pgg_zoo.build("toy_blobs", alpha=0.05, work_dir=str(tmp_path / "run"))
        assert type(task).__module__ == "pgg_toy_plugin"
        metrics = task.train(epochs=1)
        # The engine adds the gradient leakage of every synthesized run, plugin or not.
        assert set(metrics) == {"top1", "leakage", "leakage_chance", "leakage_slots"}
        # the plugin's metric, computed by the engine, is the trained model's test accuracy
        plugin = sys.modules["pgg_toy_plugin"]
        test = plugin.ToyBlobs(32, seed=1)
        x = torch.stack([test[i]["inputs"] for i in range(32)])
        y = torch.tensor([test[i]["label"] for i in range(32)])
        with torch.no_grad():
            top1 = 100.0 * (task.model(x).argmax(1) == y).float().mean().item()
        assert metrics["top1"] == pytest.approx(top1)
        saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert saved["split"] == "test" and saved["metrics"]["top1"] == pytest.approx(top1)
    finally:
        for reg, name in ((pgg_zoo.TASKS, "toy_blobs"), (pgg_zoo.BACKBONES, "toynet")):
            if name in reg:
                reg.remove(name)
        sys.modules.pop("pgg_toy_plugin", None)


def test_unknown_option_is_a_clear_error():
    with pytest.raises(pgg_zoo.ConfigError,
                       match=r"unknown wsol option 'bakbone' \(did you mean 'backbone'\?\)"):
        pgg_zoo.build("wsol", bakbone="resnet18")
