"""Exploratory val probe (seed 0, val split only; docs/results.md, classification): the
waterbirds-shapes-v2 specification with the object's side drawn from LO..HI px (v2: 12..18 of
48), plain / edited / edited + guidance at alpha 1 and 10. Not a benchmark version.

    python scripts/classification_size_probe.py 24 36   # objects about four times larger
    python scripts/classification_size_probe.py 12 18   # v2's own sizes, as the control

Outputs: runs/cls_probe/<name>/ (gitignored); run each with its own PGG_ZOO_HOME when two run
side by side.
"""
import sys
import pgg_zoo
from pgg_zoo_tasks.classification.benchmark import SPECS, SPEC_V2
from pgg_zoo_tasks.classification.task import STUDY_VARIANTS
lo, hi = int(sys.argv[1]), int(sys.argv[2])
name = f"waterbirds-shapes-probe-{lo}-{hi}"
SPECS[name] = {**SPEC_V2, "name": name, "object_side_px": [lo, hi]}
common = dict(benchmark=name, eval_split="val", seed=0)
variants = {"plain": STUDY_VARIANTS["plain"], "edited": STUDY_VARIANTS["edited"]}
variants.update({f"edited+pgg_a{a}": {**STUDY_VARIANTS["edited+pgg"], "alpha": float(a)} for a in (1, 10)})
pgg_zoo.run_variants("classification", variants, f"runs/cls_probe/{name}", common)
