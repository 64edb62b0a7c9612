#!/usr/bin/env bash
# STAD scene-shortcut study v2 (docs/benchmarks.md, "Study v2"): stad-scenes-v1 with the
# actor-context head (head_context="global"), as it was run. Runs go to runs/stad_scenes_ctx/
# (gitignored); two processes at a time, one thread each. Usage: stad_study_v2.sh STEP
#  check: plain paste reads the scene (val only, seed 0);
#  alpha: alpha on val (grid 0, 0.1, 1, 10, 100; selection seeds 0-2), combined with choose_alpha;
#  test ALPHA: 5 paired test seeds of paste / paste+pgg / random-mask / no-mask, then tables.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# BACKBONE=tiny3d_local for study v3 (outputs in runs/stad_scenes_local/); STUDY=v4 for study v4
# (stad-scenes-v2, 10 epochs, alpha grid 0, 0.1, 1, 10; outputs in runs/stad_scenes_v2/).
BK=${BACKBONE:-tiny3d}
OUT=runs/stad_scenes_ctx
if [[ $BK != tiny3d ]]; then OUT=runs/stad_scenes_local; fi
B=stad-scenes-v1
EPOCHS=6
ALPHAS="0.1, 1.0, 10.0, 100.0"
if [[ ${STUDY:-} == v4 ]]; then
  OUT=runs/stad_scenes_v2 B=stad-scenes-v2 EPOCHS=10 ALPHAS="0.1, 1.0, 10.0"
fi
mkdir -p $OUT/check $OUT/alpha
step=$1

if [[ $step == check ]]; then
python - <<PY
import pgg_zoo
pgg_zoo.build("stad", benchmark="$B", head_context="global", backbone="$BK", guidance=False, seed=0,
              epochs=$EPOCHS, eval_split="val", work_dir="$OUT/check/paste_s0").train()
PY
python scripts/stad_scene_check.py --split val $OUT/check/paste_s0 | tee $OUT/check/scene_val.md
fi

if [[ $step == alpha ]]; then
for s in 0 1 2; do
  python -c "from pgg_zoo.study import alpha_study; alpha_study('stad', \
out_dir='$OUT/alpha/select_s$s', seeds=($s,), test_seeds=(), alphas=($ALPHAS), \
benchmark='$B', head_context='global', backbone='$BK', epochs=$EPOCHS)" > $OUT/alpha_s$s.log 2>&1 &
  if [[ $s == 1 ]]; then wait; fi
done
wait
python scripts/combine_alpha.py $OUT/alpha/select_s0 $OUT/alpha/select_s1 $OUT/alpha/select_s2 \
  --columns "frame_map@0.5[act]" "video_map@0.5[act]" leakage | tee $OUT/alpha/combined.md
fi

if [[ $step == test ]]; then
A=$2
V=(paste paste+pgg paste+random-mask paste+no-mask)
python scripts/stad_study.py --out $OUT/study --seeds 0 1 2 --alpha $A --variants "${V[@]}" \
  --set 'head_context="global"' --set "backbone=\"$BK\"" --set "benchmark=\"$B\"" \
  --set "epochs=$EPOCHS" > $OUT/test_a.log 2>&1 &
python scripts/stad_study.py --out $OUT/study --seeds 3 4 --alpha $A --variants "${V[@]}" \
  --set 'head_context="global"' --set "backbone=\"$BK\"" --set "benchmark=\"$B\"" \
  --set "epochs=$EPOCHS" > $OUT/test_b.log 2>&1 &
wait
python scripts/summarize_runs.py --paired-to paste $OUT/study/s[0-9]* > $OUT/study/summary.md
python scripts/stad_scene_check.py --split test $OUT/study/s[0-9]*/paste $OUT/study/s[0-9]*/paste_pgg \
  > $OUT/study/scene_check.md
fi
