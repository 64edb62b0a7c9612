"""CAM, Grad-CAM, guided backpropagation and Guided Grad-CAM (pgg_zoo/vision/localization.py)."""
import copy

import pytest
import torch
from torch import nn

import pgg_zoo
from pgg_zoo.task import ConfigError
from pgg_zoo.vision.backbones import Features, tiny_cam
from pgg_zoo.vision.localization import (
    grad_cam,
    guided_backprop,
    guided_grad_cam,
    saliency_to_image,
)
from pgg_zoo.vision.cam import CAMClassifier


def _model(seed=0, k=5, positive_head=False):
    torch.manual_seed(seed)
    m = CAMClassifier(tiny_cam(), k)
    # non-trivial BN statistics so eval mode differs from train mode
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
        if positive_head:
            m.fc.weight.abs_()
    return m.eval()


def _raw_cam(model, x, classes):
    """CAM at feature resolution, straight from the definition: sum_k w_ck A_k."""
    with torch.no_grad():
        feats = model(x)["features"]
    return torch.einsum("bc,bchw->bhw", model.fc.weight[classes], feats)


def test_gradcam_is_relu_cam_over_hw_for_gap_linear_head():
    """Known identity: d y_c / d A_k[i,j] = w_ck / (h w), so Grad-CAM = ReLU(CAM) / (h w)."""
    model = _model()
    x = torch.randn(3, 3, 32, 32)
    classes = torch.tensor([0, 3, 4])
    cam = _raw_cam(model, x, classes)
    h, w = cam.shape[-2:]
    gc = grad_cam(model, x, classes)
    assert gc.shape == (3, h, w)
    assert (cam < 0).any() and (cam > 0).any()  # the ReLU matters in this case
    torch.testing.assert_close(gc, torch.relu(cam) / (h * w), rtol=1e-5, atol=1e-7)


def test_gradcam_equals_cam_up_to_positive_scale_when_cam_nonnegative():
    # features end in ReLU (>= 0) and the head's weights are positive: CAM >= 0 everywhere
    model = _model(positive_head=True)
    x = torch.randn(2, 3, 32, 32)
    classes = torch.tensor([1, 2])
    cam = _raw_cam(model, x, classes)
    assert (cam >= 0).all()
    gc = grad_cam(model, x, classes)
    ratio = cam / gc.clamp_min(1e-30)
    nz = cam > 1e-6
    scale = ratio[nz]
    torch.testing.assert_close(scale, torch.full_like(scale, cam.shape[-1] * cam.shape[-2]),
                               rtol=1e-4, atol=0)


def test_gradcam_matches_manual_autograd_for_another_head():
    """The hook-based Grad-CAM equals the definition computed by hand (non-GAP head)."""

    class MaxHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = tiny_cam()
            self.fc = nn.Linear(128, 4)

        def forward(self, x):
            return {"logits": self.fc(self.features(x).amax(dim=(2, 3)) ** 1.5)}

    torch.manual_seed(1)
    model = MaxHead().eval()
    x = torch.randn(2, 3, 24, 24)
    classes = torch.tensor([2, 0])
    feats = model.features(x).detach().requires_grad_(True)
    logits = model.fc(feats.amax(dim=(2, 3)) ** 1.5)
    (g,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), feats)
    manual = torch.relu((g.mean(dim=(2, 3), keepdim=True) * feats).sum(1)).detach()
    torch.testing.assert_close(grad_cam(model, x, classes), manual)


def _one_relu_model(seed=0):
    torch.manual_seed(seed)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True))
    return CAMClassifier(Features(body, 8), 3).eval()


def test_guided_backprop_one_relu_network_closed_form():
    """With one ReLU layer, the guided gradient of w_c . GAP(relu(conv x)) is the plain gradient
    of relu(w_c) . GAP(relu(conv x)): negative head weights are clamped at the ReLU."""
    model = _one_relu_model()
    x = torch.randn(2, 3, 10, 10)
    classes = torch.tensor([0, 2])
    gb = guided_backprop(model, x, classes)
    ref_model = copy.deepcopy(model)
    with torch.no_grad():
        ref_model.fc.weight.clamp_(min=0)
    xr = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(ref_model(xr)["logits"].gather(1, classes[:, None]).sum(), xr)
    torch.testing.assert_close(gb, ref)
    # and it differs from the plain gradient (the head has negative weights)
    xp = x.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(model(xp)["logits"].gather(1, classes[:, None]).sum(), xp)
    assert not torch.allclose(gb, plain)


def test_guided_backprop_is_nonnegative_gated_at_every_relu():
    """A ReLU applied to the input itself: the guided input gradient is >= 0 and is 0 wherever
    the input is <= 0 (the backward of each ReLU keeps positive gradients at positive inputs)."""
    torch.manual_seed(2)
    body = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(6, 6, 3, padding=1), nn.ReLU())
    model = CAMClassifier(Features(body, 6), 3).eval()
    x = torch.randn(2, 3, 12, 12)
    gb = guided_backprop(model, x, torch.tensor([1, 2]))
    assert (gb >= 0).all()
    assert (gb[x <= 0] == 0).all()
    assert (gb > 0).any()


def test_guided_backprop_needs_relu_modules():
    model = CAMClassifier(Features(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh()), 4), 2)
    with pytest.raises(ValueError, match="no nn.ReLU"):
        guided_backprop(model, torch.randn(1, 3, 8, 8), torch.tensor([0]))


def test_model_state_is_restored():
    model = _model()
    model.train()
    bn_before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    classes = torch.tensor([1, 4])
    xp = x.clone().requires_grad_(True)
    model.eval()
    (plain_before,) = torch.autograd.grad(model(xp)["logits"][:, 1].sum(), xp)
    model.train()

    ggc = guided_grad_cam(model, x, classes)
    assert ggc.shape == x.shape and torch.isfinite(ggc).all()
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():  # BN running statistics untouched (eval mode)
        torch.testing.assert_close(v, bn_before[k])
    model.eval()
    xp = x.clone().requires_grad_(True)
    (plain_after,) = torch.autograd.grad(model(xp)["logits"][:, 1].sum(), xp)
    torch.testing.assert_close(plain_after, plain_before)  # no lingering guided ReLUs


def test_guided_grad_cam_is_guided_backprop_times_upsampled_gradcam():
    model = _model()
    x = torch.randn(2, 3, 32, 32)
    classes = torch.tensor([0, 1])
    gc = grad_cam(model, x, classes)
    up = torch.nn.functional.interpolate(gc[:, None], size=(32, 32), mode="bilinear",
                                         align_corners=False)
    up = up / up.flatten(1).amax(1).view(-1, 1, 1, 1)
    torch.testing.assert_close(guided_grad_cam(model, x, classes),
                               guided_backprop(model, x, classes) * up)
    img = saliency_to_image(guided_grad_cam(model, x, classes))
    assert img.shape == (2, 32, 32) and img.min() >= 0 and img.max() <= 1


def test_predict_uses_cam_method():
    torch.manual_seed(0)
    cam_model = _model()
    gc_model = copy.deepcopy(cam_model)
    gc_model.cam_method = "gradcam"
    x = torch.randn(2, 3, 32, 32)
    batch = {"labels": torch.tensor([1, 2]), "boxes": [torch.zeros(1, 4)] * 2}
    p_cam = cam_model.predict(x, batch)
    p_gc = gc_model.predict(x, batch)
    low = _raw_cam(cam_model, x, batch["labels"])
    hw = low.shape[-1] * low.shape[-2]
    up = torch.nn.functional.interpolate(torch.relu(low)[:, None] / hw, size=(32, 32),
                                         mode="bilinear", align_corners=False)[:, 0]
    for i in range(2):
        torch.testing.assert_close(torch.from_numpy(p_gc[i]["cam"]), up[i], rtol=1e-4, atol=1e-8)
        assert (p_gc[i]["top5"] == p_cam[i]["top5"]).all()
        assert p_gc[i]["cam"].shape == p_cam[i]["cam"].shape == (32, 32)


def test_cam_method_config(pgg_home):
    task = pgg_zoo.build("wsol", cam_method="gradcam")
    assert task.model.cam_method == "gradcam"
    with pytest.raises(ConfigError, match="cam_method"):
        pgg_zoo.build("wsol", cam_method="scorecam")
