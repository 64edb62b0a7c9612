"""benchmarks/step_cost.py: its composite BatchNorm is exact, and a tiny run prints every ratio."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "step_cost.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("step_cost", PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["step_cost"] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("step_cost", None)


def test_composite_batchnorm_matches_native_to_second_order(bench):
    torch.manual_seed(0)
    native = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 3))
    with torch.no_grad():
        native[1].weight.uniform_(0.5, 1.5)
        native[1].bias.uniform_(-0.5, 0.5)
    composite = bench._composite_bn(__import__("copy").deepcopy(native))
    assert isinstance(composite[1], bench.CompositeBN)
    x0 = torch.randn(5, 3, 9, 9, dtype=torch.float64)
    grads, outs = [], []
    for net in (native.double(), composite.double()):
        x = x0.clone().requires_grad_(True)
        out = net(x)
        g, = torch.autograd.grad(out[:, 0].sum(), x, create_graph=True)  # input gradient
        (out.square().mean() + (g * g).sum()).backward()                 # and its derivative
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(grads[0], grads[1])
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(native[1], name), getattr(composite[1].bn, name))


def test_tiny_run_prints_a_ratio_per_mode(bench, capsys):
    assert bench.main(["--batch", "2", "--size", "32", "--repeats", "1", "--warmup", "0",
                       "--memory", "off", "--modes", "exact,lazy4[one_label],exact[composite_bn]"
                       ]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "x |" in ln]
    assert [r.split("|")[1].strip() for r in rows] == ["plain", "exact", "lazy4[one_label]",
                                                       "exact[composite_bn]"]
    assert rows[0].split("|")[4].strip() == "1.00x"
