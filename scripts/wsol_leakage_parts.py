"""Where each label's input gradient sits on CutMix inputs: own object, own background, other
object, other background (docs/results.md, "wsol-finegrained").

For each run folder of a study, on the same CutMix inputs of the test split (the first n of a
fixed shuffle, the task's own synthesizer and a fixed generator; the masks are mixed with the
same draws), each label slot that owns part of its input contributes the shares of its squared
input gradient (summed over colour channels) on the four parts; the table gives their mean over slots, in percent. "Own"
is the label's provenance, "object" the ground-truth object mask. The two "other" columns add
up to the gradient leakage on these inputs (the engine's leakage uses other batches).

    python scripts/wsol_leakage_parts.py --study runs/wsol_fg/study \
        --variants cutmix cutmix+pgg --set benchmark=wsol-finegrained-v1 --set image_size=32

A label that reads only its own object scores near 100 on "own object"; one whose gradient
does not depend on which label it is splits evenly between "own" and "other".
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

PARTS = ("own object", "own background", "other object", "other background")


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
        for slot in range(prov.labels.shape[1]):
            sq = mass[:, slot]
            own = prov.masks[:, slot].float()
            for b in range(x.shape[0]):
                if not (prov.valid[b, slot] and 0 < float(own[b].mean()) < 1):
                    continue
                tot = float(sq[b].sum())
                if tot <= 0:
                    continue
                o, m = own[b], mixed_obj[b]
                shares.append([float((sq[b] * w).sum()) / tot for w in
                               (o * m, o * (1 - m), (1 - o) * m, (1 - o) * (1 - m))])
    return 100 * np.asarray(shares).mean(0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", required=True, type=Path, help="folder with s<seed>/<variant>/")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--split", default="test", help="test, or val for selection-stage runs")
    args = ap.parse_args(argv)
    from safetensors.torch import load_file

    common = parse_set_options(args.set)
    print("| seed | variant | " + " | ".join(PARTS) + " |")
    print("|---|---|" + "---|" * len(PARTS))
    rows: dict[str, list[np.ndarray]] = {}
    for seed in args.seeds:
        for v in args.variants:
            task = pgg_zoo.build("wsol", **common, seed=seed)
            work = args.study / f"s{seed}" / variant_dir_name(v)
            task.model.load_state_dict(load_file(str(work / "model.safetensors")))
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
