#!/usr/bin/env bash
# BUSI lesion segmentation with the recipe that plans itself (docs/RESULTS.md, issue 19 item 3):
# one plan for the data set and a time budget (unetpp-train --plan-only --budget B), then every
# fold of the grouped K-fold split trained with that plan and evaluated by unetpp-evaluate with its
# last checkpoint on its validation fold. Resumable: a fold whose log.csv has every epoch is
# skipped, a fold with a last.safetensors continues from it (--resume), so the script can be
# stopped at any time and started again with the same RUNS_DIR.
#
#   scripts/experiments/busi_auto.sh [RUNS_DIR]          (default runs/busi_auto)
#
# Environment (defaults in brackets): DATA [../shared/data/busi/Dataset_BUSI_with_GT], BUDGET [45m],
# FOLDS [5], THREADS [2], BUILD_DIR [build], PLAN [RUNS_DIR/plan.json, made when missing; plan on a
# quiet machine, since the plan's epochs come from the timing it measures], ONLY_FOLDS [all; e.g. "2 3 4"
# trains and evaluates only these folds], GROUP_HASH [files; resized for the folds of runs made before
# unetpp-train's --group-hash, see common.sh]. The plan of docs/RESULTS.md is scripts/experiments/busi_auto_plan.json.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/busi_auto}"
data="${DATA:-$root/../shared/data/busi/Dataset_BUSI_with_GT}"
budget="${BUDGET:-45m}" folds="${FOLDS:-5}" threads="${THREADS:-2}"
build="${BUILD_DIR:-$root/build}"
plan="${PLAN:-$runs/plan.json}"

source "$root/scripts/experiments/common.sh"
need_data busi_auto.sh "$data" Dataset_BUSI_with_GT benign malignant normal
need_programs "$root" "$build" "$threads" tools/unetpp-train tools/unetpp-evaluate
train="$build/tools/unetpp-train"
export OMP_NUM_THREADS="$threads"
common=(--data-type busi --data "$data" --folds "$folds" --seed 1 --threads "$threads" --quiet)

mkdir -p "$runs"
if [ ! -f "$plan" ]; then
    echo "== planning for a budget of $budget"
    "$train" "${common[@]}" --fold 0 --budget "$budget" --plan-only --out "$runs/plan_run"
    cp "$runs/plan_run/plan.json" "$plan"
fi
epochs="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["epochs"])' "$plan")"

for fold in ${ONLY_FOLDS:-$(seq 0 $((folds - 1)))}; do
    [[ "$fold" =~ ^[0-9]+$ && "$fold" -lt "$folds" ]] || { echo "busi_auto.sh: ONLY_FOLDS: '$fold' is not a fold of 0..$((folds - 1))" >&2; exit 2; }
    out="$runs/fold$fold"
    if [ -f "$out/log.csv" ] && [ "$(wc -l < "$out/log.csv")" -ge $((epochs + 1)) ]; then
        :
    elif [ -f "$out/last.safetensors" ]; then
        echo "== BUSI fold $fold/$folds: resuming"
        "$train" "${common[@]}" --fold "$fold" --plan "$plan" --group-hash "$(group_hash "$out")" --out "$out" --resume
    else
        echo "== BUSI fold $fold/$folds"
        "$train" "${common[@]}" --fold "$fold" --plan "$plan" --group-hash "$(group_hash "$out")" --out "$out"
    fi
    if [ ! -f "$out/val.csv" ]; then
        "$build/tools/unetpp-evaluate" --checkpoint "$out/last.safetensors" --data-type busi --data "$data" \
            --folds "$folds" --fold "$fold" --seed 1 --subset val --csv "$out/val.csv" > "$out/val_summary.txt"
    fi
done
/usr/bin/python3 "$root/scripts/experiments/busi_table.py" "$runs" | tee "$runs/table.md"
