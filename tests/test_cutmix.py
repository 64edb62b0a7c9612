import torch

from pgg_zoo.synthesizers import CutMix


def test_rebuild_from_sources_and_mask_is_exact():
    x = torch.rand(6, 3, 16, 20)
    y = torch.arange(6)
    out = CutMix(alpha=1.0)({"inputs": x, "labels": y}, torch.Generator().manual_seed(0))
    prov, perm = out.provenance, out.extras["perm"]
    host = prov.masks[:, 0].unsqueeze(1)
    rebuilt = host * x + prov.masks[:, 1].unsqueeze(1) * x[perm]
    assert torch.equal(rebuilt, out.inputs)
    assert torch.equal(prov.masks[:, 0] + prov.masks[:, 1], torch.ones(6, 16, 20))
    assert torch.equal(prov.labels[:, 0], y) and torch.equal(prov.labels[:, 1], y[perm])


def test_area_corrected_weights():
    x = torch.rand(8, 1, 10, 10)
    out = CutMix(provenance="source")({"inputs": x, "labels": torch.zeros(8, dtype=torch.long)},
                   torch.Generator().manual_seed(3))
    pasted_area = out.provenance.masks[:, 1].flatten(1).mean(1)
    assert torch.allclose(out.provenance.weights[:, 1], pasted_area)
    assert torch.allclose(out.provenance.weights.sum(1), torch.ones(8))
    assert torch.equal(out.provenance.valid[:, 1], pasted_area > 0)


def test_seeded_and_video():
    x = torch.rand(4, 3, 5, 8, 8)
    y = torch.arange(4)
    a = CutMix()({"inputs": x, "labels": y}, torch.Generator().manual_seed(7))
    b = CutMix()({"inputs": x, "labels": y}, torch.Generator().manual_seed(7))
    assert torch.equal(a.inputs, b.inputs)
    assert a.provenance.masks.shape == (4, 2, 5, 8, 8)
    # The box is the same in every frame.
    m = a.provenance.masks[:, 1]
    assert torch.equal(m, m[:, :1].expand_as(m))


def test_prob_zero_leaves_inputs_and_marks_pasted_invalid():
    x = torch.rand(4, 3, 8, 8)
    out = CutMix(prob=0.0)({"inputs": x, "labels": torch.arange(4)}, torch.Generator().manual_seed(0))
    assert torch.equal(out.inputs, x)
    assert not out.provenance.valid[:, 1].any()
