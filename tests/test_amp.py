"""Mixed precision (bf16 / fp16 with loss scaling) and gradient accumulation, on CPU."""
import sys
from pathlib import Path

import pytest
import torch

import pgg_zoo
from pgg_zoo.engine import PGGModel
from pgg_zoo.engine.amp import PGGAmpOptimWrapper
from pgg_zoo.weights_io import checkpoint_globals

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.fixture
def toy():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import pgg_toy_plugin

        yield pgg_toy_plugin
    finally:
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop("pgg_toy_plugin", None)


def _batch(toy, n=8):
    ds = toy.ToyBlobs(n, seed=0)
    items = [ds[i] for i in range(n)]
    return torch.stack([it["inputs"] for it in items]), torch.tensor([it["label"] for it in items])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_penalty_is_float32_under_autocast_and_close_to_fp32(toy, dtype):
    torch.manual_seed(0)
    model = PGGModel(toy.ToyNet(), pgg_zoo.SYNTHESIZERS.build("cutmix"),
                     pgg_zoo.ProvenanceGuidance(alpha=1.0), seed=0)
    x, y = _batch(toy)
    model.generator.manual_seed(0)  # same CutMix boxes and pairs in both runs
    ref = model.loss({"inputs": x, "labels": y})
    model.generator.manual_seed(0)
    with torch.autocast("cpu", dtype=dtype):
        low = model.loss({"inputs": x, "labels": y})
    assert low["loss_pgg"].dtype == torch.float32
    # The inner input-gradient runs in low precision: the penalty agrees to a few percent.
    rel = abs(low["loss_pgg"].item() - ref["loss_pgg"].item()) / ref["loss_pgg"].item()
    assert rel < 0.05, rel
    low_total = low["loss_task"].float() + low["loss_pgg"]
    low_total.backward()  # double backprop under autocast
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_training_runs_and_checkpoints_scaler(toy, tmp_path, amp):
    pgg_zoo.register_task("toy_blobs", replace=True)(toy.ToyBlobsTask)
    runs = {}
    try:
        for name, precision in (("amp", amp), ("fp32", None)):
            torch.manual_seed(0)  # the toy model initializes from the global RNG
            task = pgg_zoo.build("toy_blobs", amp=precision, alpha=0.05, batch_size=8,
                                 limit_train=16, limit_test=8, epochs=1,
                                 work_dir=str(tmp_path / name))
            init = [v.clone() for v in task.model.state_dict().values()]
            runs[name] = (task, init, task.train())
    finally:
        pgg_zoo.TASKS.remove("toy_blobs")
    task, init, metrics = runs["amp"]
    # the reported top-1 is the trained model's on the 8 test items (evaluation runs in fp32)
    ds = toy.ToyBlobs(32, seed=1)
    x = torch.stack([ds[i]["inputs"] for i in range(8)])
    y = torch.tensor([ds[i]["label"] for i in range(8)])
    with torch.no_grad():
        pred = task.model(x).argmax(1)
    assert metrics["top1"] == pytest.approx(100.0 * (pred == y).float().mean().item())
    # both optimizer steps were taken (no skipped fp16 step, no NaN), and they moved the
    # weights as fp32 training does, within low-precision rounding
    now = list(task.model.state_dict().values())
    ref = list(runs["fp32"][0].model.state_dict().values())
    for a, b, start in zip(now, ref, init):
        assert torch.isfinite(a).all() and not torch.equal(a, start)
        torch.testing.assert_close(a - start, b - start, rtol=0.1, atol=2e-3)
    with checkpoint_globals():
        ckpt = torch.load(tmp_path / "amp" / "epoch_1.pth")
    scaler = ckpt["optimizer"]["loss_scaler"]
    assert ("scale" in scaler) == (amp == "fp16")  # bf16 needs no loss scaling


def test_amp_wrapper_rejects_unknown_dtype():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="amp"):
        PGGAmpOptimWrapper(optimizer=opt, dtype="fp8")


def test_gradient_accumulation_steps_every_n_iterations(toy, tmp_path):
    pgg_zoo.register_task("toy_blobs", replace=True)(toy.ToyBlobsTask)
    try:
        task = pgg_zoo.build("toy_blobs", accumulate=2, alpha=0.05, batch_size=4,
                             limit_train=16, limit_test=8, epochs=1, work_dir=str(tmp_path))
        task.train()
    finally:
        pgg_zoo.TASKS.remove("toy_blobs")
    with checkpoint_globals():
        ckpt = torch.load(tmp_path / "epoch_1.pth")
    steps = {float(s["step"]) for s in ckpt["optimizer"]["state"].values()}
    assert steps == {2.0}  # 4 iterations, one AdamW update per 2 micro-batches
