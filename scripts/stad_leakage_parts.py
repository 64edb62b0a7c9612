"""Exploratory: where the STAD labels' input gradient sits on pasted clips, per kind of label
(host actor / pasted actor), in eval mode (running BatchNorm statistics, no dropout, as the
engine's leakage is measured) and in train mode (batch statistics and the head's dropout, as the
penalty is computed in training; the dropout draws are seeded per batch, so reruns agree).

    python scripts/stad_leakage_parts.py RUN_DIR ... [--per-class 120] [--zone clip] [--split val]

For every run: the mean leaked share (percent) and the mean squared gradient inside / outside
the label's provenance, for host-actor and pasted-actor slots separately, on 4 batches of 8
pasted clips of ``--split`` (fixed draws). The runs must share one ``stad-scenes`` spec.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

import pgg_zoo
from pgg_zoo.guidance import frozen_running_stats, gradient_mass
from pgg_zoo.weights_io import read_state_dict
from pgg_zoo_tasks.stad.data import scenes


def parts(task, model, split: str, mode: str, n_batches: int = 4, bs: int = 8) -> dict:
    ds = task.build_dataset(split)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    syn_fn = task.build_synthesizer()
    out: dict[str, list[list[float]]] = {"host": [], "pasted": []}
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
        n_slots = prov.labels.shape[1]
        for b in range(x.shape[0]):
            if not bool(syn.extras["pasted"][b]):
                continue
            pasted_slot = len(syn.extras["boxes"][b]) - 1  # host actors first, then it
            for s in range(n_slots):
                if not bool(prov.valid[b, s]):
                    continue
                own = prov.masks[b, s].float()
                m = mass[b, s]
                tot = float(m.sum())
                if tot <= 0:
                    continue
                kind = "pasted" if s == pasted_slot else "host"
                inside, outside = float((m * own).sum()), float((m * (1 - own)).sum())
                out[kind].append([100 * outside / tot, inside, outside])
    return {k: np.asarray(v).mean(0) if v else np.full(3, np.nan) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--p-scene", type=float, default=0.95)
    ap.add_argument("--zone", default="frame")
    ap.add_argument("--split", default="val")
    args = ap.parse_args(argv)
    spec = dataclasses.replace(scenes.ScenesSpec(), p_scene_train=args.p_scene,
                               n_train_per_class=args.per_class, zone=args.zone)
    scenes.SCENES_SPECS["stad-scenes-v1"] = spec  # what the task builds for that name
    print("| run | mode | host: leak % | host: in / out | pasted: leak % | pasted: in / out |")
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        saved = json.loads((run / "run.json").read_text())["config"]
        opts = {k: saved[k] for k in ("head_context", "backbone", "synthesizer_options")}
        task = pgg_zoo.build("stad", benchmark="stad-scenes-v1", **opts)
        model = task.build_model()
        model.load_state_dict(read_state_dict(run / "model.safetensors", "safetensors"))
        for mode in ("eval", "train"):
            r = parts(task, model, args.split, mode)
            h, p = r["host"], r["pasted"]
            print(f"| {run.name} | {mode} | {h[0]:.1f} | {h[1]:.3g} / {h[2]:.3g} | {p[0]:.1f} | "
                  f"{p[1]:.3g} / {p[2]:.3g} |", flush=True)


if __name__ == "__main__":
    main()
