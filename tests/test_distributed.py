"""Data-parallel training on CPU (2 processes, gloo) and data loading with workers.

What is compared (docs/distributed.md):

* **Equivalence**: 2 ranks with batch 4 each vs 1 process with batch 8, same seed, 2 epochs of
  2 steps, guided (alpha 0.05) with the *whole-gradient* penalty (``guidance_mask="none"``)
  and no synthesis, on ToyNet (no BatchNorm). Mixing pairs inputs *within* a rank's batch, so
  CutMix on 2 x 4 cannot equal CutMix on 8; without BN and mixing each sample's loss and
  penalty depend on that sample only, and DDP's gradient average over ranks equals the
  single-process batch mean. The samplers give rank r the global indices r, r+2, ... of the
  same per-epoch permutation, so each step sees the same 8 samples. Tolerance: max |diff|
  <= 1e-5 on the weights (float32 sums in another order; AdamW).
* **Sync**: with CutMix + provenance guidance (double backprop inside DDP), the weights on both
  ranks are bitwise identical after training, while each rank's synthesis generator got a
  different seed.
"""
import gc
import os
import socket
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import pgg_zoo

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
# fork: the workers inherit the parent's imports and loaded plugins (spawn costs each worker
# ~15 s of imports on 2 shared cores). The parent has no process group of its own.
START_METHOD = "fork"
CFG = dict(alpha=0.05, synthesizer="none", guidance_mask="none", limit_train=16, limit_test=8,
           epochs=2, seed=1, lr=0.01)


def _register_toy():
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import pgg_toy_plugin

    pgg_zoo.register_task("toy_blobs", replace=True)(pgg_toy_plugin.ToyBlobsTask)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world), PGG_ZOO_PROGRESS="0")
    torch.set_num_threads(1)
    sys.path.insert(0, str(EXAMPLES))
    import pgg_toy_plugin as toy
    from pgg_zoo.engine.model import PGGModel

    out_dir = Path(out)
    torch.manual_seed(0)
    # The class itself, not its name: a lookup by name would import every installed plugin
    # (seconds per process).
    from pgg_zoo import build

    task = build(toy.ToyBlobsTask, batch_size=4, launcher="pytorch", work_dir=str(out_dir / "eq"),
                            **CFG)
    task.train()
    torch.save(task.model.state_dict(), out_dir / f"eq_rank{rank}.pt")

    seeds = []
    real = PGGModel.synthesize

    def spy(self, batch):
        seeds.append(self.generator.initial_seed())
        return real(self, batch)

    PGGModel.synthesize = spy  # in this spawned worker only; restored below
    try:
        torch.manual_seed(0)
        task = build(toy.ToyBlobsTask, batch_size=4, launcher="pytorch", alpha=0.05,
                     synthesizer="cutmix", guidance_mask="provenance", limit_train=16,
                     limit_test=8, epochs=1, seed=1, work_dir=str(out_dir / "mix"))
        task.train()
    finally:
        PGGModel.synthesize = real
    torch.distributed.destroy_process_group()  # a clean exit (else teardown waits)
    torch.save({"state": task.model.state_dict(), "seeds": seeds}, out_dir / f"mix_rank{rank}.pt")


def _spawn(world: int, out: Path, timeout: float = 120.0) -> None:
    ctx = mp.start_processes(_worker, args=(world, _free_port(), str(out)), nprocs=world,
                             join=False, start_method=START_METHOD)
    deadline = time.time() + timeout
    while not ctx.join(timeout=2):
        if time.time() > deadline:
            for p in ctx.processes:
                p.terminate()
            pytest.fail("distributed workers timed out")


def test_ddp_guided_two_ranks_match_each_other_and_single_process(tmp_path):
    _register_toy()
    try:
        torch.manual_seed(0)
        single = pgg_zoo.build("toy_blobs", batch_size=8, work_dir=str(tmp_path / "single"),
                               **CFG)
        single.train()
    finally:
        pgg_zoo.TASKS.remove("toy_blobs")
    _spawn(2, tmp_path)
    r0, r1 = (torch.load(tmp_path / f"eq_rank{r}.pt") for r in (0, 1))
    for k, ref in single.model.state_dict().items():
        assert torch.equal(r0[k], r1[k]), f"{k} differs between ranks"
        diff = (r0[k] - ref).abs().max().item()
        print(f"DDP vs single {k}: max abs diff {diff:.2e}")
        assert diff <= 1e-5, f"{k}: DDP vs single process differ by {diff}"
    m0, m1 = (torch.load(tmp_path / f"mix_rank{r}.pt") for r in (0, 1))
    for k in m0["state"]:
        assert torch.equal(m0["state"][k], m1["state"][k]), f"{k} differs between ranks (cutmix)"
    assert len(m0["seeds"]) == 2 and len(m1["seeds"]) == 2
    assert set(m0["seeds"]).isdisjoint(m1["seeds"])  # each rank its own pairings
    # Only rank 0 writes the weights file and the metrics.
    assert (tmp_path / "mix" / "model.safetensors").is_file()
    assert (tmp_path / "mix" / "metrics.jsonl").read_text().count("\n") == 1


# ------------------------------------------------------------------------------------------
# data loading with workers
# ------------------------------------------------------------------------------------------
class _Clips(torch.utils.data.Dataset):
    """Reads clips with the STAD reader; reports how many decord readers are alive after."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from pgg_zoo_tasks.stad.data.video import read_clip

        clip = read_clip(self.paths[i], [0, 1])
        import decord

        gc.collect()
        with warnings.catch_warnings():  # touching every object trips deprecation shims
            warnings.simplefilter("ignore")
            alive = sum(isinstance(o, decord.VideoReader) for o in gc.get_objects())
        return {"frames": torch.from_numpy(clip), "alive": alive, "pid": os.getpid()}


def test_stad_reader_with_workers_holds_no_readers_and_skips_bad_files(tmp_path):
    pytest.importorskip("decord")
    from pgg_zoo.data import BadSampleWarning, SafeDataset
    from pgg_zoo_tasks.stad.data import video as video_module

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"v{i}.mp4"
        video_module.write_video(p, rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8))
        paths.append(str(p))
    paths.insert(1, str(tmp_path / "missing.mp4"))  # a bad item
    ds = SafeDataset(_Clips(paths), on_error="skip")
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2,
                                         collate_fn=lambda x: x)
    items = list(loader)  # worker warnings are printed by the workers, not raised here
    assert len(items) == 4
    assert {it["pid"] for it in items} - {os.getpid()}  # really in worker processes
    assert all(it["alive"] == 0 for it in items)  # readers opened per read and dropped
    assert all(tuple(it["frames"].shape) == (2, 16, 16, 3) for it in items)
    import decord

    assert not any(isinstance(v, decord.VideoReader) for v in vars(video_module).values())
    # The same policy in the main process records what it skipped.
    ds0 = SafeDataset(_Clips(paths), on_error="skip")
    with pytest.warns(BadSampleWarning, match="missing.mp4"):
        ds0[1]
    assert ds0.bad_samples[0]["index"] == 1
    with pytest.raises(Exception, match="missing.mp4"):
        SafeDataset(_Clips(paths), on_error="raise")[1]


def test_on_error_config_is_applied_by_the_engine_loader(tmp_path):
    _register_toy()
    try:
        from pgg_zoo.data import SafeDataset
        from pgg_zoo.engine.runner import _loader

        task = pgg_zoo.build("toy_blobs", on_error="skip", limit_train=8)
        loader = _loader(task, task.dataset("train"), train=True)
        assert isinstance(loader.dataset, SafeDataset) and loader.dataset.on_error == "skip"
        with pytest.raises(ValueError, match="on_error"):
            pgg_zoo.build("toy_blobs", on_error="ignore").train(work_dir=str(tmp_path))
        with pytest.raises(RuntimeError, match="tensorboard"):
            pgg_zoo.build("toy_blobs", log_backend="tensorboard").train(work_dir=str(tmp_path))
    finally:
        pgg_zoo.TASKS.remove("toy_blobs")
