"""Exploratory validation probes after the wsol-finegrained-v2 alpha study (studies/log/
results.md, "Why the leakage does not move"): seed 0, val split only, no test number. Each
asks whether one change lets guidance lower the gradient leakage on CutMix inputs:

    python studies/probes/wsol_fg2_probes.py flat    # v2 with flat backgrounds (no texture,
                                                     # no noise): benchmark wsol-fg-probe-flat
    python studies/probes/wsol_fg2_probes.py warm    # fine-tune the v2 val CutMix model 5
                                                     # epochs (lr 3e-4) without / with guidance
    python studies/probes/wsol_fg2_probes.py share   # guidance mode "share" at alpha 1 and 3
    python studies/probes/wsol_fg2_probes.py prob    # CutMix on half of the inputs, alpha 10
    python studies/probes/wsol_fg2_probes.py scale RUN_DIR ...  # logit scale of val models
    python studies/probes/wsol_fg2_probes.py pairs RUN_DIR ...  # what pasting a bird does
    python studies/probes/wsol_fg2_probes.py nobn    # backbone tiny_cam_nobn, alpha 1 / 10
    python studies/probes/wsol_fg2_probes.py bce     # option loss=bce (one-vs-rest BCE)
    python studies/probes/wsol_fg2_probes.py relu_maps  # option cam_logits=relu_mean
    python studies/probes/wsol_fg2_probes.py smooth  # backbones tiny_cam_gelu / _softplus
    python studies/probes/wsol_fg2_probes.py frozen  # fixed features (the val no-mix model's),
                                                     # a new head with CutMix, alpha 0/1/10/100

Every variant is a library option, a registered backbone or a registered benchmark variant;
the probe changes nothing in the library. Outputs: runs/wsol_probe_flat/<probe>/ (gitignored).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import pgg_zoo

OUT = Path("runs/wsol_probe_flat")
V2 = dict(benchmark="wsol-finegrained-v2", image_size=32, epochs=10, eval_split="val", seed=0)
CUTMIX = {"synthesizer": "cutmix", "guidance": False}


def guided(alpha: float, **extra) -> dict:
    return {"synthesizer": "cutmix", "guidance": True, "alpha": float(alpha), **extra}


def flat() -> None:
    name = "wsol-fg-probe-flat"
    spec = pgg_zoo.get_benchmark("wsol-finegrained-v2").variant(
        name, texture_amplitude=0, noise_sigma=0.0)
    pgg_zoo.register_benchmark(spec)
    pgg_zoo.run_variants("wsol", {"cutmix": CUTMIX, "cutmix+pgg_a10": guided(10)},
                         OUT / name, {**V2, "benchmark": name})


def warm() -> None:
    from pgg_zoo.weights_io import load_weights_file

    init = "runs/wsol_fg2/alpha/s0/select/s0/no-guidance/model.safetensors"
    for name, extra in [("ft_cutmix", {"guidance": False}), ("ft_pgg_a10", guided(10)),
                        ("ft_pgg_a100", guided(100))]:
        cfg = {**V2, "epochs": 5, "lr": 3e-4, "synthesizer": "cutmix", **extra}
        t = pgg_zoo.build("wsol", **cfg, work_dir=str(OUT / "warm" / name))
        load_weights_file(t.model, init)
        t0 = time.time()
        m = t.train()
        print(name, f"{(time.time() - t0) / 60:.1f} min", {k: round(v, 2) for k, v in m.items()},
              flush=True)


def share() -> None:
    pgg_zoo.run_variants("wsol", {f"share_a{a}": guided(a, guidance_mode="share") for a in (1, 3)},
                         OUT / "share", V2)


def nobn() -> None:
    """tiny_cam's layers with conv biases and no BatchNorm (train-mode BatchNorm couples the
    inputs of a batch, and the decoy convnet, where guidance does move the gradient, has none)."""
    common = {**V2, "backbone": "tiny_cam_nobn"}
    pgg_zoo.run_variants("wsol", {"nobn_cutmix": CUTMIX, "nobn_pgg_a10": guided(10),
                                  "nobn_pgg_a1": guided(1)}, OUT / "nobn", common)


def _alphas(name: str, alphas=(0, 1, 10), **common) -> None:
    variants = {f"{name}_a{a}": (guided(a) if a else CUTMIX) for a in alphas}
    pgg_zoo.run_variants("wsol", variants, OUT / name, {**V2, **common})


def bce() -> None:
    """Binary cross-entropy on the mixed targets (timm's BCE with CutMix): each logit is a
    one-vs-rest detector, with no softmax competition that pushes other sources' evidence
    into it as negative evidence."""
    _alphas("bce", loss="bce")


def relu_maps() -> None:
    """Logits are the mean of ReLU(class maps): a label's gradient then lives only where its
    own map is positive, so the penalty can act on where the map fires."""
    _alphas("relu_maps", cam_logits="relu_mean")


def smooth() -> None:
    """tiny_cam with smooth activations: through a ReLU the penalty's parameter gradient cannot
    move a gate (its second derivative is 0), only rescale the active paths."""
    for name in ("gelu", "softplus"):
        _alphas(name, alphas=(0, 10), backbone=f"tiny_cam_{name}")


def frozen() -> None:
    """A stand-in for pretrained features: the backbone of the val no-mix model (design check,
    seed 0) with learning rate 0, and a freshly initialized head trained with CutMix. With fixed
    features the penalty cannot rescale the backbone; it can only shrink or turn the head."""
    from pgg_zoo.weights_io import load_weights_file

    init = "runs/wsol_fg2/design_val/s0/no-mix/model.safetensors"
    for a in (0, 1, 10, 100):
        name = f"frozen_a{a}"
        extra = guided(a) if a else CUTMIX
        cfg = {**V2, "epochs": 5, "lr_mult": {"features.": 0.0}, **extra}
        t = pgg_zoo.build("wsol", **cfg, work_dir=str(OUT / "frozen" / name))
        load_weights_file(t.model, init)
        torch.manual_seed(0)
        t.model.fc.reset_parameters()
        t0 = time.time()
        m = t.train()
        print(name, f"{(time.time() - t0) / 60:.1f} min",
              {k: round(v, 2) for k, v in m.items()}, flush=True)


def prob() -> None:
    common = {**V2, "synthesizer_options": {"prob": 0.5}}
    pgg_zoo.run_variants("wsol", {"p05_cutmix": CUTMIX, "p05_pgg_a10": guided(10)},
                         OUT / "prob", common)


def scale(runs: list[str]) -> None:
    """Logit spread, top-1 margin and mean top probability on the val split's clean images, and
    the squared input gradient of the labels on CutMix val inputs inside / outside their
    provenance (sums over label slots that own part of their input)."""
    from safetensors.torch import load_file

    from pgg_zoo.guidance import gradient_mass, region_split

    t = pgg_zoo.build("wsol", **V2)
    ds = t.dataset("val")
    data = t.collate([ds[i] for i in range(len(ds))])
    syn = t.synthesizer({"inputs": data["inputs"], "labels": data["data_samples"]["labels"]},
                        generator=torch.Generator().manual_seed(1))
    prov = syn.provenance
    print("| run | logit std | top-1 margin | mean max prob | gradient mass inside / outside |")
    print("|---|---|---|---|---|")
    for run in runs:
        t.model.load_state_dict(load_file(str(Path(run) / "model.safetensors")))
        model = t.model.eval()
        with torch.no_grad():
            lg = model(data["inputs"])["logits"]
        srt = lg.sort(1, descending=True).values
        x = syn.inputs.clone().requires_grad_(True)
        mass = gradient_mass(x, model(x)["logits"].gather(1, prov.labels), prov.valid)
        own = prov.masks.float()
        area = own.flatten(2).mean(2)
        split = region_split(mass, {"inside": own, "outside": 1 - own}, prov.valid)
        inside, outside = (float(v) for v in split.per_slot((area > 0) & (area < 1))[1].sum(0))
        print(f"| {run} | {float(lg.std(1).mean()):.2f} | {float((srt[:, 0] - srt[:, 1]).mean()):.2f}"
              f" | {float(lg.softmax(1).max(1).values.mean()):.3f} | {inside:.2f} / {outside:.2f} |")


def pairs(runs: list[str], n_pairs: int = 60) -> None:
    """Bird b (its whole frame) pasted into an image of bird a where the frames do not overlap
    (synthetic images of new indices, never in any split): the change of a's and b's logits."""
    import numpy as np
    from PIL import Image
    from safetensors.torch import load_file

    from pgg_zoo.vision.files import load_rgb, normalize_
    from pgg_zoo_tasks.wsol.data.finegrained import render_bird_image

    t = pgg_zoo.build("wsol", **V2)
    models = {}
    for run in runs:
        m = pgg_zoo.build("wsol", **V2).model
        m.load_state_dict(load_file(str(Path(run) / "model.safetensors")))
        models[run] = m.eval()
    ds = t.build_dataset("train")  # the dataset's own image transform and normalization

    def prep(img: np.ndarray) -> torch.Tensor:
        return normalize_(load_rgb(Image.fromarray(img), 32), ds.mean, ds.std)[None]

    def frame(a: dict) -> np.ndarray:
        f = np.zeros((32, 32), bool)
        f[a["y"]:a["y"] + a["side"], a["x"]:a["x"] + a["side"]] = True
        return f

    spec_v2 = pgg_zoo.get_benchmark("wsol-finegrained-v2").design()
    rng = np.random.default_rng(0)
    deltas: dict[str, list[tuple[float, float]]] = {r: [] for r in runs}
    found = 0
    while found < n_pairs:
        la, lb = rng.choice(12, 2, replace=False)
        ia, ib = rng.integers(10000, 20000, 2)
        img_a, _, att_a = render_bird_image(0, int(ia), int(la), spec_v2)
        img_b, _, att_b = render_bird_image(0, int(ib), int(lb), spec_v2)
        fa, fb = frame(att_a), frame(att_b)
        if (fa & fb).any():
            continue
        mixed = img_a.copy()
        mixed[fb] = img_b[fb]
        found += 1
        for run, m in models.items():
            with torch.no_grad():
                alone, both = m(prep(img_a))["logits"][0], m(prep(mixed))["logits"][0]
            deltas[run].append((float(both[la] - alone[la]), float(both[lb] - alone[lb])))
    print(f"| run | host logit change | pasted label's logit change |  ({n_pairs} pairs)")
    print("|---|---|---|")
    for run, d in deltas.items():
        a = np.asarray(d)
        print(f"| {run} | {a[:, 0].mean():+.2f} | {a[:, 1].mean():+.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", choices=["flat", "warm", "share", "prob", "nobn", "scale", "pairs",
                                          "bce", "relu_maps", "smooth", "frozen"])
    ap.add_argument("runs", nargs="*", help="run folders (scale, pairs)")
    args = ap.parse_args()
    if args.probe in ("scale", "pairs"):
        globals()[args.probe](args.runs)
    else:
        globals()[args.probe]()


if __name__ == "__main__":
    main()
