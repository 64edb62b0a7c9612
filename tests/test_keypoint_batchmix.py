"""BatchMix: persons of several videos in one sample, with (person, frame, keypoint) provenance."""
import pytest
import torch

import pgg_zoo
from pgg_zoo_tasks.keypoint.batchmix import BatchMix


def batch(b=6, m=2, t=4, v=5, labels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, m, t, v, generator=g)
    x[:, 2] = x[:, 2] * 0.5 + 0.5
    x[0, :, 1] = 0  # video 0 has a single person (an empty slot)
    labels = torch.tensor(labels if labels is not None else list(range(b)))
    return {"inputs": x, "labels": labels}


def test_registered_and_built_by_name():
    assert "batchmix" in pgg_zoo.list_synthesizers()
    synth = pgg_zoo.SYNTHESIZERS.build("batchmix", num_sources=3, provenance="source")
    assert isinstance(synth, BatchMix) and synth.num_sources == 3


@pytest.mark.parametrize("k", [2, 3])
def test_output_persons_come_from_the_sources_the_masks_say(k):
    bt = batch()
    x = bt["inputs"]
    out = BatchMix(num_sources=k, provenance="source")(bt, torch.Generator().manual_seed(1))
    y, prov, ex = out.inputs, out.provenance, out.extras
    b, _, m, t, v = x.shape
    assert y.shape == (b, 3, k * m, t, v)
    assert prov.masks.shape == (b, k, k * m, t, v)
    # The masks partition every sample's elements.
    assert torch.equal(prov.masks.sum(1), torch.ones(b, k * m, t, v))
    for i in range(b):
        for s in range(k * m):
            src = int(ex["slot_source"][i, s])
            video = int(ex["sources"][i, src])
            assert torch.equal(y[i, :, s], x[video, :, int(ex["slot_person"][i, s])])
            assert bool((prov.masks[i, src, s] == 1).all())
        assert prov.labels[i].tolist() == bt["labels"][ex["sources"][i]].tolist()
    # Weights: each source's share of the present keypoints.
    present = (y[:, 2] > 0).float()
    share = (prov.masks * present[:, None]).flatten(2).sum(2)
    torch.testing.assert_close(prov.weights, share / share.sum(1, keepdim=True))
    assert ex["sources"][:, 0].tolist() == list(range(b))


def test_label_level_merges_same_class_sources():
    bt = batch(labels=[1, 1, 1, 2, 2, 2])
    out_l = BatchMix()(bt, torch.Generator().manual_seed(3))
    out_s = BatchMix(provenance="source")(bt, torch.Generator().manual_seed(3))
    assert torch.equal(out_l.inputs, out_s.inputs)
    same = out_s.provenance.labels[:, 0] == out_s.provenance.labels[:, 1]
    assert bool(same.any()) and bool((~same).any())
    pl = out_l.provenance
    # A sample of one class: its label owns every element, weight 1, the duplicate slot off.
    assert bool((pl.masks[same, 0] == 1).all())
    assert not bool(pl.valid[same, 1].any())
    torch.testing.assert_close(pl.weights[same, 0], torch.ones(int(same.sum())))
    # Distinct classes: unchanged.
    assert torch.equal(pl.masks[~same], out_s.provenance.masks[~same])


def test_unmixed_samples_own_everything_and_reproducibility():
    bt = batch()
    out = BatchMix(prob=0.0)(bt, torch.Generator().manual_seed(0))
    prov = out.provenance
    assert not bool(prov.valid[:, 1].any())
    assert bool((prov.masks[:, 0] == 1).all())
    assert torch.equal(out.inputs[:, :, out.extras["slot_source"][0] == 1][0],
                       torch.zeros_like(out.inputs[:, :, :2][0]))
    a = BatchMix()(bt, torch.Generator().manual_seed(7))
    b = BatchMix()(bt, torch.Generator().manual_seed(7))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.provenance.masks, b.provenance.masks)
    # Person slots are shuffled per sample, so layouts differ between samples (the
    # random-mask control then uses masks unrelated to the true ones).
    layouts = {tuple(r.tolist()) for r in a.extras["slot_source"]}
    assert len(layouts) > 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_sources"):
        BatchMix(num_sources=1)
    with pytest.raises(ValueError, match="provenance"):
        BatchMix(provenance="pixel")
    with pytest.raises(ValueError, match=r"\(B, C, M, T, V\)"):
        BatchMix()({"inputs": torch.zeros(2, 3, 4, 4), "labels": torch.zeros(2)})
