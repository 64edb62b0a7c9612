"""pgg_zoo.guidance.region_split: a label's squared input gradient split over named regions.

Checked (1) on a hand-made gradient mass, (2) on CutMix inputs with object masks (own / other x
object / background) and (3) on pasted clips (inside / outside the provenance of host and pasted
actors), each with a model whose input gradient is the same for every label and element
(logit_l = sum of the input + l): the split must then equal the area split, computed here from
the masks (and the paste regions) directly."""

import numpy as np
import pytest
import torch

from pgg_zoo import CutMix
from pgg_zoo.guidance import OWN_OTHER_PARTS, gradient_mass, own_other_regions, region_split


def test_hand_made_mass():
    # one input, two slots on a 1 x 4 grid; slot 1 invalid
    mass = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]], [[5.0, 5.0, 5.0, 5.0]]]])  # (1, 2, 1, 4)
    left = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])  # (1, 1, 1, 4), the same for both slots
    half = torch.tensor([[[[0.5, 0.5, 0.5, 0.5]]]])
    split = region_split(mass, {"left": left, "right": 1 - left, "half": half},
                         torch.tensor([[True, False]]))
    assert split.names == ("left", "right", "half")
    assert split.mass[0, 0].tolist() == [3.0, 7.0, 5.0] and split.total[0, 0] == 10.0
    assert split.counted.tolist() == [[True, False]]
    shares, masses = split.per_slot()
    assert shares.tolist() == [[30.0, 70.0, 50.0]] and masses.tolist() == [[3.0, 7.0, 5.0]]
    assert split.shares()[0, 1].tolist() == [0.0, 0.0, 0.0]  # not counted
    # a selection keeps fewer slots; a zero gradient is not counted
    assert split.per_slot(select=torch.tensor([[False, True]]))[0].shape == (0, 3)
    zero = region_split(torch.zeros(1, 1, 1, 4), {"left": left}, torch.tensor([[True]]))
    assert not zero.counted.any()


def test_bad_regions_are_clear_errors():
    mass = torch.ones(2, 2, 3, 3)
    with pytest.raises(ValueError, match="at least one region"):
        region_split(mass, {}, torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"region 'r' of shape \(2, 3\) does not broadcast"):
        region_split(mass, {"r": torch.ones(2, 3)}, torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="region 'r' has weights outside"):
        region_split(mass, {"r": 2 * torch.ones(3, 3)}, torch.ones(2, 2, dtype=torch.bool))


class _UniformGradient(torch.nn.Module):
    def forward(self, x):
        return {"logits": x.sum((1, 2, 3))[:, None] + torch.arange(4.0)[None]}


def test_own_other_split_on_cutmix_equals_the_area_split():
    rng = np.random.default_rng(0)
    x = torch.randn(8, 3, 12, 12)
    labels = torch.tensor([k % 4 for k in range(8)])
    obj = torch.zeros(8, 12, 12)
    for b in range(8):
        y, x0 = (int(v) for v in rng.integers(0, 6, 2))
        obj[b, y:y + 5, x0:x0 + 6] = 1
    syn = CutMix()({"inputs": x, "labels": labels}, generator=torch.Generator().manual_seed(3))
    prov = syn.provenance
    # the object masks of the mixed images, from the paste boxes directly
    perm, boxes = syn.extras["perm"], syn.extras["boxes"]
    mixed_obj = obj.clone()
    for b in range(8):
        y0, x0, y1, x1 = (int(v) for v in boxes[b])  # end-exclusive
        mixed_obj[b, y0:y1, x0:x1] = obj[perm[b], y0:y1, x0:x1]

    xi = syn.inputs.clone().requires_grad_(True)
    mass = gradient_mass(xi, _UniformGradient()(xi)["logits"].gather(1, prov.labels), prov.valid)
    split = region_split(mass, own_other_regions(prov.masks, mixed_obj), prov.valid)
    area = prov.masks.float().flatten(2).mean(2)
    partly = (area > 0) & (area < 1)
    got, _ = split.per_slot(select=partly)
    assert split.names == OWN_OTHER_PARTS

    expect = []
    for b in range(8):
        for slot in range(2):
            own = prov.masks[b, slot].float()
            if not (prov.valid[b, slot] and 0 < float(own.mean()) < 1):
                continue
            m = mixed_obj[b]
            expect.append([float((own * m).mean()), float((own * (1 - m)).mean()),
                           float(((1 - own) * m).mean()), float(((1 - own) * (1 - m)).mean())])
    assert expect, "the draws gave no partly owned label"
    np.testing.assert_allclose(got.numpy(), 100 * np.asarray(expect), atol=1e-4)
    np.testing.assert_allclose(got.sum(1).numpy(), 100.0, atol=1e-4)


def test_inside_outside_split_on_pasted_clips_equals_the_area_split():
    """Host actors own the clip outside the paste region, the pasted actor owns the region: a
    uniform gradient leaks the other part's area, and its inside / outside masses are
    3 channels x the areas."""
    from pgg_zoo_tasks.stad.paste import VideoPaste

    rng = np.random.default_rng(0)
    boxes, box_labels = [], []
    for k in range(4):
        x0, y0 = (int(v) for v in rng.integers(0, 8, 2))
        boxes.append(torch.tensor([[x0, y0, x0 + 6.0, y0 + 7.0]]))
        box_labels.append(torch.tensor([k % 3]))
    batch = {"inputs": torch.randn(4, 3, 4, 16, 16), "boxes": boxes, "box_labels": box_labels}
    # occlusion_threshold 1: every host actor keeps its label, so both kinds are counted
    syn = VideoPaste(occlusion_threshold=1.0)(batch, torch.Generator().manual_seed(100))
    prov = syn.provenance
    x = syn.inputs.detach().requires_grad_(True)
    logits = x.sum((1, 2, 3, 4))[:, None] + torch.arange(float(prov.labels.shape[1]))[None]
    mass = gradient_mass(x, logits, prov.valid)
    own = prov.masks.float()
    split = region_split(mass, {"inside": own, "outside": 1 - own}, prov.valid)

    pasted = torch.zeros_like(prov.valid)
    for b in range(4):
        if syn.extras["pasted"][b]:
            pasted[b, len(syn.extras["boxes"][b]) - 1] = True  # host actors first, then it
    has_paste = torch.tensor([bool(p) for p in syn.extras["pasted"]])[:, None]
    n = 4 * 16 * 16
    for kind, select in (("host", has_paste & ~pasted), ("pasted", pasted)):
        shares, masses = split.per_slot(select=select)
        got = torch.cat([shares[:, 1:], masses], 1).mean(0)  # leaked %, inside, outside
        expect = []
        for b in range(4):
            if not syn.extras["pasted"][b]:
                continue
            p_area = float(syn.extras["paste_region"][b].sum())
            inside = p_area if kind == "pasted" else n - p_area
            expect.append([100 * (n - inside) / n, 3 * inside, 3 * (n - inside)])
        assert expect, "the draws pasted nothing"
        np.testing.assert_allclose(got.numpy(), np.asarray(expect).mean(0), rtol=1e-5)
