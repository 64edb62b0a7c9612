"""End to end: the WSOL task on the embedded benchmark, through the engine and the CLI."""
import json

import numpy as np
import pytest
import torch

import pgg_zoo
from pgg_zoo.cli.main import main as cli


def _one_image_per_class(dataset, k=4):
    """The first training item of each of ``k`` classes, in class order."""
    labels = list(dataset.labels)
    return [dataset[labels.index(c)] for c in range(k)]


def test_built_parts_compute_the_documented_penalty(bench_home):
    """The default build (CutMix + provenance guidance) on four training images of four
    classes: each mixed input is its host outside the box and the pasted image inside, and the
    guidance penalty is the one of docs/method.md, recomputed here from the model's logits:
    mean_b sum_l ||(1 - M_bl) * d f_{y_bl}(x_b) / dx||^2."""
    task = pgg_zoo.build("wsol")
    items = _one_image_per_class(task.dataset("train"))
    batch = task.collate(items)
    batch = {**batch["data_samples"], "inputs": batch["inputs"]}
    x, y = batch["inputs"], batch["labels"]
    synth = task.synthesizer(batch, torch.Generator().manual_seed(3))
    prov = synth.provenance
    mixed = synth.inputs
    pasted = 0
    for b in range(4):
        assert prov.labels[b, 0] == y[b]  # the host keeps its own class in slot 0
        host = prov.masks[b, 0]
        if not prov.valid[b, 1]:  # left unmixed, or mixed with itself: one label owns all
            torch.testing.assert_close(host, torch.ones_like(host))
            torch.testing.assert_close(mixed[b], x[b])
            continue
        pasted += 1
        src = int(prov.labels[b, 1])  # one image per class: the class names the source
        torch.testing.assert_close(prov.masks[b, 1], 1 - host)
        torch.testing.assert_close(mixed[b], host * x[b] + (1 - host) * x[src])
    assert pasted >= 2, "choose a seed that pastes into most inputs"

    model = task.model.eval()  # eval BatchNorm: each logit depends on its own input only
    inputs = mixed.detach().requires_grad_(True)
    logits = model(inputs)["logits"]
    assert logits.shape == (4, 4)  # 4 classes in the embedded benchmark
    expected = torch.zeros(())
    for slot in range(prov.labels.shape[1]):
        # one backward per slot: with eval BatchNorm, row b of the gradient of the summed
        # logits is d f_{y_b}(x_b) / dx_b alone
        chosen = logits[torch.arange(4), prov.labels[:, slot]] * prov.valid[:, slot]
        (g,) = torch.autograd.grad(chosen.sum(), inputs, retain_graph=True)
        expected += ((1 - prov.masks[:, slot, None]) * g).pow(2).sum()
    expected /= 4
    label_logits = logits.gather(1, prov.labels)
    got = task.guidance.penalty(inputs, label_logits, prov)
    assert got.item() == pytest.approx(expected.item(), rel=1e-4)
    assert expected > 0


def test_guided_training_end_to_end(bench_home, tmp_path):
    work = tmp_path / "run"
    task = pgg_zoo.build("wsol", epochs=1, batch_size=16, work_dir=str(work), limit_train=96,
                         limit_test=48)
    metrics = task.train()
    # top-1 recomputed from the trained model on the same 48 test images
    test = task.build_dataset("test")
    x = torch.stack([test[i]["inputs"] for i in range(48)])
    y = torch.tensor([test[i]["label"] for i in range(48)])
    with torch.no_grad():
        pred = task.model.eval()(x)["logits"].argmax(1)
    assert metrics["top1"] == pytest.approx(100.0 * (pred == y).float().mean().item())
    # percentages of 48 images; V2 is the mean over its IoU thresholds, which nest
    for key in ("top1", "maxboxacc_v2@30", "maxboxacc_v2@50", "maxboxacc_v2@70"):
        assert metrics[key] * 48 / 100 == pytest.approx(round(metrics[key] * 48 / 100)), key
    v2 = [metrics[f"maxboxacc_v2@{d}"] for d in (30, 50, 70)]
    assert v2[0] >= v2[1] >= v2[2] and metrics["maxboxacc_v2"] == pytest.approx(sum(v2) / 3)
    saved = json.loads((work / "metrics.json").read_text())["metrics"]
    assert saved["top1"] == pytest.approx(metrics["top1"])
    ckpt = work / "epoch_1.pth"
    assert ckpt.is_file()
    # A fresh model loaded from the checkpoint scores the same.
    for path in (ckpt, work / "model.safetensors"):
        again = pgg_zoo.build("wsol", work_dir=str(tmp_path / "eval"), limit_test=48)
        evaluated = again.evaluate(checkpoint=str(path))
        assert evaluated["top1"] == pytest.approx(metrics["top1"])
        assert evaluated["maxboxacc_v2"] == pytest.approx(metrics["maxboxacc_v2"])
    # Weights of another architecture are refused with the keys named.
    other = pgg_zoo.build("wsol", backbone="resnet18", work_dir=str(tmp_path / "eval2"),
                          limit_test=48)
    with pytest.raises(ValueError, match="missing keys"):
        other.evaluate(checkpoint=str(work / "model.safetensors"))


def test_cli_list_and_bad_input(bench_home, capsys):
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "wsol" in out and "cutmix" in out and "maxboxacc_v2[wsoleval]" in out
    # each task's line names its embedded benchmarks (the registered names its option takes)
    decoy = next(line for line in out.splitlines() if line.strip().startswith("decoy:"))
    assert decoy.endswith("embedded benchmarks decoy-digits-anywhere-v1, decoy-digits-corner-v1")
    assert cli(["train", "wsl"]) == 2
    assert "Did you mean 'wsol'" in capsys.readouterr().err
    assert cli(["eval", "wsol", "--checkpoint", "/nonexistent.pth"]) == 2
    assert "/nonexistent.pth" in capsys.readouterr().err


def test_cli_demo_tiny(bench_home, tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert cli(["demo", "wsol", "--epochs", "1", "--out-dir", str(out_dir),
                "--set", "limit_train=64", "--set", "limit_test=32", "--set", "batch_size=16"]) == 0
    text = capsys.readouterr().out
    assert "| cutmix |" in text and "| cutmix+pgg |" in text
    payload = json.loads((out_dir / "metrics.json").read_text())
    assert set(payload["results"]) == {"cutmix", "cutmix+pgg"}
    _assert_overlay_figure(out_dir / "figure.png")


def _assert_overlay_figure(path):
    """A PNG holding heat-map overlays: hundreds of colours, where an empty or text-only figure
    (no map drawn, e.g. NaN CAMs) has a handful."""
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 500, path


TINY = ["--epochs", "1", "--set", "limit_train=32", "--set", "limit_test=16",
        "--set", "batch_size=16"]


def test_cli_ablate_tiny(bench_home, tmp_path, capsys):
    out_dir = tmp_path / "ablate"
    assert cli(["ablate", "wsol", "--out-dir", str(out_dir), "--alphas", "0", "0.01", *TINY]) == 0
    payload = json.loads((out_dir / "metrics.json").read_text())
    assert set(payload["results"]) == {"no-mix", "cutmix", "cutmix+pgg", "cutmix+random-mask",
                                       "cutmix+no-mask", "cutmix+pgg a=0.01"}
    assert payload["variants"]["cutmix+random-mask"]["guidance_mask"] == "random"
    assert "| cutmix+no-mask |" in (out_dir / "ablation.md").read_text()
    for name in ("cams.png", "guided_gradcam_cutmix.png"):
        _assert_overlay_figure(out_dir / name)
    # the alpha curve: one point per alpha of the sweep, so a plot, not an empty canvas
    from PIL import Image

    curve = np.asarray(Image.open(out_dir / "alpha.png").convert("RGB")).reshape(-1, 3)
    assert (curve != 255).any(axis=1).mean() > 0.01


def test_cli_modes_tiny(bench_home, tmp_path, capsys):
    out_dir = tmp_path / "modes"
    assert cli(["modes", "wsol", "--out-dir", str(out_dir), "--modes", "exact",
                "lazy4[one_label]", *TINY]) == 0
    payload = json.loads((out_dir / "metrics.json").read_text())
    assert set(payload["results"]) == {"exact", "lazy4[one_label]"}
    lazy = payload["variants"]["lazy4[one_label]"]
    assert lazy["guidance_mode"] == "lazy" and lazy["guidance_options"]["inner"] == "one_label"
    assert all("train_minutes" in m for m in payload["results"].values())
    assert "| lazy4[one_label] |" in (out_dir / "modes.md").read_text()
    assert cli(["modes", "wsol", "--out-dir", str(out_dir), "--modes", "fast"]) == 2
    assert "unknown mode variant" in capsys.readouterr().err


def test_mode_error_benchmark_runs_and_checks_modes(bench_home, monkeypatch, capsys,
                                                     repo_module):
    mod = repo_module("benchmarks/mode_error.py")
    monkeypatch.setattr("sys.argv", ["mode_error.py", "--batch", "8", "--draws", "3",
                                     "--steps", "1e-3"])
    mod.main()
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines[1:]] == [
        "finite_difference h=0.001", "one_label, one draw", "one_label, mean of 3 draws"]
    cos = [float(ln.split("cosine")[1].split()[0]) for ln in lines[1:]]
    assert all(-1.0 <= c <= 1.0 for c in cos)
    assert cos[2] > 0.9  # the one_label mean estimates the exact gradient


def test_cli_output_into_a_closed_pipe_ends_quietly():
    """`pgg-zoo list | head -1`: the reader goes away; no traceback, exit status 0."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails with EPIPE
    try:
        proc = subprocess.run([sys.executable, "-c", "import sys; from pgg_zoo.cli.main import "
                               "main; sys.exit(main(['list']))"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)
    assert proc.returncode == 0 and proc.stderr == ""
