#!/usr/bin/env bash
# Issue 19, item 6: ISBI 2012 at the full recipe. Per fold of a 5-fold split, one unet_bn trained
# by unetpp-train on random 256 x 256 patches of the native 512 x 512 slices, 60 epochs,
# Dice + BCE, and the same network and recipe trained by PyTorch (tools/torch_reference_train.py)
# on the same exported tensors, then one table (docs/RESULTS.md, "ISBI at the full recipe").
#
#   scripts/experiments/isbi_full.sh [RUNS_DIR]          (default runs/isbi_full)
#
# Environment (defaults in brackets): DATA [../shared/data/isbi2012], PATCH [256], BASE [16],
# DEPTH [4], EPOCHS [60], BATCH [4], LOSS [dice_bce], FOLDS [5], ONLY_FOLDS [all: 0..FOLDS-1],
# THREADS [2], BUILD_DIR [build], TORCH [1: also train the PyTorch reference], NICE [0].
# Validation (both sides, the logs' val_* columns): one fixed 256 x 256 patch per validation
# slice, as unetpp-train validates images that keep their own size; after the last epoch both
# final models are also scored on the whole 512 x 512 validation slices (torch/full_val.json and
# unetpp_full_val.json, through the PyTorch twin for unetpp's weights).
# A run whose log.csv is complete is skipped, so the script can be re-run after an interruption.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/isbi_full}"
data="${DATA:-$root/../shared/data/isbi2012}"
patch="${PATCH:-256}" base="${BASE:-16}" depth="${DEPTH:-4}" epochs="${EPOCHS:-60}" batch="${BATCH:-4}"
loss="${LOSS:-dice_bce}" folds="${FOLDS:-5}" threads="${THREADS:-2}" build="${BUILD_DIR:-$root/build}"
torch="${TORCH:-1}" niceness="${NICE:-0}"
only="${ONLY_FOLDS:-$(seq -s ' ' 0 $((folds - 1)))}"

source "$root/scripts/experiments/common.sh"
need_data isbi_full.sh "$data" "ISBI 2012" images labels
need_programs "$root" "$build" "$threads" tools/unetpp-train
train="$build/tools/unetpp-train"
py=(nice -n "$niceness" /usr/bin/python3)
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
# PyTorch 1.13 from Debian: without OpenBLAS on the path its transposed convolution runs on the
# reference BLAS (bench/anchors does the same)
if [ -d /usr/lib/x86_64-linux-gnu/openblas-pthread ]; then
    export LD_LIBRARY_PATH="/usr/lib/x86_64-linux-gnu/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

complete() {  # a log.csv with a header and $epochs rows
    [ -f "$1" ] && [ "$(wc -l < "$1")" -eq $((epochs + 1)) ]
}

for fold in $only; do
    out="$runs/fold$fold"
    if ! complete "$out/log.csv"; then
        rm -rf "$out"
        echo "== unetpp  $loss  fold $fold/$folds  $(date -u +%H:%M:%S)"
        nice -n "$niceness" "$train" --data-type isbi2012 --data "$data" --patch "$patch" --model unet_bn \
            --base "$base" --depth "$depth" --loss "$loss" --optimizer adam --lr 1e-3 --epochs "$epochs" \
            --batch "$batch" --folds "$folds" --fold "$fold" --seed 1 --threads "$threads" --out "$out" \
            --export-data "$out/data.safetensors" --quiet
    fi
    if [ ! -f "$out/unetpp_full_val.json" ]; then  # unetpp's final weights on the whole slices
        "${py[@]}" "$root/tools/torch_reference_train.py" --run "$out" --out "$out/torch" --score-unetpp \
            --threads "$threads" > "$out/unetpp_full_val.json.partial"
        mv "$out/unetpp_full_val.json.partial" "$out/unetpp_full_val.json"
    fi
    if [ "$torch" = 1 ] && ! complete "$out/torch/log.csv"; then
        echo "== PyTorch $loss  fold $fold/$folds  $(date -u +%H:%M:%S)"
        "${py[@]}" "$root/tools/torch_reference_train.py" --run "$out" --out "$out/torch" \
            --threads "$threads" > "$out/torch.txt"
    fi
done

"${py[@]}" "$root/scripts/experiments/summarize_isbi_full.py" "$runs" "$epochs" "$folds" | tee "$runs/table.md"
