"""The SKP-style keypoint network: double backprop, inert missing joints, pooling switching."""
import torch

from pgg_zoo import Provenance
from pgg_zoo_tasks.keypoint.model import SKPNet, box_from_keypoints


def inputs(b=2, m=2, t=4, v=17, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, m, t, v, generator=g, dtype=dtype) * 2 - 1
    x[:, 2] = x[:, 2].abs() * 0.5 + 0.5
    return x


def test_twice_differentiable_gradgradcheck():
    torch.manual_seed(0)
    net = SKPNet(3, width=4, num_joints=5, temporal_kernel=3).double()
    x = inputs(t=3, v=5, dtype=torch.float64).requires_grad_(True)
    prov = Provenance(torch.ones(2, 2, 2, 3, 5, dtype=torch.float64),
                      torch.tensor([[0, 2], [1, 0]]), input_shape=x.shape)

    def f(z):
        return net.label_logits(net(z), prov, {})

    assert torch.autograd.gradcheck(f, (x,), fast_mode=True)
    assert torch.autograd.gradgradcheck(f, (x,), fast_mode=True)


def test_missing_joints_are_inert():
    torch.manual_seed(0)
    net = SKPNet(3, width=8)
    x = inputs()
    x[0, :, 1, 2, 5] = 0  # one missing joint
    x[1, :, 1] = 0  # an absent person
    x.requires_grad_(True)
    out = net(x)
    (g,) = torch.autograd.grad(out["video_logits"].sum(), x)
    assert (g[0, :, 1, 2, 5] == 0).all() and (g[1, :, 1] == 0).all()
    assert g[0, :, 0].abs().sum() > 0
    assert not out["present"][1, 1].any() and out["present"][0, 1, 2]


def test_pooling_switch_and_context():
    torch.manual_seed(0)
    x = inputs(b=1, m=3)
    for context in (True, False):
        net = SKPNet(4, width=8, context=context).eval()
        out = net(x)
        r = net.pool_sharpness
        frame = out["frame_logits"][0].flatten(1)  # (K, M*T)
        video = (torch.logsumexp(frame * r, 1) - torch.log(torch.tensor(float(frame.shape[1])))) / r
        torch.testing.assert_close(out["video_logits"][0], video)
        # Change person 2's pose (a shift alone would not do: the features are translation
        # invariant): person 0's scores move only through the scene context.
        x2 = x.clone()
        x2[0, :2, 2] = x2[0, :2, 2] + 0.5 * torch.randn(x2[0, :2, 2].shape)
        moved = (net(x2)["frame_logits"][0, :, 0] - out["frame_logits"][0, :, 0]).abs().max()
        assert (moved > 1e-4) == context


def test_box_from_keypoints():
    x = torch.zeros(3, 1, 2, 3)
    x[0, 0, 0] = torch.tensor([-1.0, 0.0, 1.0])
    x[1, 0, 0] = torch.tensor([-1.0, 0.5, 0.0])
    x[2, 0, 0] = torch.tensor([1.0, 1.0, 0.0])  # third joint missing
    boxes = box_from_keypoints(x, height=100, width=200)
    torch.testing.assert_close(boxes[0, 0], torch.tensor([0.0, 0.0, 100.0, 75.0]))
    assert (boxes[0, 1] == 0).all()
