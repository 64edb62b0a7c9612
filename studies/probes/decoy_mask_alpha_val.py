"""Val-only supplement to the decoy `anywhere` convnet study (studies/log/decoy.md): validation
top-1 and leakage of guidance with the true mask and with the random-mask control at every
alpha of the selection grid, 3 seeds. Run after the test phase; it reads no test data.

    python studies/probes/decoy_mask_alpha_val.py [OUT]   # default runs/decoy/mask_alpha_val
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pgg_zoo import run_variants
from pgg_zoo.stats import mean_std

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/decoy/mask_alpha_val")
ALPHAS = (0.1, 1.0, 10.0, 100.0)
common = dict(variant="anywhere", backbone="convnet", epochs=15, eval_split="val")
rows = {}
for seed in (0, 1, 2):
    variants = {f"{mask}_a{a:g}": {"guidance": True, "guidance_mask": mask, "alpha": a}
                for mask in ("provenance", "random") for a in ALPHAS}
    res, _ = run_variants("decoy", variants, OUT / f"s{seed}", {**common, "seed": seed})
    for k, v in res.items():
        rows.setdefault(k, []).append({m: v[m] for m in ("top1", "leakage")})
lines = ["| alpha | provenance val top1 | random-mask val top1 | paired diff | "
         "provenance leakage | random-mask leakage |", "|---|---|---|---|---|---|"]
for a in ALPHAS:
    p, r = rows[f"provenance_a{a:g}"], rows[f"random_a{a:g}"]
    pt, rt = np.array([x["top1"] for x in p]), np.array([x["top1"] for x in r])
    lines.append(f"| {a:g} | {mean_std(pt)} | {mean_std(rt)} | {mean_std(pt - rt, signed=True)} | "
                 f"{np.mean([x['leakage'] for x in p]):.2f} | "
                 f"{np.mean([x['leakage'] for x in r]):.2f} |")
(OUT / "table.md").write_text("\n".join(lines) + "\n")
(OUT / "metrics.json").write_text(json.dumps(rows, indent=1))
print("\n".join(lines))
