#!/usr/bin/env bash
# Seed 004's loss comparison on ISBI 2012 (docs/RESULTS.md): one unet_bn per loss and fold,
# trained by unetpp-train, and the same network, recipe and tensors trained by PyTorch
# (tools/torch_reference_train.py), then one table.
#
#   scripts/experiments/isbi_losses.sh [RUNS_DIR]          (default runs/isbi_losses)
#
# Environment (defaults in brackets): DATA [../shared/data/isbi2012], SIZE [128], BASE [16],
# DEPTH [4], EPOCHS [20], BATCH [4], FOLDS [5], LOSSES ["bce dice dice_bce focal iou tversky"],
# THREADS [2], BUILD_DIR [build], TORCH [1: also train the PyTorch reference].
# A run whose log.csv is complete is skipped, so the script can be re-run after an interruption.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/isbi_losses}"
data="${DATA:-$root/../shared/data/isbi2012}"
size="${SIZE:-128}" base="${BASE:-16}" depth="${DEPTH:-4}" epochs="${EPOCHS:-20}" batch="${BATCH:-4}"
folds="${FOLDS:-5}" threads="${THREADS:-2}" build="${BUILD_DIR:-$root/build}" torch="${TORCH:-1}"
losses="${LOSSES:-bce dice dice_bce focal iou tversky}"

source "$root/scripts/experiments/common.sh"
need_data isbi_losses.sh "$data" "ISBI 2012" images labels
need_programs "$root" "$build" "$threads" tools/unetpp-train
train="$build/tools/unetpp-train"
export OMP_NUM_THREADS="$threads"

complete() {  # a log.csv with a header and $epochs rows
    [ -f "$1" ] && [ "$(wc -l < "$1")" -eq $((epochs + 1)) ]
}

for fold in $(seq 0 $((folds - 1))); do
    for loss in $losses; do
        out="$runs/$loss/fold$fold"
        if ! complete "$out/log.csv"; then
            rm -rf "$out"
            echo "== unetpp  $loss  fold $fold/$folds"
            "$train" --data-type isbi2012 --data "$data" --size "$size" --model unet_bn --base "$base" \
                --depth "$depth" --loss "$loss" --optimizer adam --lr 1e-3 --epochs "$epochs" --batch "$batch" \
                --folds "$folds" --fold "$fold" --seed 1 --threads "$threads" --out "$out" \
                --export-data "$out/data.safetensors" --quiet
        fi
        if [ "$torch" = 1 ] && ! complete "$out/torch/log.csv"; then
            echo "== PyTorch $loss  fold $fold/$folds"
            /usr/bin/python3 "$root/tools/torch_reference_train.py" --run "$out" --out "$out/torch" \
                --threads "$threads" > "$out/torch.txt"
        fi
    done
done

/usr/bin/python3 "$root/scripts/experiments/summarize_runs.py" "$runs" | tee "$runs/table.md"
