"""Where each label's input gradient sits on CutMix inputs: own object, own background, other
object, other background (studies/log/results.md, "wsol-finegrained"), by
:func:`pgg_zoo.guidance.region_split` over :func:`~pgg_zoo.guidance.own_other_regions`.

For each run folder of a study, on the same CutMix inputs of the test split (the first n of a
fixed shuffle, the task's own synthesizer and a fixed generator; the masks are mixed with the
same draws), each label slot that owns part of its input contributes the shares of its squared
input gradient (summed over colour channels) on the four parts; the table gives their mean over slots, in percent. "Own"
is the label's provenance, "object" the ground-truth object mask. The two "other" columns add
up to the gradient leakage on these inputs (the engine's leakage uses other batches).

    python studies/probes/wsol_leakage_parts.py --study runs/wsol_fg/study \
        --variants cutmix cutmix+pgg

A label that reads only its own object scores near 100 on "own object"; one whose gradient
does not depend on which label it is splits evenly between "own" and "other".
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from pgg_zoo.cli.run import parse_set_options
from pgg_zoo.guidance import OWN_OTHER_PARTS as PARTS
from pgg_zoo.guidance import gradient_mass, own_other_regions, region_split
from pgg_zoo.study import variant_dir_name
from pgg_zoo.task import load_run


def leakage_parts(task, n: int = 128, batch: int = 32, seed: int = 1234, split: str = "test"
                  ) -> np.ndarray:
    """``(4,)`` mean share (percent) of a label's squared input gradient on :data:`PARTS`."""
    ds = task.dataset(split)  # "val": the carved val split the selection runs evaluated on
    model = task.model.eval()
    # A fixed shuffle: the test split is stored by class, and a batch of neighbours would pair
    # mostly same-class images (one label then owns the whole input and is not counted).
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed)).tolist()
    shares = []
    for start in range(0, min(n, len(ds)), batch):
        items = [ds[i] for i in order[start:start + batch]]
        data = task.collate(items)
        labels = data["data_samples"]["labels"]
        obj = torch.stack([torch.as_tensor(np.asarray(it["mask"]), dtype=torch.float32)
                           .reshape(data["inputs"].shape[-2:]) for it in items])
        obj = (obj > 0).float()[:, None].expand_as(data["inputs"]).contiguous()
        # The same generator state twice: the masks are cut and pasted exactly as the images.
        state = torch.Generator().manual_seed(seed + start)
        syn = task.synthesizer({"inputs": data["inputs"], "labels": labels}, generator=state)
        state = torch.Generator().manual_seed(seed + start)
        mixed_obj = task.synthesizer({"inputs": obj, "labels": labels}, generator=state).inputs
        mixed_obj = (mixed_obj[:, 0] > 0.5).float()
        x = syn.inputs.clone().requires_grad_(True)
        prov = syn.provenance
        mass = gradient_mass(x, model(x)["logits"].gather(1, prov.labels), prov.valid)
        parts = region_split(mass, own_other_regions(prov.masks, mixed_obj), prov.valid)
        area = prov.masks.float().flatten(2).mean(2)
        # a label owning all or nothing of its input has no "other" part to split
        shares.append(parts.per_slot((area > 0) & (area < 1))[0])
    return torch.cat(shares).mean(0).numpy()


def study_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of the probes that read a study's run folders ``s<seed>/<variant>/``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--study", required=True, type=Path, help="folder with s<seed>/<variant>/")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a saved option that does not change the model")
    return ap


def study_tasks(args: argparse.Namespace) -> Iterator[tuple[int, str, Any]]:
    """``(seed, variant, task)`` for every run of the study, rebuilt from its folder with its
    trained weights (:func:`pgg_zoo.task.load_run`)."""
    overrides = parse_set_options(args.set)
    for seed in args.seeds:
        for v in args.variants:
            yield seed, v, load_run(args.study / f"s{seed}" / variant_dir_name(v), **overrides)


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(__doc__.splitlines()[0])
    ap.add_argument("--split", default="test", help="test, or val for selection-stage runs")
    args = ap.parse_args(argv)
    print("| seed | variant | " + " | ".join(PARTS) + " |")
    print("|---|---|" + "---|" * len(PARTS))
    rows: dict[str, list[np.ndarray]] = {}
    for seed, v, task in study_tasks(args):
        p = leakage_parts(task, split=args.split)
        rows.setdefault(v, []).append(p)
        print(f"| {seed} | {v} | " + " | ".join(f"{x:.1f}" for x in p) + " |", flush=True)
    for v, ps in rows.items():
        a = np.asarray(ps)
        print(f"| mean | {v} | " + " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in
                                              zip(a.mean(0), a.std(0, ddof=1) if len(a) > 1
                                                  else np.zeros(4))) + " |")


if __name__ == "__main__":
    main()
