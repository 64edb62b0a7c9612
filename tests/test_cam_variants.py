"""CAM classifier variants (WSOL options ``loss`` and ``cam_logits``, backbones ``tiny_cam_nobn``
/ ``_gelu`` / ``_softplus``), checked against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import pgg_zoo
from pgg_zoo.provenance import Provenance
from pgg_zoo.vision.backbones import Features, build_backbone
from pgg_zoo.vision.cam import CAMClassifier, soft_target_binary_cross_entropy


def _prov(labels, weights, valid, grid=(2, 2)) -> Provenance:
    labels = torch.tensor(labels)
    return Provenance(masks=torch.ones(*labels.shape, *grid), labels=labels,
                      weights=torch.tensor(weights), valid=torch.tensor(valid),
                      input_shape=(labels.shape[0], 2, *grid))


def test_binary_cross_entropy_on_mixed_targets():
    # softplus(z) - t z per class, summed: targets (0.75, 0.25, 0) for logits (2, 0, -1)
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    loss = soft_target_binary_cross_entropy(logits, _prov([[0, 1]], [[0.75, 0.25]],
                                                          [[True, True]]))
    sp = lambda z: math.log1p(math.exp(z))  # noqa: E731
    want = (sp(2) - 0.75 * 2) + sp(0) + sp(-1)
    assert float(loss) == pytest.approx(want, abs=1e-6)
    # an invalid slot adds no target; one class twice is clipped to 1
    both = soft_target_binary_cross_entropy(logits, _prov([[0, 0]], [[0.6, 0.6]], [[True, True]]))
    assert float(both) == pytest.approx((sp(2) - 2) + sp(0) + sp(-1), abs=1e-6)
    invalid = soft_target_binary_cross_entropy(logits, _prov([[0, 1]], [[0.75, 0.25]],
                                                             [[True, False]]))
    assert float(invalid) == pytest.approx((sp(2) - 1.5) + sp(0) + sp(-1), abs=1e-6)


def _identity_model(**kw) -> CAMClassifier:
    m = CAMClassifier(Features(nn.Identity(), 2), 2, **kw)
    with torch.no_grad():
        m.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        m.fc.bias.copy_(torch.tensor([0.5, 0.0]))
    return m


def test_relu_mean_logits_and_where_their_gradient_lives():
    x = torch.tensor([[[[1.0, -2.0], [0.0, 3.0]], [[-1.0, 1.0], [2.0, -4.0]]]],
                     requires_grad=True)  # (1, 2 channels, 2, 2)
    out = _identity_model(logit_pool="relu_mean")(x)
    # class 0 map: ch0 + 0.5 = (1.5, -1.5, 0.5, 3.5) -> relu mean 5.5 / 4
    # class 1 map: -ch1 = (1, -1, -2, 4) -> relu mean 5 / 4
    assert out["logits"].tolist() == [[pytest.approx(1.375), pytest.approx(1.25)]]
    (g,) = torch.autograd.grad(out["logits"][0, 1], x)
    # only where class 1's map is positive (pixels 0 and 3), and only through channel 1
    assert g[0, 1].flatten().tolist() == [-0.25, 0.0, 0.0, -0.25] and not g[0, 0].any()
    gap = _identity_model()(x)["logits"]  # the head on averaged features: (0.5 + 0.5, -(-0.5))
    assert gap.tolist() == [[pytest.approx(1.0), pytest.approx(0.5)]]


def test_the_model_uses_its_loss():
    x = torch.zeros(1, 2, 2, 2)
    prov = _prov([[0, 1]], [[0.5, 0.5]], [[True, True]])
    ce, bce = _identity_model(), _identity_model(loss="bce")
    logits = ce(x)["logits"]  # (0.5, 0): the biases
    want_ce = -0.5 * (torch.log_softmax(logits, 1)[0, 0] + torch.log_softmax(logits, 1)[0, 1])
    assert float(ce.task_loss(ce(x), prov, {})) == pytest.approx(float(want_ce))
    sp = lambda z: math.log1p(math.exp(z))  # noqa: E731
    assert float(bce.task_loss(bce(x), prov, {})) == pytest.approx(sp(0.5) - 0.25 + sp(0))
    with pytest.raises(ValueError, match="loss must be one of"):
        CAMClassifier(Features(nn.Identity(), 2), 2, loss="mse")


@pytest.mark.parametrize("name, act, norm", [("tiny_cam_nobn", nn.ReLU, False),
                                             ("tiny_cam_gelu", nn.GELU, True),
                                             ("tiny_cam_softplus", nn.Softplus, True)])
def test_tiny_cam_variants(name, act, norm):
    assert name in pgg_zoo.list_backbones("wsol")
    f = build_backbone(name)
    mods = list(f.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in mods) == norm
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all((c.bias is not None) == (not norm) for c in convs)
    acts = [m for m in mods if isinstance(m, (nn.ReLU, nn.GELU, nn.Softplus))]
    assert len(acts) == 4 and all(type(a) is act for a in acts)
    if act is nn.Softplus:
        assert all(a.beta == 4.0 for a in acts)
    assert f(torch.zeros(2, 3, 32, 32)).shape == (2, 128, 8, 8)


def test_wsol_options_reach_the_model():
    task = pgg_zoo.build("wsol", loss="bce", cam_logits="relu_mean", backbone="tiny_cam_gelu")
    model = task.model
    assert model.loss == "bce" and model.logit_pool == "relu_mean"
    assert any(isinstance(m, nn.GELU) for m in model.modules())
    with pytest.raises(pgg_zoo.ConfigError, match="cam_logits must be one of"):
        pgg_zoo.build("wsol", cam_logits="max")
