#!/usr/bin/env bash
# What resolution and width buy on BUSI (docs/RESULTS.md, "What resolution and width buy (fold 0)",
# issue 19 item 3): the planned recipe of busi_auto.sh (scripts/experiments/busi_auto_plan.json:
# unet_bn<16,4>, whole images resized to 128 x 128, 30 epochs) trained again with another input
# side (--size) or width (--base) given over the plan, on the same grouped 5-fold split, and each
# run's last checkpoint evaluated on its validation fold with the plan's mirroring (val.csv) and
# without it (val_notta.csv). Resumable as busi_auto.sh: a run whose log.csv has every epoch is
# skipped, a run with a last.safetensors continues from it (--resume), and an evaluation whose CSV
# exists is not repeated, so the script can be stopped at any time and started again.
#
#   scripts/experiments/busi_res.sh [RUNS_DIR]          (default runs/busi_res)
#
# Environment (defaults in brackets): DATA [../shared/data/busi/Dataset_BUSI_with_GT], FOLDS [5],
# ONLY_FOLDS [0], THREADS [2], BUILD_DIR [build], PLAN [scripts/experiments/busi_auto_plan.json],
# RUNS ["192:16 128:32"]: the runs, each SIZE:BASE; run SIZE:BASE of fold k trains in
# RUNS_DIR/s<SIZE>_b<BASE>/fold<k>, and RUNS_DIR/s<SIZE>_b<BASE>/table.md (with mirroring) and
# table_notta.md (without) are busi_table.py's tables of its folds.
#
# GROUP_HASH [files]: how unetpp-train finds BUSI's near-duplicates (--group-hash; common.sh).
# With files, fold k holds the same images at every SIZE. The runs of docs/RESULTS.md were made
# before that option, with the images hashed after resizing to --size (GROUP_HASH=resized), so
# fold k at 192 x 192 holds other validation images than fold k at 128 x 128 (fold 0: 52 of 156
# in common); a run folder from then keeps its grouping when it is resumed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/busi_res}"
data="${DATA:-$root/../shared/data/busi/Dataset_BUSI_with_GT}"
folds="${FOLDS:-5}" threads="${THREADS:-2}"
build="${BUILD_DIR:-$root/build}"
plan="${PLAN:-$root/scripts/experiments/busi_auto_plan.json}"

source "$root/scripts/experiments/common.sh"
need_data busi_res.sh "$data" Dataset_BUSI_with_GT benign malignant normal
need_programs "$root" "$build" "$threads" tools/unetpp-train tools/unetpp-evaluate
[ -f "$plan" ] || { echo "busi_res.sh: no plan '$plan'; set PLAN" >&2; exit 2; }
train="$build/tools/unetpp-train" evaluate="$build/tools/unetpp-evaluate"
export OMP_NUM_THREADS="$threads"
common=(--data-type busi --data "$data" --folds "$folds" --seed 1 --threads "$threads")
epochs="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["epochs"])' "$plan")"

for run in ${RUNS:-192:16 128:32}; do
    [[ "$run" =~ ^([0-9]+):([0-9]+)$ ]] || { echo "busi_res.sh: RUNS: '$run' is not SIZE:BASE" >&2; exit 2; }
    size="${BASH_REMATCH[1]}" base="${BASH_REMATCH[2]}"
    for fold in ${ONLY_FOLDS:-0}; do
        [[ "$fold" =~ ^[0-9]+$ && "$fold" -lt "$folds" ]] || { echo "busi_res.sh: ONLY_FOLDS: '$fold' is not a fold of 0..$((folds - 1))" >&2; exit 2; }
        out="$runs/s${size}_b${base}/fold$fold"
        mkdir -p "$runs/s${size}_b${base}"
        if [ -f "$out/log.csv" ] && [ "$(wc -l < "$out/log.csv")" -ge $((epochs + 1)) ]; then
            :
        elif [ -f "$out/last.safetensors" ]; then
            echo "== BUSI ${size}x${size} base $base, fold $fold/$folds: resuming"
            "$train" "${common[@]}" --fold "$fold" --plan "$plan" --size "$size" --base "$base" \
                --group-hash "$(group_hash "$out")" --out "$out" --resume --quiet
        else
            echo "== BUSI ${size}x${size} base $base, fold $fold/$folds"
            "$train" "${common[@]}" --fold "$fold" --plan "$plan" --size "$size" --base "$base" \
                --group-hash "$(group_hash "$out")" --out "$out" --quiet
        fi
        ev=("$evaluate" --checkpoint "$out/last.safetensors" --data-type busi --data "$data" --folds "$folds"
            --fold "$fold" --seed 1 --subset val --threads "$threads")
        [ -f "$out/val.csv" ] || "${ev[@]}" --csv "$out/val.csv" > "$out/val_summary.txt"
        [ -f "$out/val_notta.csv" ] || "${ev[@]}" --no-tta --csv "$out/val_notta.csv" > "$out/val_notta_summary.txt"
    done
    echo "== ${size}x${size} base $base, with the plan's mirroring"
    /usr/bin/python3 "$root/scripts/experiments/busi_table.py" "$runs/s${size}_b${base}" | tee "$runs/s${size}_b${base}/table.md"
    echo "== ${size}x${size} base $base, without it (--no-tta)"
    /usr/bin/python3 "$root/scripts/experiments/busi_table.py" "$runs/s${size}_b${base}" val_notta.csv \
        | tee "$runs/s${size}_b${base}/table_notta.md"
done
