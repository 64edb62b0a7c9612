import pytest
import torch
from torch import nn

from pgg_zoo import Provenance, ProvenanceGuidance
from pgg_zoo.engine import PGGModel
from pgg_zoo.synthesizers import CutMix


def _prov(masks, labels, valid=None, channels=1):
    b = masks.shape[0]
    return Provenance(masks, labels, torch.full(labels.shape, 0.5, dtype=masks.dtype),
                      input_shape=(b, channels, *masks.shape[2:]), valid=valid)


def test_linear_model_closed_form():
    """f(x) = W x: the input gradient of logit c is W[c], so the penalty is closed form."""
    torch.manual_seed(0)
    b, c, h, w, k = 3, 2, 4, 4, 5
    W = torch.randn(k, c * h * w, dtype=torch.float64)
    x = torch.randn(b, c, h, w, dtype=torch.float64, requires_grad=True)
    logits = x.flatten(1) @ W.T
    labels = torch.tensor([[0, 3], [1, 1], [4, 2]])
    masks = (torch.rand(b, 2, h, w) > 0.5).double()
    prov = _prov(masks, labels, channels=c)
    g = ProvenanceGuidance(alpha=0.07)
    value = g.penalty(x, logits.gather(1, labels), prov)

    expected = 0.0
    for i in range(b):
        for l in range(2):
            grad = W[labels[i, l]].view(c, h, w)
            off = (1 - masks[i, l]).view(1, h, w)
            expected += ((off * grad) ** 2).sum().item()
    expected /= b
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert g(x, logits.gather(1, labels), prov).item() == pytest.approx(0.07 * expected, rel=1e-6)


def test_full_mask_gives_zero_and_none_mask_penalizes_everything():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 16, 4))
    x = torch.randn(2, 1, 4, 4, requires_grad=True)
    labels = torch.tensor([[0, 1], [2, 3]])
    prov = _prov(torch.ones(2, 2, 4, 4), labels)
    ll = net(x).gather(1, labels)
    assert ProvenanceGuidance(mask="provenance").penalty(x, ll, prov).item() == 0.0
    assert ProvenanceGuidance(mask="none").penalty(x, ll, prov).item() > 0.0


def test_invalid_slots_do_not_count():
    torch.manual_seed(2)
    W = torch.randn(4, 16)
    x = torch.randn(2, 1, 4, 4, requires_grad=True)
    labels = torch.tensor([[0, 1], [2, 3]])
    masks = torch.zeros(2, 2, 4, 4)
    valid = torch.tensor([[True, False], [True, False]])
    ll = (x.flatten(1) @ W.T).gather(1, labels)
    got = ProvenanceGuidance().penalty(x, ll, _prov(masks, labels, valid)).item()
    want = (W[0].pow(2).sum() + W[2].pow(2).sum()).item() / 2
    assert got == pytest.approx(want, rel=1e-5)


def test_penalty_weight_gradient_matches_finite_differences():
    """Double backprop: gradgradcheck-style check of d penalty / d weights on a tiny MLP."""
    torch.manual_seed(3)
    x0 = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    labels = torch.tensor([[0, 1], [1, 2]])
    masks = (torch.rand(2, 2, 3, 3) > 0.4).double()
    prov = _prov(masks, labels)
    w1 = torch.randn(5, 9, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    guidance = ProvenanceGuidance(alpha=1.0)

    def penalty(a, b):
        x = x0.clone().requires_grad_(True)
        logits = torch.tanh(x.flatten(1) @ a.T) @ b.T
        return guidance.penalty(x, logits.gather(1, labels), prov)

    assert torch.autograd.gradcheck(penalty, (w1, w2), eps=1e-6, atol=1e-6)


def test_penalty_is_fp32_under_autocast():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    labels = torch.tensor([[0, 1], [1, 2]])
    prov = _prov(torch.rand(2, 2, 8, 8), labels, channels=3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ll = net(x).gather(1, labels)
        assert ll.dtype == torch.bfloat16
        pen = ProvenanceGuidance().penalty(x, ll, prov)
    assert pen.dtype == torch.float32
    pen.backward()
    assert net[0].weight.grad is not None


def _train(alpha, steps=4):
    torch.manual_seed(0)
    net = _Net()
    model = PGGModel(net, CutMix(), ProvenanceGuidance(alpha=alpha), seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(5)
    for _ in range(steps):
        x = torch.randn(4, 3, 8, 8, generator=g)
        y = torch.randint(0, 3, (4,), generator=g)
        losses = model.loss({"inputs": x, "labels": y})
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    return model, losses


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x, batch=None):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    def label_logits(self, out, prov, batch):
        return out.gather(1, prov.labels)

    def task_loss(self, out, prov, batch):
        nll = -torch.log_softmax(out, 1).gather(1, prov.labels)
        return (nll * prov.weights * prov.valid).sum(1).mean()


def _train_plain(steps=4):
    """The same CutMix training written out without PGGModel or ProvenanceGuidance: same
    initialization, same synthesized batches (CutMix driven by a generator seeded like
    PGGModel's), soft-target cross-entropy, SGD."""
    torch.manual_seed(0)
    net = _Net()
    cutmix, gen = CutMix(), torch.Generator().manual_seed(0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(5)
    for _ in range(steps):
        x = torch.randn(4, 3, 8, 8, generator=g)
        y = torch.randint(0, 3, (4,), generator=g)
        synth = cutmix({"inputs": x, "labels": y}, gen)
        p = synth.provenance
        nll = -torch.log_softmax(net(synth.inputs), 1).gather(1, p.labels)
        loss = (nll * p.weights * p.valid).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def test_alpha_zero_equals_plain_training_and_alpha_changes_weights():
    plain = _train_plain()
    off, losses = _train(alpha=0.0)
    assert set(losses) == {"loss_task"}
    for a, b in zip(plain.parameters(), off.parameters()):
        assert torch.equal(a, b)
    guided, losses = _train(alpha=5.0)
    assert set(losses) == {"loss_task", "loss_pgg"}
    assert any(not torch.allclose(a, b) for a, b in zip(plain.parameters(), guided.parameters()))


def test_random_mask_control_is_a_derangement():
    g = ProvenanceGuidance(mask="random")
    masks = torch.arange(5).float().view(5, 1, 1, 1).expand(5, 1, 2, 2) / 4
    prov = Provenance(masks.contiguous(), torch.zeros(5, 1, dtype=torch.long), input_shape=(5, 1, 2, 2))
    off = g.off_masks(prov, torch.Generator().manual_seed(0))
    src = (1 - off[:, 0, 0, 0]) * 4
    assert sorted(src.round().long().tolist()) == [0, 1, 2, 3, 4]
    assert all(int(s) != i for i, s in enumerate(src.round().long().tolist()))


def test_bad_config():
    with pytest.raises(ValueError):
        ProvenanceGuidance(alpha=-1)
    with pytest.raises(ValueError, match="mask"):
        ProvenanceGuidance(mask="boxes")
    with pytest.raises(KeyError, match="Available"):
        ProvenanceGuidance(mode="exactt")


def test_sum_reduction_is_batch_size_times_mean():
    W = torch.randn(3, 16)
    x = torch.randn(4, 1, 4, 4, requires_grad=True)
    labels = torch.tensor([[0], [1], [2], [0]])
    prov = _prov(torch.zeros(4, 1, 4, 4), labels)
    ll = (x.flatten(1) @ W.T).gather(1, labels)
    mean = ProvenanceGuidance(reduction="mean").penalty(x, ll, prov)
    total = ProvenanceGuidance(reduction="sum").penalty(x, ll, prov)
    assert total.item() == pytest.approx(4 * mean.item(), rel=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        ProvenanceGuidance(reduction="max")


def test_share_mode_is_the_off_mask_share_and_ignores_gradient_scale():
    """f(x) = s W x: the share mode's penalty is sum_off W^2 / sum W^2 whatever s is, while the
    exact mode's grows as s^2 (the rescaling the share mode is meant not to reward)."""
    torch.manual_seed(1)
    b, c, h, w, k = 2, 2, 3, 3, 4
    W = torch.randn(k, c * h * w, dtype=torch.float64)
    labels = torch.tensor([[0, 2], [3, 1]])
    masks = (torch.rand(b, 2, h, w) > 0.5).double()
    prov = _prov(masks, labels, channels=c)
    expected = 0.0
    for i in range(b):
        for l in range(2):
            grad = W[labels[i, l]].view(c, h, w)
            off = (1 - masks[i, l]).view(1, h, w)
            expected += ((off * grad) ** 2).sum().item() / (grad ** 2).sum().item()
    expected /= b
    values = {}
    for s in (1.0, 10.0):
        x = torch.randn(b, c, h, w, dtype=torch.float64, requires_grad=True)
        logits = (x.flatten(1) @ (s * W).T).gather(1, labels)
        values[s] = (ProvenanceGuidance(mode="share").penalty(x, logits, prov).item(),
                     ProvenanceGuidance(mode="exact").penalty(x, logits, prov).item())
    assert values[1.0][0] == pytest.approx(expected, rel=1e-6)
    assert values[10.0][0] == pytest.approx(expected, rel=1e-6)
    assert values[10.0][1] == pytest.approx(100 * values[1.0][1], rel=1e-6)
