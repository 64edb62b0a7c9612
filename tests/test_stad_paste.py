"""The spatio-temporal actor paste ("video_paste") and its provenance."""
from __future__ import annotations

import math

import pytest
import torch

import pgg_zoo.registry as registry
from pgg_zoo.provenance import Provenance
from pgg_zoo_tasks.stad.paste import (
    VideoPaste,
    box_provenance,
    covered_fraction,
    paste_layer,
    register_synthesizers,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No plugin discovery: these tests exercise the STAD synthesizer only."""
    monkeypatch.setattr(registry, "load_plugins", lambda reload=False: [])


def make_batch(seed: int = 0, b: int = 4, t: int = 6, h: int = 32, w: int = 40) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, t, h, w, generator=g)
    all_boxes = [
        torch.tensor([[2.0, 3.0, 12.5, 20.0], [20.0, 10.0, 34.0, 30.0]]),
        torch.zeros(0, 4),  # a clip without actors
        torch.tensor([[10.0, 5.0, 22.0, 28.0]]),
        torch.tensor([[1.0, 1.0, 9.0, 15.0], [25.0, 2.0, 38.0, 18.0], [14.0, 14.0, 24.0, 31.0]]),
    ]
    all_labels = [torch.tensor([1, 2]), torch.zeros(0, dtype=torch.long), torch.tensor([3]),
                  torch.tensor([0, 4, 2])]
    return {"inputs": x, "boxes": all_boxes[:b], "box_labels": all_labels[:b]}


def src_boxes(batch: dict, extras: dict, i: int) -> torch.Tensor:
    d, j = int(extras["donor"][i]), int(extras["donor_actor"][i])
    t = batch["inputs"].shape[2]
    return batch["boxes"][d][j].view(1, 4).expand(t, 4)


@pytest.mark.parametrize("opts", [{}, {"scale_range": (0.6, 1.4), "shift": 0.3}, {"shift": 0.5}])
def test_clip_rebuilds_from_sources_and_region(opts):
    batch = make_batch()
    syn = VideoPaste(**opts)(batch, torch.Generator().manual_seed(3))
    e, x = syn.extras, batch["inputs"]
    for i in range(x.shape[0]):
        p = e["paste_region"][i]
        if not e["pasted"][i]:
            assert torch.equal(syn.inputs[i], x[i]) and p.sum() == 0
            continue
        d = int(e["donor"][i])
        layer, region, dst = paste_layer(x[d], src_boxes(batch, e, i), float(e["scale"][i]),
                                         tuple(e["shift"][i].tolist()))
        assert torch.equal(region, p)
        assert torch.equal(syn.inputs[i], x[i] * (1 - p) + layer * p)  # bit-exact
        torch.testing.assert_close(dst, e["paste_boxes"][i], equal_nan=True)


def test_paste_without_scale_copies_donor_pixels_shifted():
    """Independent of paste_layer: at scale 1 the pasted pixels are the donor's, moved by the
    integer offset between the source rect and the pasted rect."""
    batch = make_batch(1)
    syn = VideoPaste(shift=0.15)(batch, torch.Generator().manual_seed(0))
    e, x = syn.extras, batch["inputs"]
    checked = 0
    for i in range(x.shape[0]):
        if not e["pasted"][i]:
            continue
        d, kf = int(e["donor"][i]), int(e["key_frame"][i])
        x1, y1, x2, y2 = batch["boxes"][d][int(e["donor_actor"][i])].tolist()
        sx0, sy0 = math.floor(x1), math.floor(y1)
        sw, sh = math.ceil(x2) - sx0, math.ceil(y2) - sy0
        vx0, vy0, vx1, vy1 = (int(v) for v in e["paste_boxes"][i, kf].tolist())
        if (vx1 - vx0, vy1 - vy0) != (sw, sh):
            continue  # clipped at the frame border
        ox, oy = vx0 - sx0, vy0 - sy0
        assert torch.equal(syn.inputs[i][:, :, vy0:vy1, vx0:vx1], x[d][:, :, sy0:sy0 + sh, sx0:sx0 + sw])
        outside = e["paste_region"][i] == 0
        assert torch.equal(syn.inputs[i][:, outside], x[i][:, outside])
        assert e["paste_region"][i].sum() == x.shape[2] * sw * sh
        checked += 1
        # The box centre moved by the drawn shift, rounded to whole pixels.
        assert (ox, oy) == (round(float(e["shift"][i, 0])), round(float(e["shift"][i, 1])))
    assert checked >= 2


def test_masks_ownership_and_shapes():
    batch = make_batch()
    syn = VideoPaste(scale_range=(0.8, 1.2), shift=0.2)(batch, torch.Generator().manual_seed(5))
    prov, e = syn.provenance, syn.extras
    b, _, t, h, w = batch["inputs"].shape
    n = [len(bx) for bx in e["boxes"]]
    assert prov.masks.shape == (b, max(n), t, h, w)
    prov.check_input(syn.inputs)
    Provenance(prov.masks, prov.labels, prov.weights, input_shape=syn.inputs.shape, valid=prov.valid)
    assert set(prov.masks.unique().tolist()) <= {0.0, 1.0}
    for i in range(b):
        p = e["paste_region"][i]
        assert prov.valid[i, : n[i]].tolist() == e["box_valid"][i].tolist()
        assert not prov.valid[i, n[i]:].any()
        assert prov.labels[i, : n[i]].tolist() == e["box_labels"][i].tolist()
        if e["pasted"][i]:
            last = n[i] - 1
            assert torch.equal(prov.masks[i, last], p)  # the pasted actor owns the region
            for j in range(last):
                assert torch.equal(prov.masks[i, j], 1 - p)  # host actors own the rest
                assert torch.equal(prov.masks[i, j] + prov.masks[i, last], torch.ones(t, h, w))
            d, a = int(e["donor"][i]), int(e["donor_actor"][i])
            assert int(prov.labels[i, last]) == int(batch["box_labels"][d][a])
            kf = int(e["key_frame"][i])
            assert torch.equal(e["boxes"][i][last], e["paste_boxes"][i, kf])
        else:
            assert (prov.masks[i, : n[i]] == 1).all()
    assert (prov.weights == prov.valid.float()).all()


def test_donor_pairing_is_a_derangement_and_seeded():
    batch = make_batch()
    a = VideoPaste(scale_range=(0.5, 1.5), shift=0.4)(batch, torch.Generator().manual_seed(11))
    b = VideoPaste(scale_range=(0.5, 1.5), shift=0.4)(batch, torch.Generator().manual_seed(11))
    c = VideoPaste(scale_range=(0.5, 1.5), shift=0.4)(batch, torch.Generator().manual_seed(12))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.provenance.masks, b.provenance.masks)
    for k in ("donor", "donor_actor", "scale", "shift", "pasted"):
        assert torch.equal(a.extras[k], b.extras[k])
    assert all(torch.equal(u, v) for u, v in zip(a.extras["boxes"], b.extras["boxes"]))
    assert not torch.equal(a.inputs, c.inputs)
    for s in range(20):
        donor = VideoPaste()(batch, torch.Generator().manual_seed(s)).extras["donor"]
        assert sorted(donor.tolist()) == [0, 1, 2, 3] and (donor != torch.arange(4)).all()


def _occlusion_batch():
    """Clip 0's actor A sits inside clip 1's actor D's box; actor B is 20 % covered."""
    x = torch.rand(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    boxes = [torch.tensor([[6.0, 6.0, 14.0, 14.0], [16.0, 4.0, 26.0, 14.0]]),
             torch.tensor([[4.0, 4.0, 18.0, 16.0]])]
    labels = [torch.tensor([1, 2]), torch.tensor([3])]
    return {"inputs": x, "boxes": boxes, "box_labels": labels}


def test_occluded_host_actor_is_dropped():
    batch = _occlusion_batch()
    syn = VideoPaste()(batch, torch.Generator().manual_seed(0))  # no shift, no scale
    e = syn.extras
    assert e["donor"].tolist() == [1, 0] and e["pasted"].all()
    # Clip 0 gets D over A (fully covered: dropped) and over 2/10 of B's width (kept).
    torch.testing.assert_close(covered_fraction(batch["boxes"][0], e["paste_region"][0, 2]),
                               torch.tensor([1.0, 0.2]))
    assert e["occluded"][0].tolist() == [0]
    assert e["boxes"][0].tolist() == [[16.0, 4.0, 26.0, 14.0], [4.0, 4.0, 18.0, 16.0]]
    assert e["box_labels"][0].tolist() == [2, 3]
    assert syn.provenance.valid[0].tolist() == [True, True]
    # A higher threshold keeps A.
    keep = VideoPaste(occlusion_threshold=1.0)(batch, torch.Generator().manual_seed(0))
    assert keep.extras["box_labels"][0].tolist() == [1, 2, 3]


def test_host_labels_drop_makes_the_host_a_background_plate():
    batch = _occlusion_batch()
    syn = VideoPaste(host_labels="drop")(batch, torch.Generator().manual_seed(0))
    e, prov = syn.extras, syn.provenance
    # Both clips received a paste: only the pasted actor keeps a label, and it owns P only.
    assert e["box_labels"][0].tolist() == [3] and e["box_labels"][1].tolist() == [1]
    assert e["boxes"][0].tolist() == [[4.0, 4.0, 18.0, 16.0]]
    assert prov.valid.tolist() == [[True], [True]]
    for i in range(2):
        assert torch.equal(prov.masks[i, 0], e["paste_region"][i])
    # The host pixels outside P are untouched (the host actors stay visible, unlabelled).
    keep = e["paste_region"][0].bool().unsqueeze(0)
    assert torch.equal(syn.inputs[0][~keep.expand_as(syn.inputs[0])],
                       batch["inputs"][0][~keep.expand_as(syn.inputs[0])])
    # A clip without a paste keeps its own actors, each owning the whole clip.
    none = VideoPaste(host_labels="drop", prob=0.0)(batch, torch.Generator().manual_seed(0))
    assert none.extras["box_labels"][0].tolist() == [1, 2]
    assert (none.provenance.masks[0, :2] == 1).all()


def test_occluded_host_actor_is_marked():
    batch = _occlusion_batch()
    syn = VideoPaste(occluded="mark")(batch, torch.Generator().manual_seed(0))
    e, prov = syn.extras, syn.provenance
    assert e["box_labels"][0].tolist() == [1, 2, 3]
    assert prov.valid[0].tolist() == [False, True, True]
    assert prov.weights[0].tolist() == [0.0, 1.0, 1.0]
    assert e["box_valid"][0].tolist() == [False, True, True]
    assert torch.equal(prov.masks[0, 0], 1 - e["paste_region"][0])


def test_clips_without_actors():
    x = torch.rand(3, 3, 4, 16, 16)
    empty = {"inputs": x, "boxes": [torch.zeros(0, 4)] * 3,
             "box_labels": [torch.zeros(0, dtype=torch.long)] * 3}
    syn = VideoPaste()(empty, torch.Generator().manual_seed(0))
    assert torch.equal(syn.inputs, x) and not syn.extras["pasted"].any()
    assert syn.provenance.masks.shape == (3, 1, 4, 16, 16) and not syn.provenance.valid.any()
    # A host without actors receives only the pasted one, which then owns its region.
    one = dict(empty, boxes=[torch.zeros(0, 4), torch.tensor([[2.0, 2.0, 10.0, 12.0]]), torch.zeros(0, 4)],
               box_labels=[torch.zeros(0, dtype=torch.long), torch.tensor([5]), torch.zeros(0, dtype=torch.long)])
    syn = VideoPaste()(one, torch.Generator().manual_seed(0))
    e = syn.extras
    (host,) = (e["donor"] == 1).nonzero(as_tuple=True)[0].tolist()
    assert e["box_labels"][host].tolist() == [5]
    assert torch.equal(syn.provenance.masks[host, 0], e["paste_region"][host])


def test_per_frame_tubes_and_prob():
    x = torch.rand(2, 3, 4, 24, 24)
    tube = torch.tensor([[2.0, 2.0, 8.0, 10.0], [4.0, 2.0, 10.0, 10.0],
                         [float("nan")] * 4, [8.0, 2.0, 14.0, 10.0]])
    batch = {"inputs": x, "boxes": [tube[1:2], tube[1:2]], "box_labels": [torch.tensor([1]), torch.tensor([2])],
             "tubes": [tube.unsqueeze(0), tube.unsqueeze(0)], "key_frame": 1}
    syn = VideoPaste(occlusion_threshold=1.0)(batch, torch.Generator().manual_seed(0))
    reg = syn.extras["paste_region"][0]
    assert reg[2].sum() == 0  # the actor is absent in frame 2: nothing pasted there
    for f, x0 in ((0, 2), (1, 4), (3, 8)):
        assert reg[f, 2:10, x0:x0 + 6].all() and reg[f].sum() == 48
    assert syn.extras["boxes"][0][-1].tolist() == [4.0, 2.0, 10.0, 10.0]
    none = VideoPaste(prob=0.0)(batch, torch.Generator().manual_seed(0))
    assert torch.equal(none.inputs, x) and not none.extras["pasted"].any()


def test_multi_hot_labels_and_box_provenance():
    batch = _occlusion_batch()
    batch["box_labels"] = [torch.tensor([[0, 1, 0, 0], [0, 0, 1, 1]]), torch.tensor([[0, 0, 0, 1]])]
    syn = VideoPaste(occluded="mark")(batch, torch.Generator().manual_seed(0))
    assert syn.provenance.labels[0].tolist() == [1, 2, 3]  # first positive class
    assert syn.extras["box_labels"][0].shape == (3, 4)
    prov = box_provenance(batch["inputs"], batch["boxes"], batch["box_labels"])
    assert prov.labels.tolist() == [[1, 2], [3, 0]] and prov.valid.tolist() == [[True, True], [True, False]]
    assert (prov.masks[:, 0] == 1).all()


def test_covered_fraction_hand_computed():
    region = torch.zeros(10, 10)
    region[2:6, 2:6] = 1
    boxes = torch.tensor([[2.0, 2.0, 6.0, 6.0], [0.0, 0.0, 4.0, 4.0], [4.0, 4.0, 8.0, 8.0],
                          [5.5, 2.0, 6.5, 3.0], [8.0, 8.0, 9.0, 9.0]])
    torch.testing.assert_close(covered_fraction(boxes, region), torch.tensor([1.0, 0.25, 0.25, 0.5, 0.0]))


def test_options_validated_and_registered():
    with pytest.raises(ValueError, match="occluded"):
        VideoPaste(occluded="hide")
    with pytest.raises(ValueError, match="host_labels"):
        VideoPaste(host_labels="hide")
    with pytest.raises(ValueError, match="scale_range"):
        VideoPaste(scale_range=(1.5, 1.0))
    with pytest.raises(ValueError, match="clips"):
        VideoPaste()({"inputs": torch.rand(2, 3, 8, 8), "boxes": [], "box_labels": []})
    register_synthesizers()
    register_synthesizers()  # idempotent
    assert registry.SYNTHESIZERS.get("video_paste") is VideoPaste
    assert registry.SYNTHESIZERS.meta("video_paste")["modality"] == "video"
    assert isinstance(registry.SYNTHESIZERS.build("video_paste", shift=0.1), VideoPaste)
