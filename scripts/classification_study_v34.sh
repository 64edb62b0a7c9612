#!/usr/bin/env bash
# The waterbirds-shapes-v3 / -v4 studies of docs/classification.md, as they were run
# (VERSION=v4 for v4; default v3). Usage:
#   classification_study_v34.sh design        # val, seed 0: plain, edited at 100 / 30 / 10 %
#   classification_study_v34.sh alpha S       # alpha on val at edit share S (3 seeds)
#   classification_study_v34.sh test S A      # 5 paired test seeds at share S, alpha A; mask study
#   classification_study_v34.sh replicate S A # fresh seeds 5-9: edited, + guidance, random mask
# Runs go to runs/classification_v3|v4/ (gitignored); two processes at a time, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
V=${VERSION:-v3}
OUT=runs/classification_$V
B=(--set "benchmark=\"waterbirds-shapes-$V\"")
step=$1
mkdir -p $OUT/alpha

if [[ $step == design ]]; then
python scripts/classification_study.py --out $OUT/design_val --seeds 0 \
  --variants plain edited edited@0.3 edited@0.1 "${B[@]}" --set 'eval_split="val"'
python scripts/summarize_runs.py $OUT/design_val/s0 > $OUT/design_val/summary.md
fi

if [[ $step == alpha ]]; then
S=$2
for s in 0 1 2; do
  python -c "from pgg_zoo.study import alpha_study; alpha_study('classification', \
out_dir='$OUT/alpha/select_s$s', seeds=($s,), test_seeds=(), alphas=(0.1, 1.0, 10.0, 100.0), \
benchmark='waterbirds-shapes-$V', edit_share=$S)" > $OUT/alpha_s$s.log 2>&1 &
  if [[ $s == 1 ]]; then wait; fi
done
wait
python scripts/combine_alpha.py --metric worst_group_acc $OUT/alpha/select_s0 \
  $OUT/alpha/select_s1 $OUT/alpha/select_s2 --columns top1 leakage cam_leakage \
  | tee $OUT/alpha/combined.md
fi

# Paired seeds in two processes at share S and alpha A, then the table paired to edited data:
# paired_in_two LOG DIR "SEEDS_A" "SEEDS_B" VARIANT...
paired_in_two() {
  local log=$1 dir=$2 seeds_a=$3 seeds_b=$4
  shift 4
  for half in a b; do
    local seeds=$seeds_a
    if [[ $half == b ]]; then seeds=$seeds_b; fi
    python scripts/classification_study.py --out $dir --seeds $seeds --variants "$@" \
      "${B[@]}" --set edit_share=$S --set alpha=$A > ${log}_$half.log 2>&1 &
  done
  wait
  python scripts/summarize_runs.py --paired-to edited $dir/s[0-9]* > $dir/summary.md
}

if [[ $step == test ]]; then
S=$2; A=$3
paired_in_two $OUT/test $OUT/study "0 1 2" "3 4" \
  plain edited edited+pgg edited+random-mask edited+no-mask
python scripts/classification_study.py --out $OUT/mask --seeds 0 1 2 \
  --variants edited+pgg~-30 edited+pgg~-10 edited+pgg~10 edited+pgg~30 \
  "${B[@]}" --set edit_share=$S --set alpha=$A > $OUT/mask.log 2>&1
fi

if [[ $step == replicate ]]; then
S=$2; A=$3
paired_in_two $OUT/replicate $OUT/replication "5 6 7" "8 9" edited edited+pgg edited+random-mask
fi
