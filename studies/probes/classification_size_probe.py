"""Exploratory val probe (seed 0, val split only; studies/log/classification.md): the
waterbirds-shapes-v2 specification with the object's side drawn from LO..HI px (v2: 12..18 of
48), plain / edited / edited + guidance at alpha 1 and 10. Not a benchmark version: the
variant is registered as ``waterbirds-shapes-probe-LO-HI``.

    python studies/probes/classification_size_probe.py 24 36   # objects about 4x larger
    python studies/probes/classification_size_probe.py 12 18   # v2's own sizes, the control
    python studies/probes/classification_size_probe.py 18 27 --shares 1 0.3 0.1
        # edited at each share of edited copies, + guidance (alpha 1) at the two smaller ones

Outputs: runs/cls_probe/<name>/ (gitignored); run each with its own PGG_ZOO_HOME when two run
side by side.
"""
import argparse

import pgg_zoo
from pgg_zoo_tasks.classification.task import STUDY_VARIANTS

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("lo", type=int)
ap.add_argument("hi", type=int)
ap.add_argument("--shares", type=float, nargs="+", default=None)
args = ap.parse_args()
name = f"waterbirds-shapes-probe-{args.lo}-{args.hi}"
pgg_zoo.register_benchmark(pgg_zoo.get_benchmark("waterbirds-shapes-v2").variant(
    name, object_side_px=[args.lo, args.hi]))
common = dict(benchmark=name, eval_split="val", seed=0)
variants = {"plain": STUDY_VARIANTS["plain"]}
if args.shares is None:
    variants["edited"] = STUDY_VARIANTS["edited"]
    variants.update({f"edited+pgg_a{a}": {**STUDY_VARIANTS["edited+pgg"], "alpha": float(a)}
                     for a in (1, 10)})
else:
    for share in args.shares:
        variants[f"edited@{share}"] = {**STUDY_VARIANTS["edited"], "edit_share": share}
    for share in args.shares[1:]:
        variants[f"edited+pgg_a1@{share}"] = {**STUDY_VARIANTS["edited+pgg"], "alpha": 1.0,
                                              "edit_share": share}
pgg_zoo.run_variants("classification", variants, f"runs/cls_probe/{name}", common)
