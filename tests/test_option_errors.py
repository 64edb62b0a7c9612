"""Common mistakes get one clear error naming what is wrong, before anything is built:
option values (``--set alpha=abc``, ``--epochs -1``) and damaged image files."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pgg_zoo
from pgg_zoo.cli.main import main
from pgg_zoo.task import ConfigError
from pgg_zoo.data.errors import DatasetFormatError
from pgg_zoo_tasks.wsol.task import WSOLTask
from test_wsol_data import make_cub


@pytest.fixture
def nothing_built(monkeypatch, tmp_path):
    """Fail the test if a model gets built; run in an empty folder (no work_dirs appear)."""
    monkeypatch.chdir(tmp_path)

    def boom(self):
        raise AssertionError("a model was built before the options were checked")

    monkeypatch.setattr(WSOLTask, "build_model", boom)
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["--set", "alpha=abc"], "option alpha: expected a number, got 'abc'"),
    (["--epochs", "-1"], "option epochs: must be >= 1, got -1"),
    (["--epochs", "0"], "option epochs: must be >= 1, got 0"),
    (["--batch-size", "-8"], "option batch_size: must be >= 1, got -8"),
    (["--lr", "0"], "option lr: must be > 0, got 0.0"),
    (["--lr", "-0.1"], "option lr: must be > 0, got -0.1"),
    (["--set", "epochs=2.5"], "option epochs: expected an integer, got 2.5"),
    (["--set", "limit_test=0"], "option limit_test: must be >= 1, got 0"),
])
def test_bad_option_values_are_named_before_anything_is_built(nothing_built, capsys, argv,
                                                              message):
    rc = main(["train", "wsol", *argv])
    out, err = capsys.readouterr()
    assert rc == 2 and err.strip() == f"pgg-zoo: error: {message}"
    assert "training" not in out and not (nothing_built / "work_dirs").exists()


def test_option_values_in_python_and_train_overrides(tmp_path):
    with pytest.raises(ConfigError, match="option weight_decay: must be >= 0"):
        pgg_zoo.build("wsol", weight_decay=-1)
    with pytest.raises(ConfigError, match="option alpha: expected a number, got True"):
        pgg_zoo.build("wsol", alpha=True)
    task = pgg_zoo.build("wsol", alpha="0.03", epochs=3.0)  # numbers written as text are fine
    assert task.options["alpha"] == 0.03 and task.run.epochs == 3
    with pytest.raises(ConfigError, match="option epochs: must be >= 1, got 0"):
        task.train(epochs=0, work_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


# -- damaged image files are found when the dataset is built ------------------------------------
def _noise_jpeg(path: Path, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)).save(path, quality=90)
    return path.stat().st_size


def test_truncated_or_garbage_jpeg_is_found_at_dataset_build(tmp_path):
    root = make_cub(tmp_path / "cub")
    a = root / "images" / "001.Cat" / "a.jpg"  # a training image
    size = _noise_jpeg(a)
    a.write_bytes(a.read_bytes()[: size // 2])  # an interrupted copy
    task = pgg_zoo.build("wsol", data_root=str(root), image_size=32, num_classes=2)
    with pytest.raises(DatasetFormatError, match=r"a\.jpg.*truncated JPEG") as exc:
        task.build_dataset("train")
    assert "cannot decode" in str(exc.value)
    task.build_dataset("test")  # the test split does not hold the file
    # under on_error="skip" the run skips and reports it instead
    skip = pgg_zoo.build("wsol", data_root=str(root), image_size=32, num_classes=2,
                         on_error="skip")
    assert len(skip.build_dataset("train")) == 2
    a.write_bytes(b"not an image at all" * 10)
    with pytest.raises(DatasetFormatError, match=r"a\.jpg.*cannot read image"):
        task.build_dataset("train")


def test_file_check_reads_no_pixels_of_good_files(tmp_path, monkeypatch):
    root = make_cub(tmp_path / "cub")
    a = root / "images" / "001.Cat" / "a.jpg"
    _noise_jpeg(a)
    # data after the end marker (some cameras append a trailer): still a whole image
    a.write_bytes(a.read_bytes() + b"\0" * 5000)
    from PIL import ImageFile

    loads = []
    real = ImageFile.ImageFile.load

    def counting(self, *args, **kw):
        loads.append(Path(self.filename).name)
        return real(self, *args, **kw)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    pgg_zoo.build("wsol", data_root=str(root), image_size=32, num_classes=2).build_dataset("train")
    # c.jpg ends with its marker: header only; a.jpg's tail lacks it: decoded once to be sure
    assert set(loads) == {"a.jpg"}
