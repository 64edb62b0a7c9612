"""How far each guidance mode's weight-gradient is from the exact one, on a task's own model.

docs/performance.md asks to check an approximate mode on your model before training with it;
this does that check. It builds the task (its embedded benchmark unless ``--set data_root=...``),
takes the first ``--batch`` training items, synthesizes one batch and, for the same synthesized
batch and the same initial weights, backpropagates the penalty alone (``alpha=1``) with each mode.
It prints the cosine and the relative L2 error of each mode's weight-gradient against ``exact``:

* ``finite_difference`` at several steps ``h`` (deterministic: one draw tells its bias);
* ``one_label``: one draw, and the mean over ``--draws`` draws (unbiased: the mean approaches
  exact, up to the small train-mode BatchNorm bias, as the number of draws grows).

    python benchmarks/mode_error.py                       # wsol, tiny_cam, batch 32 (~1 min)
    python benchmarks/mode_error.py --task wsol --set backbone=resnet18 --batch 8
"""
from __future__ import annotations

import argparse
import copy
from typing import Any

import torch
from torch import Tensor

import pgg_zoo
from pgg_zoo.cli.run import parse_set_options
from pgg_zoo.engine.model import PGGModel


def weight_grad(task: Any, model: torch.nn.Module, batch: dict[str, Any], mode: str,
                options: dict[str, Any], seed: int) -> Tensor:
    """Flat weight-gradient of the penalty alone for one synthesized batch (fresh model copy)."""
    m = copy.deepcopy(model).train()
    guidance = pgg_zoo.ProvenanceGuidance(alpha=1.0, mode=mode, mode_options=options)
    pgg = PGGModel(m, task.build_synthesizer(), guidance, seed=0)
    # the synthesizer draws from this generator: every mode sees the same batch; one_label
    # draws its labels from the global RNG, seeded with ``seed``
    pgg.generator.manual_seed(0)
    torch.manual_seed(seed)
    loss = pgg.loss(batch)["loss_pgg"]
    if loss.requires_grad:  # a draw whose labels all own their whole input is a constant 0
        loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in m.parameters()])


def compare(ref: Tensor, est: Tensor) -> str:
    cos = torch.nn.functional.cosine_similarity(ref, est, dim=0).item()
    rel = ((est - ref).norm() / ref.norm()).item()
    return f"cosine {cos:7.4f}   relative L2 error {rel:8.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="wsol")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--draws", type=int, default=40, help="one_label draws to average")
    ap.add_argument("--steps", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4],
                    help="finite-difference steps h")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="task option (JSON value), repeatable")
    args = ap.parse_args()
    overrides = parse_set_options(args.set)
    task = pgg_zoo.build(args.task, **overrides)
    ds = task.build_dataset("train")
    # A seeded random batch: data sets stored by class would give a batch of one class, whose
    # label-level provenance owns every pixel (a zero penalty, nothing to compare).
    pick = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:args.batch]
    collated = task.collate([ds[int(i)] for i in pick])
    batch = {**collated.get("data_samples", {}), "inputs": collated["inputs"]}
    model = task.build_model()
    print(f"{task!r}: penalty weight-gradient of each mode against exact, one synthesized batch "
          f"of {collated['inputs'].shape[0]}, train mode, float32")
    ref = weight_grad(task, model, batch, "exact", {}, 0)
    for h in args.steps:
        est = weight_grad(task, model, batch, "finite_difference", {"step": h}, 0)
        print(f"finite_difference h={h:g}:".ljust(34) + compare(ref, est))
    mean = torch.zeros_like(ref)
    for k in range(args.draws):
        est = weight_grad(task, model, batch, "one_label", {}, k)
        if k == 0:
            print("one_label, one draw:".ljust(34) + compare(ref, est))
        mean += est
    print(f"one_label, mean of {args.draws} draws:".ljust(34) + compare(ref, mean / args.draws))


if __name__ == "__main__":
    main()
