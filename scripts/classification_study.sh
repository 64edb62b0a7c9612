#!/usr/bin/env bash
# The classification study of docs/classification.md (waterbirds-shapes-v2), as it was run:
#  1. alpha chosen on val (pgg-zoo alpha's own code, one selection seed per process so the three
#     seeds run side by side; no test split is read), then combined with choose_alpha;
#  2. 5 paired seeds of plain / edited / edited+pgg / random-mask / no-mask at the chosen alpha;
#  3. the edit-share sweep (10 / 30 %) and the mask dilation/erosion study (+-10 / 30 %).
# Runs go to runs/classification/ (gitignored). Every process: one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=runs/classification

# 1. alpha on val (grid 0, 0.1, 1, 10, 100; 3 selection seeds, in parallel)
for s in 0 1 2; do
  python -c "from pgg_zoo.study import alpha_study; alpha_study('classification', \
out_dir='$OUT/alpha/select_s$s', seeds=($s,), test_seeds=(), alphas=(0.1, 1.0, 10.0, 100.0))" &
done
wait
A=$(python - <<'EOF'
import json
from pgg_zoo.study import choose_alpha
val = {}
for s in (0, 1, 2):
    m = json.load(open(f"runs/classification/alpha/select_s{s}/metrics.json"))
    for a, runs in m["validation"].items():
        val.setdefault(float(a), []).extend(r["worst_group_acc"] for r in runs)
print(choose_alpha(val))
EOF
)
echo "chosen alpha: $A"

# 2. the main table, 5 paired seeds (seeds split over processes)
V="plain edited edited+pgg edited+random-mask edited+no-mask"
python scripts/classification_study.py --out $OUT/study --seeds 0 1 --variants $V --set alpha=$A &
python scripts/classification_study.py --out $OUT/study --seeds 2 3 --variants $V --set alpha=$A &
python scripts/classification_study.py --out $OUT/study --seeds 4 --variants $V --set alpha=$A &
wait
python scripts/summarize_runs.py --paired-to edited $OUT/study/s[0-9]* > $OUT/study/summary.md

# 3. sweeps (seeds as time allowed; see docs/classification.md)
python scripts/classification_study.py --out $OUT/share --seeds 0 1 2 \
  --variants edited@0.1 edited+pgg@0.1 edited@0.3 edited+pgg@0.3 --set alpha=$A &
python scripts/classification_study.py --out $OUT/mask --seeds 0 1 2 \
  --variants edited+pgg~-30 edited+pgg~-10 edited+pgg~10 edited+pgg~30 --set alpha=$A &
wait

# 4. tables: the sweeps are paired with the same seed's 100 % / unadjusted runs of step 2
python - <<'PY'
import json
from pathlib import Path
from pgg_zoo.study import write_json
root = Path("runs/classification")
for sweep in ("share", "mask"):
    for s in range(5):
        parts = [root / "study" / f"s{s}" / "metrics.json", root / sweep / f"s{s}" / "metrics.json"]
        if not parts[1].is_file():
            continue
        res, var = {}, {}
        for p in parts:
            m = json.loads(p.read_text())
            mark = "@" if sweep == "share" else "~"
            keep = [k for k in m["results"] if k in ("edited", "edited+pgg") or mark in k]
            res.update({k: m["results"][k] for k in keep})
            var.update({k: m["variants"].get(k, {}) for k in keep})
        write_json(root / f"{sweep}_merged" / f"s{s}" / "metrics.json",
                   {"task": "classification", "seed": s, "variants": var, "results": res})
PY
python scripts/summarize_runs.py --paired-to edited $OUT/share_merged/s[0-9]* > $OUT/share_merged/summary.md
python scripts/summarize_runs.py --paired-to edited+pgg $OUT/mask_merged/s[0-9]* > $OUT/mask_merged/summary.md
