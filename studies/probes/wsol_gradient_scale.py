"""Input-gradient scale vs leakage of trained WSOL runs (exploratory; studies/log/results.md,
"wsol-finegrained-v1").

For each run folder, on the same CutMix inputs of the test split (a fixed generator; the first
128 of every other test image), the mean total squared input gradient of each label's logit and
the share of it outside the label's provenance (label slots that own part of the input):

    python studies/probes/wsol_gradient_scale.py --study runs/wsol_fg/study \
        --variants cutmix cutmix+pgg cutmix+random-mask cutmix+no-mask

A guided model that meets its penalty by shrinking its input sensitivity everywhere shows a
smaller total at an unchanged share.
"""
from __future__ import annotations

import numpy as np
import torch

from pgg_zoo.guidance import gradient_mass, region_split
from wsol_leakage_parts import study_parser, study_tasks


def gradient_scale(task, n: int = 128, batch: int = 32, seed: int = 1234) -> tuple[float, float]:
    """(mean total squared input gradient per label, its share outside the label's mask in %)."""
    ds = task.build_dataset("test")
    gen = torch.Generator().manual_seed(seed)
    model = task.model.eval()
    total, off = [], []
    for start in range(0, n, batch):
        items = [ds[i] for i in range(2 * start, 2 * (start + batch), 2)]
        data = task.collate(items)
        syn = task.synthesizer({"inputs": data["inputs"],
                                "labels": data["data_samples"]["labels"]}, generator=gen)
        x = syn.inputs.clone().requires_grad_(True)
        prov = syn.provenance
        mass = gradient_mass(x, model(x)["logits"].gather(1, prov.labels), prov.valid)
        own = prov.masks.float()
        area = own.flatten(2).mean(2)
        parts = region_split(mass, {"outside": 1 - own}, prov.valid)
        keep = prov.valid & (area > 0) & (area < 1)  # zero-gradient slots count too (as 0)
        total += parts.total[keep].tolist()
        off += parts.mass[..., 0][keep].tolist()
    return float(np.mean(total)), 100 * float(np.sum(off) / np.sum(total))


def main(argv: list[str] | None = None) -> None:
    args = study_parser(__doc__.splitlines()[0]).parse_args(argv)
    print("| seed | " + " | ".join(f"{v}: total / off-mask share" for v in args.variants) + " |")
    print("|---|" + "---|" * len(args.variants))
    cells: dict[int, list[str]] = {}
    for seed, _, task in study_tasks(args):
        tot, share = gradient_scale(task)
        cells.setdefault(seed, []).append(f"{tot:.3f} / {share:.1f} %")
        if len(cells[seed]) == len(args.variants):
            print(f"| {seed} | " + " | ".join(cells[seed]) + " |", flush=True)


if __name__ == "__main__":
    main()
