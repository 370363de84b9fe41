#!/usr/bin/env bash
# Same-split parity on BUSI (issue 19, item 1; docs/RESULTS.md, "Same split, unetpp against
# PyTorch"): one grouped fold, several seeds, each trained by unetpp-train and by the PyTorch
# reference (tools/torch_reference_train.py) with the same recipe on the same exported tensors,
# then one table (scripts/experiments/busi_parity_table.py).
#
#   scripts/experiments/busi_parity.sh [RUNS_DIR]          (default runs/busi_parity)
#
# Environment (defaults in brackets): DATA [../shared/data/busi/Dataset_BUSI_with_GT], SIZE [96],
# BASE [16], DEPTH [4], EPOCHS [12], BATCH [8], FOLDS [5], FOLD [0], SPLIT_SEED [1],
# SEEDS ["1 2 3"], THREADS [2], BUILD_DIR [build], GROUP_HASH [files; see common.sh].
# Every seed trains on the split of --split-seed SPLIT_SEED, so all runs share one fold: each
# unetpp run exports its tensors, and the script stops if a seed's export differs from the first
# seed's. A unetpp run that was interrupted is resumed from its last checkpoint (--resume); a
# PyTorch run whose log.csv is incomplete starts again; finished runs are skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/busi_parity}"
data="${DATA:-$root/../shared/data/busi/Dataset_BUSI_with_GT}"
size="${SIZE:-96}" base="${BASE:-16}" depth="${DEPTH:-4}" epochs="${EPOCHS:-12}" batch="${BATCH:-8}"
folds="${FOLDS:-5}" fold="${FOLD:-0}" split_seed="${SPLIT_SEED:-1}" seeds="${SEEDS:-1 2 3}"
threads="${THREADS:-2}" build="${BUILD_DIR:-$root/build}"

source "$root/scripts/experiments/common.sh"
need_data busi_parity.sh "$data" "BUSI (Dataset_BUSI_with_GT)" benign malignant normal
need_programs "$root" "$build" "$threads" tools/unetpp-train
train="$build/tools/unetpp-train"
export OMP_NUM_THREADS="$threads"
# Idle OpenMP threads sleep instead of spinning: on a machine shared with other jobs, torch 1.13's
# spinning threads made a training step of unet_bn<16,4> (batch 8, 64 x 64) 2.9 s at 2 threads
# against 0.25 s with PASSIVE (measured one after the other); unetpp's first epoch took 47.6 s
# with the default policy during a build, 15.9 s with PASSIVE after it (not a controlled pair).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

complete() {  # a log.csv with a header and $epochs rows
    [ -f "$1" ] && [ "$(wc -l < "$1")" -eq $((epochs + 1)) ]
}

mkdir -p "$runs"
first=""
for seed in $seeds; do
    out="$runs/seed$seed"
    if ! complete "$out/log.csv"; then
        # a run with a checkpoint continues (its tensors are exported already); one without
        # starts again in an emptied folder (this script made it)
        if [ -f "$out/last.safetensors" ]; then
            more=(--resume)
        else
            rm -rf "$out"
            more=(--export-data "$out/data.safetensors")
        fi
        echo "== unetpp  seed $seed  (fold $fold/$folds, split seed $split_seed) ${more[0]}"
        "$train" --data-type busi --data "$data" --size "$size" --model unet_bn --base "$base" \
            --depth "$depth" --loss dice_bce --optimizer adam --lr 1e-3 --schedule constant --augment off \
            --epochs "$epochs" --batch "$batch" --folds "$folds" --fold "$fold" --seed "$seed" \
            --split-seed "$split_seed" --group-hash "$(group_hash "$out")" --out "$out" --quiet "${more[@]}"
    fi
    # every seed trains and validates on the same tensors
    if [ -z "$first" ]; then
        first="$out/data.safetensors"
    elif ! cmp -s "$first" "$out/data.safetensors"; then
        echo "busi_parity.sh: $out/data.safetensors differs from $first: the seeds did not share the split" >&2
        exit 1
    fi
    if ! complete "$out/torch/log.csv"; then
        echo "== PyTorch seed $seed"
        /usr/bin/python3 "$root/tools/torch_reference_train.py" --run "$out" --out "$out/torch" \
            --threads "$threads" > "$out/torch.txt"
    fi
done

/usr/bin/python3 "$root/scripts/experiments/busi_parity_table.py" "$runs" $seeds | tee "$runs/table.md"
