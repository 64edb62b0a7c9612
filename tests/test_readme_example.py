"""README's own-training-loop example: it is the tested file, and its penalty is the method's.

The golden values come from hand derivations that use none of pgg_zoo's mask or penalty code:
CutMix's random draws (pairing, boxes) are read from its ``extras``; the masks, the mixed inputs
and the penalty are rebuilt here from them.
"""
from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from pgg_zoo import CutMix, Provenance, ProvenanceGuidance
from pgg_zoo.classifier import label_logits, soft_targets

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "own_training_loop.py"


def _example():
    spec = importlib.util.spec_from_file_location("own_training_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _box(box: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(H, W)`` 1 inside the end-exclusive ``(y0, x0, y1, x1)`` box, by enumeration."""
    y0, x0, y1, x1 = (int(v) for v in box)
    out = torch.zeros(height, width)
    for y in range(y0, y1):
        for x in range(x0, x1):
            out[y, x] = 1.0
    return out


def _draws(images: torch.Tensor, labels: torch.Tensor, seed: int):
    """The pairing, boxes and mixed flags the example's first CutMix call draws with ``seed``."""
    extras = CutMix()({"inputs": images, "labels": labels},
                      torch.Generator().manual_seed(seed)).extras
    return extras["perm"], extras["boxes"], extras["mixed"]


def _penalized_slots(images, labels, seed):
    """Per input ``(host class, pasted class, off-mask of host, off-mask of pasted)``, or None
    when nothing is penalized (unmixed, or both sources of one class: the label owns it all)."""
    perm, boxes, mixed = _draws(images, labels, seed)
    h, w = images.shape[-2:]
    slots = []
    for b in range(images.shape[0]):
        host, pasted = int(labels[b]), int(labels[perm[b]])
        if not bool(mixed[b]) or host == pasted:
            slots.append(None)
            continue
        inside = _box(boxes[b], h, w)
        # The host label does not own the pasted box; the pasted label owns only the box.
        slots.append((host, pasted, inside, 1.0 - inside))
    return slots


def _one_step(model, images, labels, alpha, seed, lr):
    """The example's ``train`` for one epoch of one batch with SGD; returns the trained model."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    _example().train(model, [(images, labels)], optimizer, epochs=1, alpha=alpha, seed=seed)
    return model


def _data(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(8, 2, 6, 6, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    return images, labels


def test_readme_block_is_the_example_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks, (
        "README.md's own-training-loop block differs from docs/examples/own_training_loop.py; "
        "copy the file into the README")


def test_penalty_weight_gradient_on_a_linear_model_is_the_hand_derived_one():
    # f(x) = W x + c: label y's input gradient is the row W[y], so the penalty is
    # mean_b sum_l ||off_bl * W[y_bl]||^2 and its weight gradient on row y is
    # (2 / B) sum_{(b, l): y_bl = y} off_bl^2 * W[y]. One SGD step with and without guidance
    # differs by exactly lr * alpha * that gradient (the task loss's gradient is shared).
    images, labels = _data()
    seed, alpha, lr = 2, 0.5, 1.0
    slots = _penalized_slots(images, labels, seed)
    assert any(s is None for s in slots) and sum(s is not None for s in slots) >= 3, (
        "the data must hold both penalized pairs and same-class/unmixed ones")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    w0 = model[1].weight.detach().clone().view(3, 2, 6, 6)

    expected = torch.zeros_like(w0)
    for slot in slots:
        if slot is not None:
            host, pasted, off_host, off_pasted = slot
            expected[host] += 2 * off_host ** 2 * w0[host] / len(slots)
            expected[pasted] += 2 * off_pasted ** 2 * w0[pasted] / len(slots)

    plain = _one_step(model, images, labels, alpha=0.0, seed=seed, lr=lr)
    guided = _one_step(model, images, labels, alpha=alpha, seed=seed, lr=lr)
    weight_step = (plain[1].weight - guided[1].weight).detach().view_as(w0)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(weight_step, lr * alpha * expected, atol=1e-6, rtol=1e-5)
    # The input gradient does not depend on the bias: the penalty leaves it alone.
    torch.testing.assert_close(plain[1].bias, guided[1].bias, atol=0.0, rtol=0.0)


def test_penalty_weight_gradient_on_a_conv_net_matches_plain_double_backprop():
    # A nonlinear model: the reference penalty is rebuilt with torch.autograd alone, on inputs
    # mixed here from CutMix's draws, and its parameter gradient compared with the example's.
    images, labels = _data(1)
    seed, alpha, lr = 5, 2.0, 0.1
    slots = _penalized_slots(images, labels, seed)
    assert any(s is not None for s in slots)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3),
                          nn.Softplus(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))

    perm, boxes, _ = _draws(images, labels, seed)
    mixed = images.clone()
    for b in range(images.shape[0]):
        inside = _box(boxes[b], 6, 6).bool()
        mixed[b][:, inside] = images[perm[b]][:, inside]
    ref = copy.deepcopy(model)
    x = mixed.requires_grad_()
    logits = ref(x)
    penalty = torch.zeros(())
    for b, slot in enumerate(slots):
        if slot is not None:
            host, pasted, off_host, off_pasted = slot
            for cls, off in ((host, off_host), (pasted, off_pasted)):
                (g,) = torch.autograd.grad(logits[b, cls], x, create_graph=True)
                penalty = penalty + ((off * g[b]) ** 2).sum()
    penalty = penalty / len(slots)
    ref_grads = [torch.zeros_like(p) if g is None else g for p, g in zip(
        ref.parameters(), torch.autograd.grad(penalty, list(ref.parameters()), allow_unused=True))]

    plain = _one_step(model, images, labels, alpha=0.0, seed=seed, lr=lr)
    guided = _one_step(model, images, labels, alpha=alpha, seed=seed, lr=lr)
    for p_plain, p_guided, g in zip(plain.parameters(), guided.parameters(), ref_grads):
        torch.testing.assert_close((p_plain - p_guided).detach(), lr * alpha * g,
                                   atol=1e-6, rtol=1e-4)
    assert max(g.abs().max() for g in ref_grads) > 1e-3


def test_label_logits_and_soft_targets_read_each_valid_slot():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])
    prov = Provenance(torch.full((2, 3, 2, 2), 0.5), torch.tensor([[3, 1, 3], [2, 9, 0]]),
                      torch.tensor([[0.6, 0.3, 0.1], [0.7, 0.2, 0.1]]),
                      input_shape=(2, 1, 2, 2),
                      valid=torch.tensor([[True, True, True], [True, False, True]]))
    # The padding slot's class 9 is out of range: it must not be read.
    assert label_logits(logits, prov).tolist() == [[3.0, 1.0, 3.0], [6.0, 4.0, 4.0]]
    targets = soft_targets(prov, 4)
    torch.testing.assert_close(targets, torch.tensor([[0.0, 0.3, 0.0, 0.7],
                                                      [0.1, 0.0, 0.7, 0.0]]))


def test_penalty_value_on_a_linear_model_is_the_masked_weight_row_norm():
    images, labels = _data()
    seed = 3
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    w = model[1].weight.detach().view(3, 2, 6, 6)
    batch = CutMix()({"inputs": images, "labels": labels}, torch.Generator().manual_seed(seed))
    inputs = batch.inputs.requires_grad_()
    logits = model(inputs)
    got = ProvenanceGuidance(alpha=1.0).penalty(inputs, label_logits(logits, batch.provenance),
                                                batch.provenance)
    slots = _penalized_slots(images, labels, seed)
    want = sum(((off_h * w[h]) ** 2).sum() + ((off_p * w[p]) ** 2).sum()
               for h, p, off_h, off_p in filter(None, slots)) / len(slots)
    assert float(want) > 0
    assert float(got) == pytest.approx(float(want), rel=1e-5)
