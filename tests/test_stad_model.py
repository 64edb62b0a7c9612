"""STAD model: the twice-differentiable RoIAlign, the backbones and the action detector."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pgg_zoo.registry as registry
from pgg_zoo.guidance import ProvenanceGuidance
from pgg_zoo.provenance import Provenance
from pgg_zoo_tasks.stad.models import ActionDetector, register_backbones
from pgg_zoo_tasks.stad.paste import VideoPaste, box_provenance
from pgg_zoo_tasks.stad.roi import RoIAlign, boxes_to_rois, roi_align

torchvision = pytest.importorskip("torchvision")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Few threads (shared CPUs), and no plugin discovery: these tests exercise STAD code
    only, so another plugin's state must not fail them; "exact" guidance is registered on
    import of pgg_zoo.guidance."""
    monkeypatch.setattr(registry, "load_plugins", lambda reload=False: [])
    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def slowfast_detector():
    """One full-size SlowFast R50 detector (5 classes) shared by the tests of this module:
    building it initialises 34 M weights, which is most of a test's CPU time."""
    torch.manual_seed(0)
    return ActionDetector("slowfast_r50", num_classes=5)


ROIS = torch.tensor(
    [
        [0, 1.3, 2.2, 30.5, 20.1],
        [1, -10.0, -7.0, 5.0, 6.0],  # partly outside: border clamp and zeroed samples
        [0, 30.0, 25.0, 50.0, 44.0],  # beyond the map on two sides
        [1, 0.0, 0.0, 44.0, 36.0],  # the whole image
        [0, 5.0, 5.0, 5.5, 5.2],  # nearly degenerate
        [1, -30.0, -30.0, -10.0, -10.0],  # fully outside: zeros
        [0, 17.0, 3.0, 18.0, 33.0],
    ]
)


# -- RoI operator ------------------------------------------------------------------------------
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0 / 16])
@pytest.mark.parametrize("size", [(7, 7), (3, 4)])
def test_roi_align_matches_torchvision(sampling_ratio, scale, size):
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 5, 9, 11, generator=g)
    ours = roi_align(feats, ROIS, size, scale, sampling_ratio)
    ref = torchvision.ops.roi_align(feats, ROIS, size, scale, sampling_ratio, aligned=True)
    assert ours.shape == ref.shape == (ROIS.shape[0], 5, *size)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_roi_align_module_and_order():
    feats = torch.randn(3, 4, 8, 8)
    rois = torch.tensor([[2, 0, 0, 16, 16], [0, 4, 4, 12, 12], [2, 1, 1, 9, 9.0]])
    out = RoIAlign(2, 0.5, 2)(feats, rois)
    ref = torchvision.ops.roi_align(feats, rois, 2, 0.5, 2, aligned=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)  # rows follow the rois' order


def test_roi_align_edge_cases():
    feats = torch.randn(2, 3, 6, 6)
    assert roi_align(feats, torch.zeros(0, 5), 7).shape == (0, 3, 7, 7)
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align(feats, ROIS[:1], 7, sampling_ratio=0)
    with pytest.raises(ValueError, match="batch indices"):
        roi_align(feats, torch.tensor([[5.0, 0, 0, 2, 2]]), 2)
    rois = boxes_to_rois([torch.tensor([[1.0, 2, 3, 4]]), torch.zeros(0, 4), torch.tensor([[0, 0, 1, 1]])])
    assert rois.tolist() == [[0, 1, 2, 3, 4], [2, 0, 0, 1, 1]]


def test_roi_align_half_precision_samples_in_float32():
    feats = torch.randn(1, 3, 14, 14)
    rois = torch.tensor([[0, 101.3, 37.7, 203.9, 219.2]])  # a 224-pixel frame, stride 16
    out = roi_align(feats.bfloat16(), rois, 7, 1 / 16, 2)
    assert out.dtype == torch.bfloat16
    ref = roi_align(feats.bfloat16().float(), rois, 7, 1 / 16, 2)
    torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=1e-2)


def test_roi_align_gradcheck_and_gradgradcheck():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    rois = torch.tensor([[0, 0.5, 1.0, 9.0, 8.0], [1, -2.0, 3.0, 5.0, 11.0], [1, 2.0, 2.0, 12.0, 9.0]],
                        dtype=torch.float64)

    def fn(f):
        # A nonlinearity after the (linear) RoIAlign gives a nonzero second derivative.
        return roi_align(f, rois, (2, 3), 0.5, 2).pow(2)

    assert torch.autograd.gradcheck(fn, (feats,))
    assert torch.autograd.gradgradcheck(fn, (feats,))


def test_torchvision_roi_align_has_no_double_backward():
    """Why roi.py exists. Skips (does not fail) once torchvision supports double backward."""
    feats = torch.randn(1, 2, 6, 6, requires_grad=True)
    w = torch.randn(2, requires_grad=True)
    rois = torch.tensor([[0, 0.0, 0.0, 8.0, 8.0]])

    def second_order(op):
        y = op(feats * w.view(1, -1, 1, 1), rois, 2, 0.5, 2, aligned=True)
        (gx,) = torch.autograd.grad(y.pow(2).sum(), feats, create_graph=True)
        (gw,) = torch.autograd.grad(gx.pow(2).sum(), w)
        return gw

    ours = second_order(lambda f, r, s, sc, sr, aligned: roi_align(f, r, s, sc, sr))
    assert torch.isfinite(ours).all() and ours.abs().sum() > 0
    try:
        theirs = second_order(torchvision.ops.roi_align)
    except RuntimeError as exc:
        assert "double backward" in str(exc).lower() or "not supported" in str(exc).lower(), exc
        return
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)
    pytest.skip("torchvision.ops.roi_align now supports double backward (our RoIAlign agrees)")


# -- backbones and detector --------------------------------------------------------------------
def _batch(b: int, h: int, w: int) -> dict:
    boxes = [torch.tensor([[4.0, 6.0, 0.6 * w, 0.9 * h], [0.3 * w, 0.2 * h, w - 1.0, h - 2.0]]),
             torch.zeros(0, 4), torch.tensor([[0.0, 0.0, w / 2, h / 2]])][:b]
    labels = [torch.tensor([1, 3]), torch.zeros(0, dtype=torch.long), torch.tensor([2])][:b]
    return {"boxes": boxes, "box_labels": labels}


@pytest.mark.parametrize(
    "name,shape,channels,stride",
    [
        ("tiny3d", (3, 3, 16, 64, 64), 64, 4),
        ("slow_r50", (2, 3, 4, 64, 64), 2048, 16),
        ("slowfast_r50", (2, 3, 8, 64, 64), 2304, 16),
    ],
)
def test_detector_shapes(name, shape, channels, stride, slowfast_detector):
    torch.manual_seed(0)
    model = slowfast_detector if name == "slowfast_r50" else ActionDetector(name, num_classes=5)
    model.eval()
    assert model.backbone.out_channels == channels and model.backbone.spatial_stride == stride
    x = torch.randn(*shape)
    batch = _batch(shape[0], shape[3], shape[4])
    with torch.no_grad():
        feats = model.features(x)
        out = model(x, batch)
    assert feats.shape == (shape[0], channels, shape[3] // stride, shape[4] // stride)
    k = sum(bx.shape[0] for bx in batch["boxes"])
    assert out["logits"].shape == (k, 5)
    assert out["num_boxes"].tolist() == [bx.shape[0] for bx in batch["boxes"]]
    assert out["roi_batch_idx"].tolist() == [i for i, bx in enumerate(batch["boxes"]) for _ in range(len(bx))]
    assert torch.isfinite(out["logits"]).all()


def test_slowfast_splits_the_raw_clip_and_checks_t(slowfast_detector):
    bb = slowfast_detector.backbone
    assert bb.slow_indices(32, torch.device("cpu")).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    with pytest.raises(ValueError, match="multiple of 4"):
        bb(torch.randn(1, 3, 6, 32, 32))


def test_register_backbones():
    register_backbones()
    register_backbones()  # idempotent
    for name in ("slowfast_r50", "slow_r50", "tiny3d"):
        assert name in registry.BACKBONES
        assert registry.BACKBONES.meta(name)["tasks"] == ("stad",)
    assert isinstance(registry.BACKBONES.build("tiny3d"), torch.nn.Module)


def test_label_logits_task_loss_predict():
    torch.manual_seed(0)
    model = ActionDetector("tiny3d", num_classes=4, dropout=0.0).train()
    x = torch.randn(3, 3, 4, 32, 32)
    batch = _batch(3, 32, 32)
    prov = box_provenance(x, batch["boxes"], batch["box_labels"])
    assert prov.num_labels == 2 and prov.valid.tolist() == [[True, True], [False, False], [True, False]]
    out = model(x, batch)
    ll = model.label_logits(out, prov, batch)
    lg = out["logits"]
    expect = torch.tensor([[lg[0, 1], lg[1, 3]], [0.0, 0.0], [lg[2, 2], 0.0]])
    torch.testing.assert_close(ll, expect)
    loss = model.task_loss(out, prov, batch)
    torch.testing.assert_close(loss, F.cross_entropy(lg, torch.tensor([1, 3, 2])))

    # Weights and validity: a marked box (valid False) does not count; weights scale.
    w = prov.weights.clone()
    w[0, 0] = 0.5
    v = prov.valid.clone()
    v[2, 0] = False
    prov2 = Provenance(prov.masks, prov.labels, w, input_shape=x.shape, valid=v)
    ce = F.cross_entropy(lg, torch.tensor([1, 3, 2]), reduction="none")
    torch.testing.assert_close(model.task_loss(out, prov2, batch), (0.5 * ce[0] + ce[1]) / 2)

    # Multi-label: sigmoid BCE against multi-hot targets from the batch.
    ml = ActionDetector("tiny3d", num_classes=4, dropout=0.0, multilabel=True)
    ml.load_state_dict(model.state_dict())
    hot = [torch.tensor([[0, 1, 0, 1], [0, 0, 0, 1]]), torch.zeros(0, 4), torch.tensor([[1, 0, 1, 0]])]
    mb = {"boxes": batch["boxes"], "box_labels": hot}
    out_ml = ml(x, mb)
    ref = F.binary_cross_entropy_with_logits(out_ml["logits"], torch.cat(hot).float())
    torch.testing.assert_close(ml.task_loss(out_ml, prov, mb), ref)

    with pytest.raises(ValueError, match="label slots"):
        small = Provenance(prov.masks[:, :1], prov.labels[:, :1], input_shape=x.shape)
        model.label_logits(out, small, batch)
    with pytest.raises(ValueError, match="boxes"):
        model(x, {})

    model.eval()
    preds = model.predict(x, batch)
    assert [p["scores"].shape for p in preds] == [(2, 4), (0, 4), (1, 4)]
    torch.testing.assert_close(preds[0]["scores"].sum(-1), torch.ones(2))
    assert preds[0]["boxes"].shape == (2, 4) and preds[1]["labels"].shape == (0,)


def test_no_boxes_at_all_keeps_graph():
    model = ActionDetector("tiny3d", num_classes=3)
    x = torch.randn(2, 3, 4, 16, 16, requires_grad=True)
    batch = {"boxes": [torch.zeros(0, 4)] * 2, "box_labels": [torch.zeros(0, dtype=torch.long)] * 2}
    prov = box_provenance(x, batch["boxes"], batch["box_labels"])
    out = model(x, batch)
    assert model.label_logits(out, prov, batch).shape == (2, 1)
    loss = model.task_loss(out, prov, batch)
    assert loss.item() == 0.0 and loss.requires_grad


def _guided_step(model, x, batch, prov):
    """One guided step's losses: task loss + exact provenance penalty (alpha 0.05)."""
    guidance = ProvenanceGuidance(alpha=0.05, mode="exact")
    x = x.clone().requires_grad_(True)
    out = model(x, batch)
    ll = model.label_logits(out, prov, batch)
    penalty = guidance.penalty(x, ll, prov)
    return model.task_loss(out, prov, batch), penalty


def test_tiny3d_guided_step_on_pasted_clips():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 8, 32, 32)
    batch = {"inputs": x, **_batch(3, 32, 32)}
    syn = VideoPaste(shift=0.2)(batch, torch.Generator().manual_seed(0))
    sbatch = {**batch, **syn.extras}
    model = ActionDetector("tiny3d", num_classes=4).train()
    loss, pen = _guided_step(model, syn.inputs, sbatch, syn.provenance)
    assert torch.isfinite(pen) and pen > 0
    (loss + 0.05 * pen).backward()
    g = model.backbone.body[0].weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_slowfast_guided_step(slowfast_detector):
    """Acceptance: one guided step of the full-size SlowFast R50 detector on a small clip on
    CPU runs, gives a finite penalty, and puts gradients on both pathways' convolutions; the
    penalty alone reaches them too (double backprop through the RoI head)."""
    torch.manual_seed(0)
    model = slowfast_detector.train()
    model.zero_grad(set_to_none=True)
    b, t, h, w = 2, 8, 64, 64
    x = torch.randn(b, 3, t, h, w)
    batch = {"inputs": x, "boxes": [torch.tensor([[4.0, 6.0, 30.0, 60.0], [34.0, 4.0, 62.0, 58.0]]),
                                     torch.tensor([[10.0, 8.0, 40.0, 56.0]])],
             "box_labels": [torch.tensor([1, 3]), torch.tensor([2])]}
    syn = VideoPaste(shift=0.1)(batch, torch.Generator().manual_seed(0))
    sbatch = {**batch, **syn.extras}
    assert bool(syn.extras["pasted"].all())
    loss, pen = _guided_step(model, syn.inputs, sbatch, syn.provenance)
    assert torch.isfinite(loss) and torch.isfinite(pen) and pen > 0

    stem_slow = model.backbone.blocks[0].multipathway_blocks[0].conv.weight
    stem_fast = model.backbone.blocks[0].multipathway_blocks[1].conv.weight
    fuse = model.backbone.blocks[1].multipathway_fusion.conv_fast_to_slow.weight
    params = [stem_slow, stem_fast, fuse]
    # The penalty's own gradient (the double-backprop path through the RoI head) reaches
    # both pathways; the task loss's first-order gradient is added after, so the step's
    # weight gradient is that of loss + alpha * penalty with a single double backward.
    pen_grads = torch.autograd.grad(0.05 * pen, params, retain_graph=True)
    for gr in pen_grads:
        assert torch.isfinite(gr).all() and gr.abs().sum() > 0
    loss.backward()
    for p, gp in zip(params, pen_grads):
        p.grad = p.grad + gp
    for p in (*params, model.head.classifier.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_global_context_head_reads_the_whole_frame():
    """Receptive field, derived by hand: tiny3d's three 3x3 convs (spatial strides 2, 2, 1)
    see 15 input pixels per feature, centred on 4k + 1.5; RoIAlign samples the stride-4 map
    bilinearly inside the box's bins. For a box at x, y in [2, 10) a feature within one map
    cell of it sees at most input pixels up to 4 * 3 + 1.5 + 7 < 22, so pixels in [24, 32)^2
    cannot reach its logit. With the whole-frame context they do; the box's own features are
    the same module either way (weights copied), so the box-feature half of the logits is
    unchanged."""
    torch.manual_seed(0)
    plain = ActionDetector("tiny3d", num_classes=3, dropout=0.0).eval()
    ctx = ActionDetector("tiny3d", num_classes=3, dropout=0.0, head_context="global").eval()
    assert ctx.head.classifier.in_features == 2 * plain.head.classifier.in_features
    state = {k: v for k, v in plain.state_dict().items() if not k.startswith("head.classifier")}
    ctx.load_state_dict(state, strict=False)
    with torch.no_grad():
        ctx.head.classifier.weight.zero_()
        ctx.head.classifier.weight[:, :64] = plain.head.classifier.weight
        ctx.head.classifier.bias.copy_(plain.head.classifier.bias)
    x = torch.randn(2, 3, 4, 32, 32, requires_grad=True)
    batch = {"boxes": [torch.tensor([[2.0, 2.0, 10.0, 10.0]]), torch.tensor([[3.0, 4.0, 9.0, 10.0]])]}
    torch.testing.assert_close(ctx(x, batch)["logits"], plain(x, batch)["logits"])

    (g_plain,) = torch.autograd.grad(plain(x, batch)["logits"][0, 0], x)
    assert g_plain[0, :, :, :10, :10].abs().sum() > 0
    assert g_plain[0, :, :, 24:, 24:].abs().sum() == 0 and g_plain[1].abs().sum() == 0
    with torch.no_grad():
        ctx.head.classifier.weight[:, 64:] = 0.1
    (g_ctx,) = torch.autograd.grad(ctx(x, batch)["logits"][0, 0], x)
    assert g_ctx[0, :, :, 24:, 24:].abs().sum() > 0
    # The context is the box's own clip's frame, never another clip's.
    assert g_ctx[1].abs().sum() == 0
    with pytest.raises(ValueError, match="context"):
        ActionDetector("tiny3d", num_classes=3, head_context="local")


def test_tiny3d_local_receptive_field():
    """By hand: 3x3 stride 2 (3 px), 3x3 stride 2 (3 + 2 * 2 = 7 px), then 3x3 (7 + 2 * 4 =
    15 px) for tiny3d, or 1x1 (still 7 px) for tiny3d_local. The input gradient of one map
    feature must span exactly that many pixels per axis."""
    from pgg_zoo_tasks.stad.models.backbones import tiny3d, tiny3d_local

    for build, extent in ((tiny3d, 15), (tiny3d_local, 7)):
        torch.manual_seed(0)
        net = build().eval()
        x = torch.randn(1, 3, 4, 32, 32, requires_grad=True)
        (y,) = net(x)
        (g,) = torch.autograd.grad(y[0, :, :, 4, 4].sum(), x)
        ys, xs = torch.nonzero(g[0].abs().sum((0, 1)), as_tuple=True)
        assert (int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1) == (extent, extent)
        assert y.shape == (1, 64, 4, 8, 8)
