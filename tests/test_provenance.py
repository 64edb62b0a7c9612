import pytest
import torch

from pgg_zoo import Provenance, ProvenanceError


def _ok(b=2, l=2, grid=(4, 5)):
    return dict(masks=torch.rand(b, l, *grid), labels=torch.zeros(b, l, dtype=torch.long),
                weights=torch.full((b, l), 0.5), input_shape=(b, 3, *grid))


def test_valid_image_and_video():
    p = Provenance(**_ok())
    assert p.num_labels == 2 and p.grid_shape == (4, 5)
    assert p.valid.all()
    v = Provenance(**_ok(grid=(3, 4, 5)))
    assert v.grid_shape == (3, 4, 5)


def test_wrong_shape_names_both_shapes():
    kw = _ok()
    kw["masks"] = torch.rand(2, 2, 4, 6)
    with pytest.raises(ProvenanceError, match=r"\(2, 2, 4, 6\).*\(2, 3, 4, 5\)"):
        Provenance(**kw)


def test_value_range_and_dtype():
    kw = _ok()
    kw["masks"] = kw["masks"] + 1.5
    with pytest.raises(ProvenanceError, match=r"\[0, 1\]"):
        Provenance(**kw)
    kw = _ok()
    kw["masks"] = kw["masks"] > 0.5
    with pytest.raises(ProvenanceError, match="floating"):
        Provenance(**kw)
    kw = _ok()
    kw["labels"] = kw["labels"].float()
    with pytest.raises(ProvenanceError, match="int64"):
        Provenance(**kw)


def test_label_and_weight_shapes():
    kw = _ok()
    kw["labels"] = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ProvenanceError, match="labels"):
        Provenance(**kw)
    kw = _ok()
    kw["weights"] = torch.zeros(3, 2)
    with pytest.raises(ProvenanceError, match="weights"):
        Provenance(**kw)


def test_check_input_and_whole():
    x = torch.rand(2, 3, 4, 5)
    p = Provenance.whole(x, torch.tensor([1, 2]))
    assert p.masks.shape == (2, 1, 4, 5) and p.masks.min() == 1
    p.check_input(x)
    with pytest.raises(ProvenanceError):
        p.check_input(torch.rand(2, 3, 4, 6))
