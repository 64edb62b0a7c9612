"""Gradient leakage: analytic values, the engine's logging, and the validation carve."""

import pytest

import pgg_zoo
import torch
from torch import nn

from pgg_zoo import Provenance, Task
from pgg_zoo.guidance import LeakageMeter, gradient_leakage, gradient_mass
from pgg_zoo.study import choose_alpha
from pgg_zoo.synthesizers import RecordedProvenance


def test_linear_model_leakage_is_the_off_mask_share_of_w_squared():
    # f_l(x) = w_l . x, so d f_l / dx = w_l and the leakage is sum_off w^2 / sum w^2.
    w = torch.tensor([[1.0, 2.0, 3.0, 4.0], [2.0, 0.0, 0.0, 1.0]])
    x = torch.zeros(1, 1, 2, 2, requires_grad=True)
    logits = x.flatten(1) @ w.T  # (1, 2): slot l reads row l
    masks = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]]])  # (1, 2, 2, 2)
    prov = Provenance(masks, torch.tensor([[0, 1]]), input_shape=x.shape)
    share, chance, counted = gradient_leakage(x, logits, prov)
    assert counted.tolist() == [[True, True]]
    # slot 0 owns elements 0, 1: off = {2, 3} -> (9 + 16) / 30; slot 1 owns 2, 3 -> 4 / 5.
    assert torch.allclose(share, torch.tensor([[25 / 30, 4 / 5]]))
    assert torch.allclose(chance, torch.tensor([[0.5, 0.5]]))
    meter = LeakageMeter()
    meter.update(share, chance, counted)
    assert meter.result()["leakage"] == pytest.approx(100 * (25 / 30 + 4 / 5) / 2)


def test_owning_everything_or_invalid_does_not_count():
    x = torch.rand(2, 1, 2, 2, requires_grad=True)
    logits = (x.flatten(1) * torch.arange(1.0, 5.0)).sum(1, keepdim=True).repeat(1, 2)
    masks = torch.ones(2, 2, 2, 2)
    masks[0, 1, 0, 0] = 0.0  # input 0, slot 1 owns less than everything but is invalid
    valid = torch.tensor([[True, False], [True, True]])
    prov = Provenance(masks, torch.zeros(2, 2, dtype=torch.long), input_shape=x.shape,
                      valid=valid)
    _, _, counted = gradient_leakage(x, logits, prov)
    assert not counted.any()
    assert LeakageMeter().result() == {}


def test_recorded_synthesizer_checks_shape_and_key():
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(KeyError, match="provenance_masks"):
        RecordedProvenance()({"inputs": x, "labels": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"expected \(2, 1, 4, 4\)"):
        RecordedProvenance()({"inputs": x, "labels": torch.zeros(2),
                              "provenance_masks": torch.ones(2, 1, 4, 5)})
    m = torch.ones(2, 1, 4, 4)
    m[1, 0, :2, :2] = 0
    out = RecordedProvenance()({"inputs": x, "labels": torch.tensor([3, 4]),
                                "provenance_masks": m})
    assert out.provenance.labels.tolist() == [[3], [4]]
    assert out.extras["synthesized"].tolist() == [False, True]


class _ListData(torch.utils.data.Dataset):
    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return i


class _Probe(Task):
    name = "probe"

    def build_model(self):
        return nn.Linear(1, 1)

    def build_dataset(self, split):
        if split == "val":
            raise AssertionError("a task without a native val split is never asked for one")
        return _ListData([0] * 10 + [1] * 10) if split == "train" else _ListData([0, 1])


def test_val_is_carved_from_train_and_left_out_only_when_evaluating_on_val():
    t = pgg_zoo.build(_Probe, val_fraction=0.2)
    val = list(t.dataset("val"))
    assert len(val) == 4  # 2 of each class
    assert len(t.dataset("train")) == 20  # evaluating on test: train on everything
    t.run = t.run.replace(eval_split="val")
    train = list(t.dataset("train"))
    assert sorted(train + val) == list(range(20)) and not set(train) & set(val)
    assert len(t.dataset("test")) == 2


def test_choose_alpha_prefers_best_mean_then_smaller():
    assert choose_alpha({0.0: [50, 52], 1.0: [60, 62], 10.0: [61, 61]}) == 1.0
    assert choose_alpha({0.0: [70, 70], 1.0: [60, 60]}) == 0.0


def test_limit_train_spreads_over_a_class_sorted_set():
    from pgg_zoo.engine.runner import limited_indices

    labels = [0] * 50 + [1] * 50 + [2] * 50  # stored sorted by class, as the benchmarks are
    kept = limited_indices(len(labels), 6, spread=True)
    assert len(kept) == 6 and {labels[i] for i in kept} == {0, 1, 2}
    assert limited_indices(len(labels), 6, spread=False) == list(range(6))


def test_map_leakage_is_the_off_mask_share_of_positive_map_mass():
    from pgg_zoo.guidance import map_leakage

    # slot 0 owns the top row: its map has mass 1 + 2 there and 3 (+ a clipped -5) below.
    maps = torch.tensor([[[[1.0, 2.0], [3.0, -5.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    masks = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]]])
    prov = Provenance(masks, torch.tensor([[0, 1]]), input_shape=(1, 3, 2, 2))
    share, chance, counted = map_leakage(maps, prov)
    assert counted.tolist() == [[True, False]]  # an all-zero map does not count
    assert share[0, 0].item() == pytest.approx(3 / 6)
    assert chance[0, 0].item() == pytest.approx(0.5)
    meter = LeakageMeter(name="cam_leakage")
    meter.update(share, chance, counted)
    assert meter.result() == pytest.approx({"cam_leakage": 50.0, "cam_leakage_chance": 50.0,
                                            "cam_leakage_slots": 1.0})
    with pytest.raises(ValueError, match="do not match"):
        map_leakage(maps[:, :, :1], prov)


def test_cam_classifier_label_maps_are_relu_cams_of_each_label():
    from pgg_zoo.guidance import LocalizingModel
    from pgg_zoo.vision.cam import CAMClassifier

    class Identity(nn.Module):
        out_channels = 2

        def forward(self, x):
            return x[:, :2]

    model = CAMClassifier(Identity(), num_classes=3)
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
    assert isinstance(model, LocalizingModel)
    x = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]], [[4.0, 0.0], [1.0, 1.0]], [[0.0] * 2] * 2]])
    prov = Provenance(torch.ones(1, 2, 2, 2), torch.tensor([[2, 1]]), input_shape=x.shape)
    maps = model.label_maps(model(x), prov, {})
    # class 2 = channel 0 - channel 1, clipped at 0; class 1 = channel 1 (same grid: no resize)
    assert torch.equal(maps[0, 0], torch.tensor([[0.0, 2.0], [0.0, 2.0]]))
    assert torch.equal(maps[0, 1], torch.tensor([[4.0, 0.0], [1.0, 1.0]]))


def test_gradient_mass_of_a_linear_model():
    """logit_l = sum_c,grid w_l[c, grid] * x[c, grid]: the input gradient is w_l itself, so the
    mass is sum_c w_l^2 per element, the same for every input; an invalid slot is zero."""
    w = torch.randn(2, 3, 4, 5)  # (L, C, H, W)
    x = torch.randn(3, 3, 4, 5, requires_grad=True)
    logits = torch.einsum("lchw,bchw->bl", w, x)
    valid = torch.tensor([[True, True], [True, False], [False, False]])
    mass = gradient_mass(x, logits, valid)
    assert mass.shape == (3, 2, 4, 5) and not mass.requires_grad
    expect = w.pow(2).sum(1)  # (L, H, W)
    torch.testing.assert_close(mass[0], expect)
    torch.testing.assert_close(mass[1, 0], expect[0])
    assert mass[1, 1].abs().sum() == 0 and mass[2].abs().sum() == 0


def test_stratified_sample_keeps_class_shares():
    from pgg_zoo.data import stratified_sample

    labels = [0] * 6 + [1] * 3 + [2] * 1
    pick = stratified_sample(labels, 5)
    # by hand: shares 3.0 / 1.5 / 0.5 -> floors 3 / 1 / 0; the one place left goes to the
    # larger remainder, a tie between classes 1 and 2 broken by the class listed first
    assert [sum(labels[i] == c for i in pick) for c in (0, 1, 2)] == [3, 2, 0]
    assert pick == sorted(pick) and pick == stratified_sample(labels, 5)  # fixed
    assert stratified_sample(10, 5) == [0, 2, 4, 6, 8]  # no labels: evenly spaced
    assert stratified_sample(labels, 99) == list(range(10))


def test_decoy_leakage_sample_covers_every_class_the_same_for_paired_runs(bench_home):
    """The decoy test split is stored sorted by class: the first 256 items are classes 0-4
    only. The leakage sample must hold every class, in proportion, and be the same items for
    any variant and seed."""
    from pgg_zoo.data import dataset_labels
    from pgg_zoo.engine.runner import _leakage_loader

    plain = pgg_zoo.build("decoy", guidance=False, seed=0)
    labels = dataset_labels(plain.dataset("test"))
    assert sorted(set(labels[:256])) == [0, 1, 2, 3, 4]  # what the old prefix measured
    loader, declared = _leakage_loader(plain, "test", plain.dataset("test"))
    assert not declared and len(loader.dataset) == 256
    seen = [int(y) for b in loader for y in b["data_samples"]["labels"]]
    counts = [seen.count(c) for c in range(10)]
    total = len(labels)
    assert all(abs(counts[c] - 256 * labels.count(c) / total) < 1 for c in range(10))
    random_mask = pgg_zoo.build("decoy", guidance_mask="random", seed=4)
    other, _ = _leakage_loader(random_mask, "test", random_mask.dataset("test"))
    assert list(other.dataset.dataset.indices) == list(loader.dataset.dataset.indices)
