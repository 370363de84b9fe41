#!/usr/bin/env bash
# Issue 15, item 3: bf16 compute on the ISBI 2012 models of docs/RESULTS.md ("ISBI at the full
# recipe"). Two parts, both resumable (a finished step is skipped when the script runs again):
#
#   1. Inference. Each fp32-trained fold model FP32_RUNS/fold<k>/last.safetensors is scored on its
#      whole 512 x 512 validation slices by unetpp-evaluate twice, --precision fp32 and
#      --precision bf16 (FP32_RUNS/fold<k>/eval_fp32.* and eval_bf16.*): same weights, same
#      slices, only the convolutions' arithmetic differs.
#   2. Training (TRAIN=1, the default). Each fold trained again with --precision bf16 and
#      otherwise the options of isbi_full.sh (BF16_RUNS/fold<k>), then scored on the same whole
#      slices in bf16 (eval_bf16.*) and fp32 (eval_fp32.*).
#
#   scripts/experiments/isbi_bf16.sh FP32_RUNS BF16_RUNS
#
# FP32_RUNS holds the fold<k> folders of isbi_full.sh. Environment (defaults in brackets): DATA
# [../shared/data/isbi2012], FOLDS [5], ONLY_FOLDS [all], THREADS [2], BUILD_DIR [build],
# TRAIN [1], NICE [0]. Needs a build and a processor with AVX512-BF16 (unetpp-evaluate and
# unetpp-train refuse --precision bf16 otherwise, exit 2). Ends with the table of
# summarize_isbi_bf16.py.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ $# -ne 2 ]; then
    echo "usage: $0 FP32_RUNS BF16_RUNS" >&2
    exit 2
fi
fp32_runs="$1" bf16_runs="$2"
data="${DATA:-$root/../shared/data/isbi2012}"
folds="${FOLDS:-5}" threads="${THREADS:-2}" build="${BUILD_DIR:-$root/build}" train_bf16="${TRAIN:-1}"
niceness="${NICE:-0}"
only="${ONLY_FOLDS:-$(seq -s ' ' 0 $((folds - 1)))}"

mkdir -p "$bf16_runs"
source "$root/scripts/experiments/common.sh"
need_data isbi_bf16.sh "$data" "ISBI 2012" images labels
need_programs "$root" "$build" "$threads" tools/unetpp-train tools/unetpp-evaluate
train="$build/tools/unetpp-train"
evaluate="$build/tools/unetpp-evaluate"
export OMP_NUM_THREADS="$threads"

# score RUN PRECISION: RUN/last.safetensors on its whole validation slices -> RUN/eval_PRECISION.*
score() {
    local run=$1 p=$2
    [ -f "$run/eval_$p.txt" ] && return 0
    rm -f "$run/eval_$p.partial.csv" "$run/eval_$p.partial.txt"
    nice -n "$niceness" "$evaluate" --checkpoint "$run/last.safetensors" --subset val --precision "$p" \
        --threads "$threads" --csv "$run/eval_$p.partial.csv" --summary "$run/eval_$p.partial.txt" > /dev/null
    mv "$run/eval_$p.partial.csv" "$run/eval_$p.csv"
    mv "$run/eval_$p.partial.txt" "$run/eval_$p.txt"
}

epochs=60  # isbi_full.sh's recipe
complete() {  # a log.csv with a header and $epochs rows
    [ -f "$1" ] && [ "$(wc -l < "$1")" -eq $((epochs + 1)) ]
}

for fold in $only; do
    ref="$fp32_runs/fold$fold"
    if [ ! -f "$ref/last.safetensors" ]; then
        echo "isbi_bf16.sh: $ref/last.safetensors is missing: train the fp32 folds with isbi_full.sh first" >&2
        exit 2
    fi
    score "$ref" fp32
    score "$ref" bf16
    [ "$train_bf16" = 1 ] || continue
    out="$bf16_runs/fold$fold"
    if ! complete "$out/log.csv"; then
        resume=()
        [ -f "$out/last.safetensors" ] && resume=(--resume)  # an interrupted run continues
        echo "== unetpp bf16  fold $fold/$folds  $(date -u +%H:%M:%S)"
        nice -n "$niceness" "$train" --data-type isbi2012 --data "$data" --patch 256 --model unet_bn \
            --base 16 --depth 4 --loss dice_bce --optimizer adam --lr 1e-3 --epochs "$epochs" --batch 4 \
            --folds "$folds" --fold "$fold" --seed 1 --threads "$threads" --out "$out" --precision bf16 \
            "${resume[@]}" --quiet
    fi
    score "$out" bf16
    score "$out" fp32
done

python3 "$root/scripts/experiments/summarize_isbi_bf16.py" "$fp32_runs" "$bf16_runs" "$folds" | tee "$bf16_runs/table.md"
