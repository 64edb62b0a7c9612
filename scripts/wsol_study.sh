#!/usr/bin/env bash
# The fine-grained WSOL study of docs/wsol.md ("Fine-grained benchmark"), as it was run, one
# training process at a time, one thread each. Outputs: runs/wsol_fg/ (gitignored).
#  0. design check on val (seed 0): no-mix vs CutMix, leakage of CutMix;
#  1. alpha chosen on val (pgg_zoo.study.alpha_study, selection only; grid 0, 1, 10, 100;
#     3 seeds; metric MaxBoxAccV2); no test split is read;
#  2. 5 paired test seeds of cutmix / cutmix+pgg / random-mask / no-mask at that alpha
#     (cutmix and cutmix+pgg also evaluated every 2nd epoch, for convergence), then no-mix;
#  3. tables: paired differences to cutmix, and epochs to reach cutmix's final metric;
#  4. (exploratory, after the test runs) input-gradient scale vs leakage of the trained models.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=runs/wsol_fg
B=(--set 'benchmark="wsol-finegrained-v1"' --set image_size=32 --set epochs=10)

# 0. design check (validation only)
python scripts/wsol_study.py --out $OUT/design_val_v1 --seeds 0 --variants no-mix cutmix \
  "${B[@]}" --set 'eval_split="val"' --eval-every 1

# 1. alpha on val
python -c "from pgg_zoo.study import alpha_study; alpha_study('wsol', out_dir='$OUT/alpha', \
seeds=(0, 1, 2), test_seeds=(), alphas=(1.0, 10.0, 100.0), epochs=10, metric='maxboxacc_v2', \
benchmark='wsol-finegrained-v1', image_size=32)"
A=$(python - <<'PY'
import json
from pgg_zoo.study import choose_alpha
val = json.load(open("runs/wsol_fg/alpha/metrics.json"))["validation"]
scores = {float(a): [r["maxboxacc_v2"] for r in runs] for a, runs in val.items()}
chosen = choose_alpha(scores)
if chosen == 0:  # validation preferred no guidance: the guided rows use the best positive alpha
    chosen = choose_alpha({a: v for a, v in scores.items() if a > 0})
print(chosen)
PY
)
echo "alpha for the guided rows: $A"

# 2. test, 5 paired seeds
python scripts/wsol_study.py --out $OUT/study --variants cutmix cutmix+pgg "${B[@]}" \
  --set alpha=$A --eval-every 2
python scripts/wsol_study.py --out $OUT/study --variants cutmix+random-mask cutmix+no-mask \
  "${B[@]}" --set alpha=$A
python scripts/wsol_study.py --out $OUT/study --variants no-mix "${B[@]}"

# 3. tables
python scripts/summarize_runs.py --paired-to cutmix $OUT/study/s[0-9] > $OUT/study/summary.md
python scripts/wsol_study.py --out $OUT/study --variants cutmix cutmix+pgg \
  --convergence cutmix --metrics maxboxacc_v2 top1 pxap > $OUT/study/convergence.md

# 4. exploratory: gradient scale and off-provenance share of the trained models
python scripts/wsol_gradient_scale.py --study $OUT/study \
  --variants cutmix cutmix+pgg cutmix+random-mask cutmix+no-mask \
  --set 'benchmark="wsol-finegrained-v1"' --set image_size=32 > $OUT/study/gradient_scale.md
