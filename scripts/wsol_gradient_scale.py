"""Input-gradient scale vs leakage of trained WSOL runs (exploratory; docs/results.md,
"wsol-finegrained-v1").

For each run folder, on the same CutMix inputs of the test split (a fixed generator; the first
128 of every other test image), the mean total squared input gradient of each label's logit and
the share of it outside the label's provenance (label slots that own part of the input):

    python scripts/wsol_gradient_scale.py --study runs/wsol_fg/study \
        --variants cutmix cutmix+pgg cutmix+random-mask cutmix+no-mask \
        --set benchmark=wsol-finegrained-v1 --set image_size=32

A guided model that meets its penalty by shrinking its input sensitivity everywhere shows a
smaller total at an unchanged share.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import pgg_zoo
from pgg_zoo.cli.run import parse_set_options
from pgg_zoo.guidance import gradient_mass
from pgg_zoo.study import variant_dir_name


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
        for slot in range(prov.labels.shape[1]):
            sq = mass[:, slot]
            m = prov.masks[:, slot]
            for b in range(x.shape[0]):
                if prov.valid[b, slot] and 0 < float(m[b].mean()) < 1:
                    total.append(float(sq[b].sum()))
                    off.append(float((sq[b] * (1 - m[b])).sum()))
    return float(np.mean(total)), 100 * float(np.sum(off) / np.sum(total))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", required=True, type=Path, help="folder with s<seed>/<variant>/")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    from safetensors.torch import load_file

    common = parse_set_options(args.set)
    print("| seed | " + " | ".join(f"{v}: total / off-mask share" for v in args.variants) + " |")
    print("|---|" + "---|" * len(args.variants))
    for seed in args.seeds:
        cells = []
        for v in args.variants:
            task = pgg_zoo.build("wsol", **common, seed=seed)
            work = args.study / f"s{seed}" / variant_dir_name(v)
            task.model.load_state_dict(load_file(str(work / "model.safetensors")))
            tot, share = gradient_scale(task)
            cells.append(f"{tot:.3f} / {share:.1f} %")
        print(f"| {seed} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
