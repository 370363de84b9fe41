#!/usr/bin/env bash
# BUSI lesion segmentation, K-fold with near-duplicate groups kept on one side (docs/RESULTS.md):
# one unet_bn per fold, trained by unetpp-train and evaluated by unetpp-evaluate on its validation
# fold (last checkpoint). Per fold: Dice and IoU over all validation images (normal images have
# empty masks; an empty prediction there scores 1) and over the lesion images only (benign and
# malignant); then mean +- sample std over the folds.
#
#   scripts/experiments/busi_folds.sh [RUNS_DIR]          (default runs/busi_folds)
#
# Environment (defaults in brackets): DATA [../shared/data/busi/Dataset_BUSI_with_GT], SIZE [128],
# BASE [16], DEPTH [4], EPOCHS [12], BATCH [8], FOLDS [5], LOSS [dice_bce], AUGMENT [on],
# SCHEDULE [cosine], THREADS [2], BUILD_DIR [build], GROUP_HASH [files; resized reproduces the tables
# of docs/RESULTS.md made before unetpp-train's --group-hash]. A fold whose log.csv is complete is skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/busi_folds}"
data="${DATA:-$root/../shared/data/busi/Dataset_BUSI_with_GT}"
size="${SIZE:-128}" base="${BASE:-16}" depth="${DEPTH:-4}" epochs="${EPOCHS:-12}" batch="${BATCH:-8}"
folds="${FOLDS:-5}" loss="${LOSS:-dice_bce}" augment="${AUGMENT:-on}" schedule="${SCHEDULE:-cosine}" threads="${THREADS:-2}"
build="${BUILD_DIR:-$root/build}"

source "$root/scripts/experiments/common.sh"
need_data busi_folds.sh "$data" Dataset_BUSI_with_GT benign malignant normal
need_programs "$root" "$build" "$threads" tools/unetpp-train tools/unetpp-evaluate
train="$build/tools/unetpp-train"
export OMP_NUM_THREADS="$threads"

for fold in $(seq 0 $((folds - 1))); do
    out="$runs/fold$fold"
    if [ -f "$out/log.csv" ] && [ "$(wc -l < "$out/log.csv")" -eq $((epochs + 1)) ]; then continue; fi
    rm -rf "$out"
    echo "== unetpp BUSI fold $fold/$folds"
    "$train" --data-type busi --data "$data" --size "$size" --model unet_bn --base "$base" --depth "$depth" \
        --loss "$loss" --optimizer adam --lr 1e-3 --schedule "$schedule" --epochs "$epochs" --batch "$batch" --augment "$augment" \
        --folds "$folds" --fold "$fold" --seed 1 --group-hash "${GROUP_HASH:-files}" --threads "$threads" --out "$out" --quiet
    "$build/tools/unetpp-evaluate" --checkpoint "$out/last.safetensors" --data-type busi --data "$data" \
        --folds "$folds" --fold "$fold" --seed 1 --subset val --csv "$out/val.csv" > "$out/val_summary.txt"
done

/usr/bin/python3 "$root/scripts/experiments/busi_table.py" "$runs" | tee "$runs/table.md"
