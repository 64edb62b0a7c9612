"""Guidance modes: exact variants match the naive penalty; approximate modes are bounded
against it (finite difference), unbiased (one-label sampling) or scheduled (lazy).

All models are tiny and most run in float64 so the comparisons measure the method, not
rounding. ``exact`` itself casts input gradients to float32, hence tolerances of ~1e-5."""
import copy

import pytest
import torch
from torch import nn

from pgg_zoo import GUIDANCE_MODES, Provenance, ProvenanceGuidance
from pgg_zoo.guidance import (
    LazySchedule,
    directional_surrogate,
    exact_penalty,
    frozen_running_stats,
    label_probabilities,
)


# -- helpers ---------------------------------------------------------------------------------
def naive_penalty(inputs, label_logits, off_masks, valid, share_eps=None):
    """The original exact form as the reference: one create-graph pass per slot, every slot,
    accumulated in float32 (float64 for float64 models, as exact.py does). With ``share_eps``
    each term is divided by ``sum g^2 + share_eps`` (the share mode's definition)."""
    dt = torch.float64 if label_logits.dtype == torch.float64 else torch.float32
    total = torch.zeros(inputs.shape[0], dtype=dt)
    dims = tuple(range(1, inputs.dim()))
    for lab in range(label_logits.shape[1]):
        sel = label_logits[:, lab].to(dt) * valid[:, lab].to(dt)
        (g,) = torch.autograd.grad(sel.sum(), inputs, create_graph=True, retain_graph=True)
        term = (off_masks[:, lab].unsqueeze(1).to(dt) * g.to(dt)).pow(2).sum(dim=dims)
        if share_eps is not None:
            term = term / (g.to(dt).pow(2).sum(dim=dims) + share_eps)
        total = total + term * valid[:, lab].to(dt)
    return total


def smooth_net(dtype=torch.float64, classes=5, seed=0):
    """Per-input (no batch coupling), twice differentiable everywhere: FD error is O(h)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, padding=1), nn.Softplus(),
        nn.Flatten(), nn.Linear(4 * 36, classes),
    )
    return net.to(dtype)


def bn_relu_net(seed=0, classes=5):
    """ResNet-like block in train mode: ReLU kinks and BatchNorm batch coupling."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes),
    ).train()


def batch(b=4, n_labels=2, dtype=torch.float64, seed=1, classes=5, binary=True):
    """Inputs (B, 2, 6, 6), labels (B, L), CutMix-like complementary masks, valid flags."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(b, 2, 6, 6, generator=g, dtype=dtype)
    labels = torch.randint(0, classes, (b, n_labels), generator=g)
    host = torch.ones(b, 6, 6, dtype=dtype)
    for i in range(b):  # a box of another input pasted at a random place
        y, x_ = torch.randint(0, 4, (2,), generator=g).tolist()
        host[i, y:y + 3, x_:x_ + 2 + i % 2] = 0
    if not binary:
        host = host * 0.7 + 0.15
    rest = [1 - host] + [torch.rand(b, 6, 6, generator=g, dtype=dtype) for _ in range(n_labels - 2)]
    masks = torch.stack([host] + rest, 1)
    valid = torch.ones(b, n_labels, dtype=torch.bool)
    return x0, labels, masks, valid


def run_mode(net, x0, labels, masks, valid, mode, **options):
    """(mean penalty value, weight gradients, input gradient) of one mode."""
    net.zero_grad(set_to_none=True)
    x = x0.clone().requires_grad_(True)
    prov = Provenance(masks, labels, input_shape=x.shape, valid=valid)

    def forward_fn(z):
        return net(z).gather(1, labels)

    guidance = ProvenanceGuidance(alpha=1.0, mode=mode, mode_options=options)
    val = guidance.penalty(x, forward_fn(x), prov, forward_fn=forward_fn)
    val.backward()
    grads = wgrad(net)
    return val.item(), grads, x.grad.double().clone()


def wgrad(net):
    """All weight gradients as one vector (zeros where the penalty does not reach, e.g. the
    last bias, which the input gradient does not depend on)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in net.parameters()]).double()


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


def rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


# -- registry and configuration ----------------------------------------------------------------
#: The modes that estimate the exact penalty and the factor their default options put on it:
#: lazy computes on one step in ``every`` (default 4) and scales that step by 4. ``share`` is
#: another objective, checked against its definition below. A new mode joins one of the two.
DEFAULT_SCALE = {"exact": 1.0, "finite_difference": 1.0, "one_label": 1.0, "lazy": 4.0}


def test_every_builtin_mode_is_checked():
    builtin = {n for n in GUIDANCE_MODES.names()
               if GUIDANCE_MODES.get(n).__module__.startswith("pgg_zoo.")}
    assert builtin == set(DEFAULT_SCALE) | {"share"}


def one_label_batch():
    """A smooth float64 model and a batch with one valid label per input (nothing for
    one_label to draw), soft masks."""
    net = smooth_net(seed=22)
    x0, labels, masks, valid = batch(b=3, n_labels=2, seed=23, binary=False)
    valid[:, 1] = False
    return net, (x0, labels, masks, valid)


@pytest.mark.parametrize("mode", sorted(DEFAULT_SCALE))
def test_mode_at_default_options_matches_exact(mode):
    """Each mode as a user gets it (no options): the penalty value and weight gradient of the
    exact double-backprop penalty, scaled as documented."""
    net, data = one_label_batch()
    v_ex, g_ex, _ = run_mode(net, *data, "exact")
    v, g, _ = run_mode(net, *data, mode)
    assert v_ex > 0
    assert v == pytest.approx(DEFAULT_SCALE[mode] * v_ex, rel=1e-5)
    assert cosine(g, g_ex) > 0.999
    assert rel_err(g / DEFAULT_SCALE[mode], g_ex) < 1e-2


def test_share_mode_at_default_options_matches_its_definition():
    """share = sum_l ||off_l * g_l||^2 / (||g_l||^2 + 1e-8), two valid labels per input."""
    net = smooth_net(seed=24)
    x0, labels, masks, valid = batch(b=3, n_labels=2, seed=25, binary=False)
    ref_net = copy.deepcopy(net)
    x = x0.clone().requires_grad_(True)
    ref = naive_penalty(x, ref_net(x).gather(1, labels), 1 - masks, valid, share_eps=1e-8).mean()
    ref.backward()
    v, g, _ = run_mode(net, x0, labels, masks, valid, "share")
    assert 0 < ref.item() < 2  # each label's share is below 1
    assert v == pytest.approx(ref.item(), rel=1e-6)
    torch.testing.assert_close(g, wgrad(ref_net), rtol=1e-6, atol=1e-9)


# -- exact ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_labels", [False, True])
def test_exact_matches_naive_value_and_gradient(batch_labels):
    """Train-mode BatchNorm, three slots (one never valid, one partly): identical to 1e-5."""
    net = bn_relu_net(seed=3).double()
    x0, labels, masks, valid = batch(b=4, n_labels=3, seed=4)
    valid[:, 2] = False  # a padding slot, skipped without a backward
    valid[1, 1] = False
    ref_net = copy.deepcopy(net)
    x = x0.clone().requires_grad_(True)
    ll = ref_net(x).gather(1, labels)
    ref = naive_penalty(x, ll, 1 - masks, valid)
    ref.sum().backward()
    ref_g = wgrad(ref_net)

    x2 = x0.clone().requires_grad_(True)
    got = exact_penalty(x2, net(x2).gather(1, labels), 1 - masks, valid, batch_labels=batch_labels)
    got.sum().backward()
    got_g = wgrad(net)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(got_g, ref_g, rtol=1e-5, atol=1e-7 * ref_g.abs().max().item())
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-7 * x.grad.abs().max().item())


# -- finite difference ---------------------------------------------------------------------------
def test_finite_difference_value_is_exact_and_gradient_close_on_smooth_model():
    net = smooth_net()
    data = batch(b=3, n_labels=2, seed=5)
    v_ex, g_ex, xg_ex = run_mode(net, *data, "exact")
    v_fd, g_fd, xg_fd = run_mode(net, *data, "finite_difference")
    assert v_fd == pytest.approx(v_ex, rel=1e-5)  # the logged value is the penalty itself
    assert cosine(g_fd, g_ex) > 0.9999
    assert rel_err(g_fd, g_ex) < 5e-3
    # The gradient that reaches the input is the matching Hessian-vector estimate too.
    assert cosine(xg_fd, xg_ex) > 0.999


def test_finite_difference_error_shrinks_with_step():
    """Forward difference on a smooth model: error O(h) until rounding takes over."""
    net = smooth_net(seed=2)
    data = batch(b=3, seed=6, binary=False)
    _, g_ex, _ = run_mode(net, *data, "exact")
    errs = [rel_err(run_mode(net, *data, "finite_difference", step=h)[1], g_ex)
            for h in (1e-1, 1e-2, 1e-3)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 5e-3


def test_finite_difference_with_batchnorm_relu_in_float32():
    """The default step 1e-3 in float32, through train-mode BatchNorm coupling and ReLU kinks."""
    net = bn_relu_net(seed=7)
    data = batch(b=6, seed=8, dtype=torch.float32)
    v_ex, g_ex, _ = run_mode(net, *data, "exact")
    v_fd, g_fd, _ = run_mode(net, *data, "finite_difference")
    assert v_fd == pytest.approx(v_ex, rel=1e-4)
    assert cosine(g_fd, g_ex) > 0.99
    assert rel_err(g_fd, g_ex) < 0.1


def test_finite_difference_recomputed_base_matches_reused_base():
    net = smooth_net(seed=4)
    data = batch(b=3, seed=9)
    _, g_reuse, _ = run_mode(net, *data, "finite_difference", reuse_base=True)
    _, g_recomp, _ = run_mode(net, *data, "finite_difference", reuse_base=False)
    torch.testing.assert_close(g_recomp, g_reuse, rtol=1e-6, atol=1e-9)


def test_finite_difference_under_bf16_autocast_recomputes_in_fp32():
    """Main logits in bf16: 'auto' recomputes the base in fp32 and stays close to exact."""
    net = bn_relu_net(seed=10)
    x0, labels, masks, valid = batch(b=4, seed=11, dtype=torch.float32)
    x = x0.clone().requires_grad_(True)
    prov = Provenance(masks.float(), labels, input_shape=x.shape, valid=valid)

    def forward_fn(z):
        return net(z).gather(1, labels)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        ll = forward_fn(x)
        assert ll.dtype == torch.bfloat16
        pen = ProvenanceGuidance(mode="finite_difference").penalty(x, ll, prov, forward_fn=forward_fn)
    assert pen.dtype == torch.float32
    pen.backward()
    g_fd = wgrad(net)
    _, g_ex, _ = run_mode(net, x0, labels, masks.float(), valid, "exact")
    # bf16 main logits enter only through the input gradient that sets the direction.
    assert cosine(g_fd, g_ex) > 0.95


def test_directional_surrogate_reruns_share_dropout_masks_and_restore_rng():
    """With dropout, base and perturbed forwards must draw the same mask (else the
    difference is O(1/h) noise); the caller's RNG stream is left untouched."""
    torch.manual_seed(12)
    lin = nn.Linear(8, 3).double()
    drop = nn.Dropout(0.5)

    def forward_fn(z):
        return lin(drop(z.flatten(1)))

    x = torch.randn(4, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, 2, 2, 2, dtype=torch.float64)
    c = torch.zeros(4, 3, dtype=torch.float64)
    c[:, 1] = 1
    base = forward_fn(x)
    state = torch.get_rng_state()
    s = directional_surrogate(x, base, [v], [c], forward_fn, reuse_base=False)
    assert torch.equal(torch.get_rng_state(), state)
    # Linear model: the difference is exact, D F[v] = c . W (mask * v) / (1 - p) per input.
    torch.set_rng_state(state)
    moved = forward_fn(x + v)
    torch.set_rng_state(state)
    expected = ((moved - forward_fn(x)) * c).sum(1)
    torch.testing.assert_close(s.double(), expected.detach(), rtol=1e-5, atol=1e-6)


def test_finite_difference_needs_forward_fn():
    net = smooth_net()
    x0, labels, masks, valid = batch(b=2)
    x = x0.clone().requires_grad_(True)
    prov = Provenance(masks, labels, input_shape=x.shape, valid=valid)
    with pytest.raises(ValueError, match="forward_fn"):
        ProvenanceGuidance(mode="finite_difference").penalty(x, net(x).gather(1, labels), prov)


# -- one-label sampling ----------------------------------------------------------------------------
def test_label_probabilities():
    off = torch.zeros(3, 2, 4, 4)
    off[:, 0, :2] = 1  # label 0 penalized on half the grid, label 1 on all of it
    off[:, 1] = 1
    valid = torch.tensor([[True, True], [True, False], [False, False]])
    p = label_probabilities(off, valid, "off_area", uniform_mix=0.0)
    torch.testing.assert_close(p[0], torch.tensor([1 / 3, 2 / 3]))
    torch.testing.assert_close(p[1], torch.tensor([1.0, 0.0]))
    assert p[2].sum() == 0
    p = label_probabilities(off, valid, "area", uniform_mix=0.2)
    # label 1 owns nothing; the uniform mix keeps its probability at 0.2 / 2.
    torch.testing.assert_close(p[0], torch.tensor([0.9, 0.1]))
    torch.testing.assert_close(label_probabilities(off, valid, "uniform")[0], torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="probs"):
        label_probabilities(off, valid, "area_weighted")


@pytest.mark.parametrize("probs", ["off_area", "area"])
def test_one_label_is_unbiased(probs):
    """Mean over many draws of value and weight-gradient -> exact (4 standard errors)."""
    net = smooth_net(seed=13)
    x0, labels, masks, valid = batch(b=3, n_labels=3, seed=14)
    valid[2, 1] = False
    v_ex, g_ex, _ = run_mode(net, x0, labels, masks, valid, "exact")
    gen = torch.Generator().manual_seed(0)
    n = 120
    vals, grads = [], []
    for _ in range(n):
        v, g, _ = run_mode(net, x0, labels, masks, valid, "one_label", probs=probs, generator=gen)
        vals.append(v)
        grads.append(g)
    vals = torch.tensor(vals, dtype=torch.float64)
    grads = torch.stack(grads)
    assert vals.std() > 0  # it is really sampling
    assert abs(vals.mean().item() - v_ex) < 4 * vals.std().item() / n ** 0.5 + 1e-6 * v_ex
    # Every weight-gradient coordinate within 4.5 standard errors (a few hundred coordinates).
    se = grads.std(0) / n ** 0.5
    z = (grads.mean(0) - g_ex).abs() / (se + 1e-6 * g_ex.abs().max())
    assert z.max().item() < 4.5
    # And the average gradient points where the exact one does.
    assert cosine(grads.mean(0), g_ex) > 0.99


def test_one_label_finite_difference_inner_and_single_label_is_exact():
    """One valid label per input leaves nothing to draw: one_label equals exact."""
    net = smooth_net(seed=15)
    x0, labels, masks, valid = batch(b=3, n_labels=2, seed=16)
    valid[:, 1] = False
    v_ex, g_ex, _ = run_mode(net, x0, labels, masks, valid, "exact")
    v1, g1, _ = run_mode(net, x0, labels, masks, valid, "one_label")
    assert v1 == pytest.approx(v_ex, rel=1e-5)
    torch.testing.assert_close(g1, g_ex, rtol=1e-5, atol=1e-7 * g_ex.abs().max().item())
    v2, g2, _ = run_mode(net, x0, labels, masks, valid, "one_label", inner="finite_difference",
                         step=1e-3)
    assert v2 == pytest.approx(v_ex, rel=1e-5)
    assert cosine(g2, g_ex) > 0.9999


def test_one_label_rejects_bad_options():
    net = smooth_net()
    data = batch(b=2)
    with pytest.raises(ValueError, match="inner"):
        run_mode(net, *data, "one_label", inner="lazy")
    with pytest.raises(TypeError, match="step"):
        run_mode(net, *data, "one_label", step=1e-3)  # FD options need inner='finite_difference'


# -- lazy ------------------------------------------------------------------------------------------
def test_lazy_computes_every_k_steps_scaled_by_k():
    net = smooth_net(seed=17)
    data = batch(b=3, seed=18)
    v_ex, g_ex, _ = run_mode(net, *data, "exact")
    x0, labels, masks, valid = data
    opts = {"every": 3, "inner": "exact"}
    guidance = ProvenanceGuidance(alpha=1.0, mode="lazy", mode_options=opts)
    assert "schedule" not in opts  # the caller's dict is not mutated
    assert guidance.to_dict()["mode_options"] == {"every": 3, "inner": "exact"}
    prov = Provenance(masks, labels, input_shape=x0.shape, valid=valid)
    dues, vals, acc = [], [], torch.zeros_like(g_ex)
    for _ in range(6):
        dues.append(guidance.due)
        net.zero_grad(set_to_none=True)
        x = x0.clone().requires_grad_(guidance.due)  # an engine may skip requires_grad off-steps
        ll = net(x).gather(1, labels)
        pen = guidance.penalty(x, ll, prov, forward_fn=lambda z: net(z).gather(1, labels))
        vals.append(pen.item())
        if pen.requires_grad:
            pen.backward()
            acc += wgrad(net)
    assert dues == [True, False, False, True, False, False]
    assert vals[1] == vals[2] == vals[4] == vals[5] == 0.0
    assert vals[0] == pytest.approx(3 * v_ex, rel=1e-5)
    assert vals[3] == pytest.approx(3 * v_ex, rel=1e-5)
    # Over whole periods the summed gradient equals the exact one applied every step.
    torch.testing.assert_close(acc / 6, g_ex, rtol=1e-5, atol=1e-7 * g_ex.abs().max().item())


def test_lazy_wraps_approximate_modes_and_validates():
    net = smooth_net(seed=19)
    data = batch(b=3, seed=20)
    v_ex, g_ex, _ = run_mode(net, *data, "exact")
    v, g, _ = run_mode(net, *data, "lazy", every=2, inner="finite_difference",
                       inner_options={"step": 1e-3})
    assert v == pytest.approx(2 * v_ex, rel=1e-5)
    assert cosine(g, g_ex) > 0.9999
    with pytest.raises(ValueError, match="every"):
        ProvenanceGuidance(mode="lazy", mode_options={"every": 0})
    with pytest.raises(ValueError, match="itself"):
        ProvenanceGuidance(mode="lazy", mode_options={"inner": "lazy"})
    with pytest.raises(KeyError, match="exactt"):
        ProvenanceGuidance(mode="lazy", mode_options={"inner": "exactt"})
    with pytest.raises(ValueError, match="LazySchedule"):
        GUIDANCE_MODES.get("lazy")(*[None] * 5)
    sched = LazySchedule()
    assert [sched.due(2) or sched.advance() for _ in range(1)] == [True]


# -- re-run side effects -----------------------------------------------------------------------------
def test_frozen_running_stats_keeps_batchnorm_buffers():
    net = bn_relu_net(seed=21)
    bn = net[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    with frozen_running_stats(net):
        net(torch.randn(4, 2, 6, 6))
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert torch.equal(bn.num_batches_tracked, before[2])
    assert bn.momentum == 0.1
    net(torch.randn(4, 2, 6, 6))  # outside the context statistics update as usual
    assert not torch.equal(bn.running_mean, before[0])
