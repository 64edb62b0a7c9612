"""ResizeMix: the batch is rebuilt exactly from its sources and the recorded boxes."""
import pytest
import torch

import pgg_zoo
from pgg_zoo.synthesizers import ResizeMix
from pgg_zoo.synthesizers.resizemix import resize_into_box


def _batch(b=6, h=20, w=24):
    g = torch.Generator().manual_seed(3)
    return {"inputs": torch.rand(b, 3, h, w, generator=g), "labels": torch.arange(b) % 4}


def test_registered_and_built_by_name():
    assert "resizemix" in pgg_zoo.list_synthesizers()
    assert isinstance(pgg_zoo.SYNTHESIZERS.build("resizemix", scale_min=0.2), ResizeMix)


def test_rebuild_from_sources_and_provenance():
    batch = _batch()
    x, y = batch["inputs"], batch["labels"]
    out = ResizeMix(provenance="source")(batch, torch.Generator().manual_seed(0))
    perm, boxes, mixed = out.extras["perm"], out.extras["boxes"], out.extras["mixed"]
    assert mixed.all()
    h, w = x.shape[-2:]
    for b in range(x.shape[0]):
        y0, x0, y1, x1 = boxes[b].tolist()
        tau = float(out.extras["tau"][b])
        assert (y1 - y0, x1 - x0) == (max(1, round(tau * h)), max(1, round(tau * w)))
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        rebuilt = x[b].clone()
        rebuilt[:, y0:y1, x0:x1] = resize_into_box(x[perm[b]], boxes[b])
        torch.testing.assert_close(out.inputs[b], rebuilt, rtol=0, atol=0)
        # the pasted thumbnail is the *whole* source image: its mean is close to the source's
        assert abs(out.inputs[b, :, y0:y1, x0:x1].mean() - x[perm[b]].mean()) < 0.1
        prov = out.provenance
        inside = torch.zeros(h, w)
        inside[y0:y1, x0:x1] = 1
        torch.testing.assert_close(prov.masks[b, 1], inside)
        torch.testing.assert_close(prov.masks[b, 0], 1 - inside)
        assert prov.labels[b].tolist() == [int(y[b]), int(y[perm[b]])]
        area = (y1 - y0) * (x1 - x0) / (h * w)
        torch.testing.assert_close(prov.weights[b], torch.tensor([1 - area, area]))


def test_seeded_reproducible_and_prob_zero_is_identity():
    batch = _batch()
    a = ResizeMix()(batch, torch.Generator().manual_seed(5))
    b = ResizeMix()(batch, torch.Generator().manual_seed(5))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.extras["boxes"], b.extras["boxes"])
    none = ResizeMix(prob=0.0)(batch, torch.Generator().manual_seed(5))
    assert torch.equal(none.inputs, batch["inputs"])
    assert not none.provenance.valid[:, 1].any() and none.provenance.valid[:, 0].all()
    torch.testing.assert_close(none.provenance.weights[:, 0], torch.ones(6))


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale_min"):
        ResizeMix(scale_min=0.9, scale_max=0.5)
    with pytest.raises(ValueError, match="images"):
        ResizeMix()({"inputs": torch.rand(2, 3, 4, 8, 8), "labels": torch.zeros(2)})
