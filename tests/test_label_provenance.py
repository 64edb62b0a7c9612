"""Label-level provenance: slots of one input that carry the same class are one label."""
import pytest
import torch
from torch import nn

from pgg_zoo import Provenance, ProvenanceGuidance
from pgg_zoo.synthesizers import CutMix, ResizeMix


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3))


def _penalty(synth, x, y, mask="provenance"):
    out = synth({"inputs": x, "labels": y}, torch.Generator().manual_seed(1))
    xi = out.inputs.detach().requires_grad_(True)
    logits = _model()(xi)
    lab = logits.gather(1, out.provenance.labels)
    return ProvenanceGuidance(alpha=1.0, mask=mask).penalty(xi, lab, out.provenance), out, xi


@pytest.mark.parametrize("synth_cls", [CutMix, ResizeMix])
def test_same_label_batch_gets_zero_penalty_by_default(synth_cls):
    x = torch.rand(6, 3, 12, 12)
    y = torch.full((6,), 2, dtype=torch.long)
    pen, out, _ = _penalty(synth_cls(), x, y)
    assert out.extras["mixed"].any()
    assert pen.item() == 0.0
    # Every input is owned by its one class: a single valid slot whose mask is everything.
    assert torch.equal(out.provenance.valid[:, 1], torch.zeros(6, dtype=torch.bool))
    assert torch.equal(out.provenance.masks[:, 0], torch.ones(6, 12, 12))
    assert torch.allclose(out.provenance.weights[:, 0], torch.ones(6))


def test_source_level_same_label_is_half_the_no_mask_value():
    """The paper's literal formula: for binary M, ||(1-M) g||^2 + ||M g||^2 = ||g||^2."""
    x = torch.rand(6, 3, 12, 12)
    y = torch.full((6,), 2, dtype=torch.long)
    synth = CutMix(provenance="source")
    pen, out, xi = _penalty(synth, x, y)
    none, _, _ = _penalty(synth, x, y, mask="none")
    # Independent value: the whole squared input gradient of class 2, for mixed inputs only
    # (an unmixed input's pasted slot is invalid and its host owns everything).
    (g,) = torch.autograd.grad(_model()(xi)[:, 2].sum(), xi)
    mixed = out.extras["mixed"].float()
    expected = ((g ** 2).flatten(1).sum(1) * mixed).mean()
    assert torch.allclose(pen, expected, rtol=1e-5)
    # mask="none" penalizes both slots of a mixed input (2 ||g||^2) and the host slot of an
    # unmixed one (||g||^2).
    expected_none = ((g ** 2).flatten(1).sum(1) * (1 + mixed)).mean()
    assert torch.allclose(none, expected_none, rtol=1e-5)
    if bool(out.extras["mixed"].all()):
        assert torch.allclose(pen, none / 2, rtol=1e-5)


def test_distinct_labels_unchanged_and_source_matches_label():
    x = torch.rand(6, 3, 12, 12)
    y = torch.arange(6)
    g = torch.Generator().manual_seed(4)
    # A cyclic batch has no self pair, so both levels must agree exactly.
    a = CutMix()({"inputs": x, "labels": y}, torch.Generator().manual_seed(4))
    b = CutMix(provenance="source")({"inputs": x, "labels": y}, torch.Generator().manual_seed(4))
    perm = a.extras["perm"]
    distinct = perm != torch.arange(6)
    assert torch.equal(a.provenance.masks[distinct], b.provenance.masks[distinct])
    assert torch.equal(a.provenance.valid[distinct], b.provenance.valid[distinct])
    del g


def test_label_level_merge_rule():
    masks = torch.zeros(2, 3, 2, 2)
    masks[0, 0] = torch.tensor([[1.0, 0], [0, 0]])
    masks[0, 1] = torch.tensor([[0.0, 1], [0, 0]])
    masks[0, 2] = torch.tensor([[0.0, 0], [1, 1]])
    masks[1] = masks[0]
    labels = torch.tensor([[5, 7, 5], [5, 7, 5]])
    weights = torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    p = Provenance(masks, labels, weights, input_shape=(2, 1, 2, 2), valid=valid).label_level()
    # Input 0: slots 0 and 2 carry class 5 -> slot 0 owns their union, slot 2 is dropped.
    assert torch.equal(p.masks[0, 0], torch.tensor([[1.0, 0], [1, 1]]))
    assert torch.equal(p.valid[0], torch.tensor([True, True, False]))
    assert torch.allclose(p.weights[0], torch.tensor([0.75, 0.25, 0.0]))
    assert torch.equal(p.masks[0, 1], masks[0, 1])
    # Input 1: slot 2 is padding (invalid), so nothing merges into slot 0.
    assert torch.equal(p.masks[1, 0], masks[1, 0])
    assert torch.equal(p.valid[1], valid[1])


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="provenance must be one of"):
        CutMix(provenance="slots")
