"""The decoy task: benchmark format, reader errors, and guidance lowering leakage end to end."""
import json

import numpy as np
import pytest
import torch

import pgg_zoo
from pgg_zoo_tasks.decoy.data import DecoyDigits, DecoyFormatError, ensure_benchmark


@pytest.fixture(scope="module")
def anywhere(bench_home):
    return ensure_benchmark("anywhere")


def test_benchmark_layout_and_swatch_rule(anywhere):
    train = DecoyDigits(anywhere, "train")
    clean = DecoyDigits(anywhere, "train_clean")
    test = DecoyDigits(anywhere, "test")
    assert (len(train), len(DecoyDigits(anywhere, "val")), len(test)) == (1000, 300, 497)
    assert train.image_ids[0].replace("train/", "") == clean.image_ids[0].replace("train_clean/", "")
    for i in range(50):
        off = train.masks[i, 0] == 0
        assert int(off.sum()) == 16  # one 4x4 swatch per image
        shade = train.images[i, 0][off]
        # Training shade encodes the class: 255 - 25 y (PNG stores it exactly).
        assert torch.allclose(shade * 255, torch.full_like(shade, 255 - 25 * train.labels[i]))
        # Outside the swatch the decoyed image is the clean digit.
        assert torch.equal(train.images[i, 0][~off], clean.images[i, 0][~off])
        # "anywhere" puts the swatch on background only: the clean digit is dark there.
        assert float(clean.images[i, 0][off].max()) * 255 <= 15
    # Test shades are independent of the class: some differ from the training code.
    codes = [int(round(float(test.images[i, 0][test.masks[i, 0] == 0][0]) * 255))
             for i in range(len(test))]
    assert np.mean([c != 255 - 25 * y for c, y in zip(codes, test.labels)]) > 0.8
    positions = {tuple(torch.nonzero(train.masks[i, 0] == 0)[0].tolist()) for i in range(100)}
    assert len(positions) > 20  # the position varies from image to image


def test_reader_names_file_and_line(tmp_path, anywhere):
    import shutil

    root = tmp_path / "d"
    shutil.copytree(anywhere, root)
    csv = root / "decoys.csv"
    lines = csv.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ",a,b,c,d,0"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DecoyFormatError, match=r"decoys.csv, line 4: box .* not four integers"):
        DecoyDigits(root, "train")
    csv.write_text("path,x0,y0,x1,y1,shade\n")
    with pytest.raises(DecoyFormatError, match="no row for train/"):
        DecoyDigits(root, "train")
    first = sorted((root / "test").glob("*/*.png"))[0]
    first.write_bytes(b"not a png")
    with pytest.raises(DecoyFormatError, match=f"{first.name}: unreadable image"):
        DecoyDigits(root, "test")


def test_guidance_lowers_leakage_and_controls_differ(bench_home, tmp_path):
    common = dict(variant="corner", epochs=6, alpha=10.0, leakage_items=128)
    res = {}
    for name, v in {"plain": {"guidance": False},
                    "pgg": {"guidance": True},
                    "no-mask": {"guidance": True, "guidance_mask": "none"}}.items():
        task = pgg_zoo.build("decoy", work_dir=str(tmp_path / name), **common, **v)
        res[name] = task.train()
        saved = json.loads((tmp_path / name / "metrics.json").read_text())["metrics"]
        assert saved["leakage"] == pytest.approx(res[name]["leakage"])
    # Chance level is the swatch's share of the image: 16 / 784.
    assert res["plain"]["leakage_chance"] == pytest.approx(100 * 16 / 784, rel=1e-4)
    # The plain model reads the swatch above chance; true provenance pushes it far below.
    assert res["plain"]["leakage"] > res["plain"]["leakage_chance"]
    assert res["pgg"]["leakage"] < 0.5 * res["plain"]["leakage"]
    # The no-mask control penalizes the digit too, so it keeps more of its gradient on the
    # swatch share than true provenance does.
    assert res["no-mask"]["leakage"] > res["pgg"]["leakage"]
    lines = (tmp_path / "pgg" / "leakage.jsonl").read_text().splitlines()
    assert len(lines) == 6  # one measurement per epoch
    # The final evaluation's leakage is the last epoch's: same weights, same batches.
    assert json.loads(lines[-1])["metrics"]["leakage"] == pytest.approx(res["pgg"]["leakage"])


def test_convnet_detects_a_swatch_wherever_it_sits():
    from pgg_zoo_tasks.decoy.model import convnet

    torch.manual_seed(0)
    net = convnet()
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # Convolutions with a global max-pool: a swatch moved by a multiple of the total pooling
    # stride (4) gives exactly the same logits, so what is learnt at one place holds at all.
    # (On a canvas large enough that both swatches stay out of the border's reach: the
    # receptive field is 18 px and zero padding makes the border different.)
    a, b = torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64)
    a[..., 24:28, 24:28] = 0.6
    b[..., 36:40, 28:32] = 0.6
    assert torch.allclose(net(a), net(b), atol=1e-6)
    assert pgg_zoo.build("decoy", backbone="convnet").options["backbone"] == "convnet"


@pytest.mark.parametrize("interval, epochs_seen", [(None, [5]), (2, [2, 4, 5]), (9, [5])])
def test_eval_interval_gives_the_learning_curve(bench_home, tmp_path, interval, epochs_seen):
    # every `interval` epochs and always after the last one (mmengine's rule), one line each
    task = pgg_zoo.build("decoy", work_dir=str(tmp_path / "run"), epochs=5, limit_train=64,
                         guidance=False, leakage_items=0, eval_interval=interval)
    final = task.train()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [rec["epoch"] for rec in lines] == epochs_seen
    assert lines[-1]["metrics"]["top1"] == pytest.approx(final["top1"])
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epoch"] == 5


def test_eval_interval_is_checked():
    with pytest.raises(pgg_zoo.ConfigError, match="eval_interval"):
        pgg_zoo.build("decoy", eval_interval=0)
