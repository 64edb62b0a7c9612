#!/usr/bin/env bash
# The decoy study of docs/decoy.md: alpha chosen on val per variant, then 5 paired seeds of
# every demo variant (clean, plain, pgg, random-mask, no-mask) at that alpha.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
for v in corner anywhere; do
  pgg-zoo alpha decoy --set variant=$v --out-dir runs/decoy/alpha_$v
  a=$(python -c "import json;print(json.load(open('runs/decoy/alpha_$v/metrics.json'))['chosen_alpha'])")
  for s in 0 1 2 3 4; do
    pgg-zoo demo decoy --set variant=$v --alpha $a --seed $s --out-dir runs/decoy/demo_${v}_s$s
  done
  python scripts/summarize_runs.py --paired-to plain runs/decoy/demo_${v}_s* > runs/decoy/summary_$v.md
done

# Study v2 of `anywhere` (docs/decoy.md): the same data with the convnet backbone, 15 epochs;
# alpha chosen on val only (the demo's 5 seeds below are the test phase).
python -c "import pgg_zoo; pgg_zoo.alpha_study('decoy', out_dir='runs/decoy/alpha_anywhere_convnet', variant='anywhere', backbone='convnet', epochs=15, alphas=(0.1, 1, 10, 100), test_seeds=())"
a=$(python -c "import json;print(json.load(open('runs/decoy/alpha_anywhere_convnet/metrics.json'))['chosen_alpha'])")
for s in 0 1 2 3 4; do
  pgg-zoo demo decoy --set variant=anywhere --backbone convnet --epochs 15 --alpha $a --seed $s \
    --out-dir runs/decoy/demo_anywhere_convnet_s$s
done
python scripts/summarize_runs.py --paired-to plain runs/decoy/demo_anywhere_convnet_s* \
  > runs/decoy/summary_anywhere_convnet.md
# Val-only supplement: true vs random mask at every alpha of the grid (3 seeds).
python scripts/decoy_mask_alpha_val.py runs/decoy/mask_alpha_val
# Replication with fresh seeds 5-9 at the chosen alpha (declared in docs/decoy.md before it ran),
# then the pooled paired differences over all 10 seeds.
python -c "
import pgg_zoo
V = {'plain': {'guidance': False}, 'pgg': {'guidance': True, 'guidance_mask': 'provenance'},
     'random-mask': {'guidance': True, 'guidance_mask': 'random'}}
pgg_zoo.run_paired('decoy', V, 'runs/decoy/replication_anywhere_convnet', [5, 6, 7, 8, 9],
                   dict(variant='anywhere', backbone='convnet', epochs=15, alpha=$a))"
python scripts/summarize_runs.py --paired-to random-mask runs/decoy/demo_anywhere_convnet_s* \
  runs/decoy/replication_anywhere_convnet/s* > runs/decoy/summary_anywhere_convnet_10seeds.md
