#!/usr/bin/env bash
# The wsol-finegrained-v2 study (field marks) of docs/wsol.md, as it was run: two training
# processes at a time, one thread each. Outputs: runs/wsol_fg2/ (gitignored).
#  0. design check on val (seed 0): no-mix vs CutMix, leakage of CutMix;
#  1. alpha chosen on val (alpha_study, selection only; grid 0, 1, 10, 100; 3 seeds; metric
#     MaxBoxAccV2, as v1); no test split is read;
#  2. 5 paired test seeds of cutmix / cutmix+pgg / random-mask / no-mask at that alpha, no-mix;
#  3. tables: paired differences to cutmix; leakage per seed; leakage decomposition.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=runs/wsol_fg2
B=(--set 'benchmark="wsol-finegrained-v2"' --set image_size=32 --set epochs=10)
step=${1:-all}

if [[ $step == design || $step == all ]]; then
python scripts/wsol_study.py --out $OUT/design_val --seeds 0 --variants no-mix cutmix \
  "${B[@]}" --set 'eval_split="val"'
fi

if [[ $step == alpha || $step == all ]]; then
# one selection seed per process (two at a time), then one combined choice
for s in 0 1 2; do
  python -c "from pgg_zoo.study import alpha_study; alpha_study('wsol', out_dir='$OUT/alpha/s$s', \
seeds=($s,), test_seeds=(), alphas=(1.0, 10.0, 100.0), epochs=10, metric='maxboxacc_v2', \
benchmark='wsol-finegrained-v2', image_size=32)" > $OUT/alpha_s$s.log 2>&1 &
  if [[ $s == 1 ]]; then wait; fi
done
wait
python scripts/combine_alpha.py --metric maxboxacc_v2 $OUT/alpha/s0 $OUT/alpha/s1 $OUT/alpha/s2 \
  --columns top1 leakage cam_leakage pxap > $OUT/alpha/combined.md
fi

if [[ $step == test ]]; then
A=$2
V=(cutmix cutmix+pgg cutmix+random-mask cutmix+no-mask no-mix)
python scripts/wsol_study.py --out $OUT/study --seeds 0 1 2 --variants "${V[@]}" "${B[@]}" \
  --set alpha=$A > $OUT/test_a.log 2>&1 &
python scripts/wsol_study.py --out $OUT/study --seeds 3 4 --variants "${V[@]}" "${B[@]}" \
  --set alpha=$A > $OUT/test_b.log 2>&1 &
wait
python scripts/summarize_runs.py --paired-to cutmix $OUT/study/s[0-9] > $OUT/study/summary.md
python scripts/wsol_leakage_parts.py --study $OUT/study \
  --variants cutmix cutmix+pgg cutmix+random-mask cutmix+no-mask \
  --set 'benchmark="wsol-finegrained-v2"' --set image_size=32 > $OUT/study/leakage_parts.md
fi
