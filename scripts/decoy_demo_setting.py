"""Study v3 of the decoy benchmark (docs/decoy.md, "A demo where provenance beats the random
mask"): the test phase of the `anywhere-convnet` demo setting.

    python scripts/decoy_demo_setting.py OUT_DIR --alpha A   # the demo's 5 variants, 5 seeds

Alpha was chosen on val only, before this ran: the val supplement of study v2
(``scripts/decoy_mask_alpha_val.py``: true mask and random-mask control at alpha 0.1, 1, 10,
100, 3 seeds) by the rule "largest mean paired val difference, true mask minus random mask";
alpha 1 (+6.56 +- 2.01). This script runs the demo's five variants at that alpha over 5 paired
seeds on test (resumable, :func:`pgg_zoo.run_paired`) and writes ``OUT_DIR/table.md``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pgg_zoo import run_paired
from pgg_zoo.stats import mean_std
from pgg_zoo_tasks.decoy.task import DEMO_VARIANTS

#: The data and model of the setting (its alpha is what the val phase chooses).
COMMON = dict(variant="anywhere", backbone="convnet", epochs=15)
TEST_SEEDS = (0, 1, 2, 3, 4)


def test_phase(out: Path, alpha: float) -> None:
    res = run_paired("decoy", DEMO_VARIANTS, out, TEST_SEEDS, {**COMMON, "alpha": alpha})
    names = list(DEMO_VARIANTS)
    lines = [f"alpha {alpha:g}, seeds {list(TEST_SEEDS)} (test split)", "",
             "| variant | test top-1 | leakage | top-1 vs plain | top-1 vs random-mask | "
             "leakage vs random-mask |", "|---|---|---|---|---|---|"]
    for n in names:
        t = np.array([res[s][n]["top1"] for s in TEST_SEEDS])
        lk = np.array([res[s][n]["leakage"] for s in TEST_SEEDS])
        tp = np.array([res[s]["plain"]["top1"] for s in TEST_SEEDS])
        tr = np.array([res[s]["random-mask"]["top1"] for s in TEST_SEEDS])
        lr = np.array([res[s]["random-mask"]["leakage"] for s in TEST_SEEDS])
        vs_r = "" if n == "random-mask" else (
            f"{mean_std(t - tr, signed=True)} {[round(float(d), 2) for d in t - tr]}")
        lines.append(f"| {n} | {mean_std(t)} | {mean_std(lk)} | "
                     f"{'' if n == 'plain' else mean_std(t - tp, signed=True)} | {vs_r} | "
                     f"{'' if n == 'random-mask' else mean_std(lk - lr, signed=True)} |")
    minutes = [res[s][n]["train_minutes"] for s in TEST_SEEDS for n in names]
    lines.append(f"\nminutes per demo (5 variants): {5 * np.nanmean(minutes):.2f}")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--alpha", type=float, required=True, help="the alpha chosen on val")
    args = ap.parse_args()
    test_phase(args.out, args.alpha)


if __name__ == "__main__":
    main()
