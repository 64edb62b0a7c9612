"""Exploratory: where the STAD labels' input gradient sits on pasted clips, per kind of label
(host actor / pasted actor), in eval mode (running BatchNorm statistics, no dropout, as the
engine's leakage is measured) and in train mode (batch statistics and the head's dropout, as the
penalty is computed in training; the dropout draws are seeded per batch, so reruns agree).

    python studies/probes/stad_leakage_parts.py RUN_DIR ... [--per-class 120] [--zone clip] \
        [--split val]

For every run: the mean leaked share (percent) and the mean squared gradient inside / outside
the label's provenance (:func:`pgg_zoo.guidance.region_split`), for host-actor and
pasted-actor slots separately, on 4 batches of 8 pasted clips of ``--split`` (fixed draws).
The runs must share one ``stad-scenes`` spec: ``stad-scenes-v1`` with ``--p-scene``,
``--per-class`` and ``--zone`` (a registered variant when they differ from v1's).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from pgg_zoo.guidance import frozen_running_stats, gradient_mass, region_split
from pgg_zoo.task import load_run
from scenes_variant import scenes_variant


def parts(task, model, split: str, mode: str, n_batches: int = 4, bs: int = 8) -> dict:
    ds = task.build_dataset(split)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    syn_fn = task.build_synthesizer()
    out: dict[str, list[torch.Tensor]] = {"host": [], "pasted": []}
    for k in range(n_batches):
        items = [ds[i] for i in order[k * bs:(k + 1) * bs]]
        data = task.collate(items)
        batch = {**data["data_samples"], "inputs": data["inputs"]}
        syn = syn_fn(batch, torch.Generator().manual_seed(100 + k))
        sbatch = {**batch, **syn.extras, "inputs": syn.inputs}
        prov = syn.provenance
        model.train(mode == "train")
        torch.manual_seed(k)  # the head's dropout in train mode
        with frozen_running_stats(model):
            x = syn.inputs.detach().requires_grad_(True)
            logits = model.label_logits(model(x, sbatch), prov, sbatch)
            mass = gradient_mass(x, logits, prov.valid)
        own = prov.masks.float()
        rs = region_split(mass, {"inside": own, "outside": 1 - own}, prov.valid)
        has_paste = torch.tensor([bool(p) for p in syn.extras["pasted"]])[:, None]
        pasted = torch.zeros_like(prov.valid)
        for b in range(x.shape[0]):
            if has_paste[b]:
                pasted[b, len(syn.extras["boxes"][b]) - 1] = True  # host actors first, then it
        for kind, select in (("host", has_paste & ~pasted), ("pasted", pasted)):
            shares, masses = rs.per_slot(select)
            out[kind].append(torch.cat([shares[:, 1:], masses], 1))  # leak %, inside, outside
    return {k: torch.cat(v).mean(0).numpy() if sum(len(t) for t in v) else np.full(3, np.nan)
            for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--p-scene", type=float, default=0.95)
    ap.add_argument("--zone", default="frame")
    ap.add_argument("--split", default="val")
    args = ap.parse_args(argv)
    benchmark = scenes_variant(p_scene_train=args.p_scene, n_train_per_class=args.per_class,
                               zone=args.zone)
    print("| run | mode | host: leak % | host: in / out | pasted: leak % | pasted: in / out |")
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        task = load_run(run, benchmark=benchmark)
        model = task.model
        for mode in ("eval", "train"):
            r = parts(task, model, args.split, mode)
            h, p = r["host"], r["pasted"]
            print(f"| {run.name} | {mode} | {h[0]:.1f} | {h[1]:.3g} / {h[2]:.3g} | {p[0]:.1f} | "
                  f"{p[1]:.3g} / {p[2]:.3g} |", flush=True)


if __name__ == "__main__":
    main()
