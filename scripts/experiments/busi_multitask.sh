#!/usr/bin/env bash
# BUSI benign vs malignant with seed 002's residual multi-task U-Net (segmentation +
# classification), K-fold with near-duplicate groups kept on one side (docs/RESULTS.md). Each fold
# is one run of examples/busi_multitask.cpp (--fold k) in RUNS_DIR/fold<k>; the per-fold rows are
# then gathered into RUNS_DIR/table.md with mean +- sample std over the folds.
#
#   scripts/experiments/busi_multitask.sh [RUNS_DIR]          (default runs/busi_multitask)
#
# Environment (defaults in brackets): DATA [../shared/data/busi/Dataset_BUSI_with_GT], SIZE [64],
# EPOCHS [15], BATCH [8], LR [1e-4], SCHEDULE [constant; or cosine], SEG_LOSS [bce; or dice_bce],
# SEG_WEIGHT [1], CLS_WEIGHT [1], CLS_HEAD [flatten; or gap, gap_deep], CLS_WARMUP [0 epochs],
# BODY [residual; or unet_bn, with CLS_HEAD=gap], POS_WEIGHT [1; or a number, or auto],
# THRESHOLD_FROM [train; or holdout], HOLDOUT [0.15], CLS_DETACH [off; or on],
# FOLDS [5], AUGMENT [on], SEED [1], THREADS [2],
# BUILD_DIR [build], NICE [10]. A fold whose folds.csv exists is finished and skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/busi_multitask}"
data="${DATA:-$root/../shared/data/busi/Dataset_BUSI_with_GT}"
size="${SIZE:-64}" epochs="${EPOCHS:-15}" batch="${BATCH:-8}" lr="${LR:-1e-4}" folds="${FOLDS:-5}"
augment="${AUGMENT:-on}" seed="${SEED:-1}" threads="${THREADS:-2}" nice_level="${NICE:-10}"
seg_loss="${SEG_LOSS:-bce}" seg_weight="${SEG_WEIGHT:-1}" cls_weight="${CLS_WEIGHT:-1}"
cls_head="${CLS_HEAD:-flatten}" cls_warmup="${CLS_WARMUP:-0}" schedule="${SCHEDULE:-constant}"
body="${BODY:-residual}" pos_weight="${POS_WEIGHT:-1}" threshold_from="${THRESHOLD_FROM:-train}"
holdout="${HOLDOUT:-0.15}" cls_detach="${CLS_DETACH:-off}"
build="${BUILD_DIR:-$root/build}"

source "$root/scripts/experiments/common.sh"
need_data busi_multitask.sh "$data" Dataset_BUSI_with_GT benign malignant
need_programs "$root" "$build" "$threads" examples/unetpp_busi_multitask
prog="$build/examples/unetpp_busi_multitask"
export OMP_NUM_THREADS="$threads"
mkdir -p "$runs"

for fold in $(seq 0 $((folds - 1))); do
    out="$runs/fold$fold"
    if [ -f "$out/folds.csv" ]; then continue; fi
    rm -rf "$out"
    echo "== busi_multitask fold $fold/$folds"
    nice -n "$nice_level" "$prog" --data "$data" --size "$size" --epochs "$epochs" --batch "$batch" --lr "$lr" \
        --schedule "$schedule" --seg-loss "$seg_loss" --seg-weight "$seg_weight" --cls-weight "$cls_weight" \
        --cls-head "$cls_head" --cls-warmup "$cls_warmup" --body "$body" --pos-weight "$pos_weight" \
        --threshold-from "$threshold_from" --holdout "$holdout" --cls-detach "$cls_detach" --folds "$folds" --fold "$fold" --seed "$seed" \
        --augment "$augment" --threads "$threads" --out "$out" \
        | tee "$runs/fold$fold.log"
done

/usr/bin/python3 - "$runs" "$size" "$epochs" "$batch" "$lr" "$augment" "$seg_loss" "$seg_weight" "$cls_weight" \
    "$cls_head" "$cls_warmup" "$schedule" "$body" "$pos_weight" "$threshold_from" "$holdout" "$cls_detach" \
    <<'PY' | tee "$runs/table.md"
import csv, os, statistics, sys
(runs, size, epochs, batch, lr, augment, seg_loss, seg_weight, cls_weight, cls_head, cls_warmup, schedule, body,
 pos_weight, threshold_from, holdout, cls_detach) = sys.argv[1:]
rows = []
for d in sorted(os.listdir(runs)):
    p = os.path.join(runs, d, "folds.csv")
    if d.startswith("fold") and os.path.isfile(p):
        with open(p, newline="") as f:
            rows += list(csv.DictReader(f))
rows.sort(key=lambda r: int(r["fold"]))
keys = ["dice", "iou", "accuracy", "f1", "sensitivity", "specificity", "auc"]
print(f"{'Multi-task U-Net on the unet_bn body' if body == 'unet_bn' else 'Residual multi-task U-Net'}, BUSI benign vs malignant, {size} x {size}, {epochs} epochs, batch {batch}, "
      f"Adam lr {lr} ({schedule}), augment {augment}, "
      f"loss {seg_weight} x {'(Dice + BCE)' if seg_loss == 'dice_bce' else 'BCE'}"
      f"(segmentation) + {cls_weight} x BCE(classification)"
      f"{f' (from epoch {int(cls_warmup) + 1})' if int(cls_warmup) > 0 else ''}, classification head {cls_head}"
      f"{f', pos_weight {pos_weight}' if pos_weight != '1' else ''}"
      f"{' (its gradient kept out of the body)' if cls_detach == 'on' else ''}; "
      f"grouped {len(rows)}-fold CV, last-epoch network "
      f"on the held-out fold.\n")
print("| fold | train | val | Dice | IoU | accuracy | F1 | sensitivity | specificity | ROC-AUC | seconds |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    vals = " | ".join(f"{float(r[k]):.3f}" for k in keys)
    print(f"| {r['fold']} | {r['train_images']} | {r['val_images']} | {vals} | {float(r['seconds']):.0f} |")
sd = lambda v: statistics.stdev(v) if len(v) > 1 else float("nan")
ms = lambda k: f"{statistics.mean(float(r[k]) for r in rows):.3f} ± {sd([float(r[k]) for r in rows]):.3f}"
if rows:
    print("| mean ± std | | | " + " | ".join(ms(k) for k in keys) + " | |")
keys_t = ["threshold", "accuracy_t", "f1_t", "sensitivity_t", "specificity_t"]
if rows and all(k in r for r in rows for k in keys_t):
    where = (f"a held-out part ({holdout}) of each fold's training images, not trained on"
             if threshold_from == "holdout" else "each fold's training images")
    print(f"\nAt the threshold with the highest accuracy on {where}:\n")
    print("| fold | threshold | accuracy | F1 | sensitivity | specificity |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['fold']} | " + " | ".join(f"{float(r[k]):.3f}" for k in keys_t) + " |")
    print("| mean ± std | " + " | ".join(ms(k) for k in keys_t) + " |")
if rows and threshold_from == "holdout" and all("threshold_train" in r for r in rows):
    print("\nAt the threshold with the highest accuracy on the images trained on (the same networks):\n")
    print("| fold | holdout images | pos_weight | threshold | accuracy |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['fold']} | {r['holdout_images']} | {float(r['pos_weight']):.3f} | "
              f"{float(r['threshold_train']):.3f} | {float(r['accuracy_train_t']):.3f} |")
    print("| mean ± std | | | " + ms("threshold_train") + " | " + ms("accuracy_train_t") + " |")
PY
