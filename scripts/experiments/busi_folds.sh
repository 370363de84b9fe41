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
# SCHEDULE [cosine], THREADS [2], BUILD_DIR [build]. A fold whose log.csv is complete is skipped.
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
        --folds "$folds" --fold "$fold" --seed 1 --threads "$threads" --out "$out" --quiet
    "$build/tools/unetpp-evaluate" --checkpoint "$out/last.safetensors" --data-type busi --data "$data" \
        --folds "$folds" --fold "$fold" --seed 1 --subset val --csv "$out/val.csv" > "$out/val_summary.txt"
done

/usr/bin/python3 - "$runs" <<'PY' | tee "$runs/table.md"
import csv, os, statistics, sys
runs = sys.argv[1]
rows = []
for fold in sorted(os.listdir(runs)):
    p, log = os.path.join(runs, fold, "val.csv"), os.path.join(runs, fold, "log.csv")
    if not (os.path.isfile(p) and os.path.isfile(log)):
        continue
    with open(p, newline="") as f:
        per_image = list(csv.DictReader(f))
    with open(log, newline="") as f:
        seconds = sum(float(x["seconds"]) for x in csv.DictReader(f))
    lesion = [r for r in per_image if not r["image"].startswith("normal")]
    mean = lambda rs, k: statistics.mean(float(r[k]) for r in rs)
    rows.append((fold, len(per_image), mean(per_image, "dice"), mean(per_image, "iou"),
                 len(lesion), mean(lesion, "dice"), mean(lesion, "iou"), seconds))
print("| fold | images | Dice (all) | IoU (all) | lesion images | Dice (lesions) | IoU (lesions) | train seconds |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for fold, n, d, i, nl, dl, il, s in rows:
    print(f"| {fold} | {n} | {d:.3f} | {i:.3f} | {nl} | {dl:.3f} | {il:.3f} | {s:.0f} |")
sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
col = lambda k: [r[k] for r in rows]
ms = lambda v: f"{statistics.mean(v):.3f} ± {sd(v):.3f}"
print(f"| mean ± std | | {ms(col(2))} | {ms(col(3))} | | {ms(col(5))} | {ms(col(6))} | |")
PY
