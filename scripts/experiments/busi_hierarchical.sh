#!/usr/bin/env bash
# BUSI normal / benign / malignant with seed 001's hierarchical two-stage classifier (stage 1
# normal vs abnormal, stage 2 benign vs malignant on the abnormal images) or its flat 3-class
# control of the same body (MODE=flat), K-fold with near-duplicate groups kept on one side
# (docs/RESULTS.md). Each fold is one run of examples/busi_hierarchical.cpp (--fold k) in
# RUNS_DIR/fold<k>; the per-fold rows are gathered into RUNS_DIR/table.md: accuracy, per-class F1
# and recall, stage accuracies and AUCs, the thresholds, mean +- sample std, and the 3x3
# confusion matrix summed over the folds with its per-class precision, recall and F1 (with
# THRESHOLD_FROM=holdout also the same at the fixed rule: thresholds 0.5 / 0.5, or the arg-max).
#
#   scripts/experiments/busi_hierarchical.sh [RUNS_DIR]          (default runs/busi_hierarchical)
#
# Environment (defaults in brackets): DATA [../shared/data/busi/Dataset_BUSI_with_GT],
# MODE [hierarchical], SIZE [128], EPOCHS [10], BATCH [8], LR [1e-3], FOLDS [5], FOLD_LIST [all:
# 0 .. FOLDS-1; e.g. "2 3" runs those only], AUGMENT [on], BALANCE [on], THRESHOLD_FROM [fixed],
# HOLDOUT [0.15], SEED [1], THREADS [2], BUILD_DIR [build], NICE [10]. A fold whose folds.csv
# exists is finished and skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-$root/runs/busi_hierarchical}"
data="${DATA:-$root/../shared/data/busi/Dataset_BUSI_with_GT}"
size="${SIZE:-128}" epochs="${EPOCHS:-10}" batch="${BATCH:-8}" lr="${LR:-1e-3}" folds="${FOLDS:-5}"
augment="${AUGMENT:-on}" balance="${BALANCE:-on}" seed="${SEED:-1}" threads="${THREADS:-2}" nice_level="${NICE:-10}"
mode="${MODE:-hierarchical}" threshold_from="${THRESHOLD_FROM:-fixed}" holdout="${HOLDOUT:-0.15}"
fold_list="${FOLD_LIST:-$(seq 0 $((folds - 1)))}"
build="${BUILD_DIR:-$root/build}"

source "$root/scripts/experiments/common.sh"
need_data busi_hierarchical.sh "$data" Dataset_BUSI_with_GT benign malignant normal
need_programs "$root" "$build" "$threads" examples/unetpp_busi_hierarchical
prog="$build/examples/unetpp_busi_hierarchical"
export OMP_NUM_THREADS="$threads"
mkdir -p "$runs"

for fold in $fold_list; do
    out="$runs/fold$fold"
    if [ -f "$out/folds.csv" ]; then continue; fi
    rm -rf "$out"
    echo "== busi_hierarchical ($mode) fold $fold/$folds"
    nice -n "$nice_level" "$prog" --data "$data" --mode "$mode" --size "$size" --epochs "$epochs" --batch "$batch" \
        --lr "$lr" --balance "$balance" --threshold-from "$threshold_from" --holdout "$holdout" --folds "$folds" \
        --fold "$fold" --seed "$seed" --augment "$augment" --threads "$threads" --out "$out" | tee "$runs/fold$fold.log"
done

/usr/bin/python3 - "$runs" "$mode" "$size" "$epochs" "$batch" "$lr" "$augment" "$balance" "$threshold_from" "$holdout" \
    "$folds" <<'PY' | tee "$runs/table.md"
import csv, math, os, statistics, sys
runs, mode, size, epochs, batch, lr, augment, balance, threshold_from, holdout, folds = sys.argv[1:]
rows = []
for d in sorted(os.listdir(runs)):
    p = os.path.join(runs, d, "folds.csv")
    if d.startswith("fold") and os.path.isfile(p):
        with open(p, newline="") as f:
            rows += list(csv.DictReader(f))
rows.sort(key=lambda r: int(r["fold"]))
names = ["normal", "benign", "malignant"]
fixed_rule = "the arg-max" if mode == "flat" else "thresholds 0.5 / 0.5"
rule = f"thresholds chosen on {holdout} of each training fold held out of training" if threshold_from == "holdout" else fixed_rule
model = "Flat 3-class classifier" if mode == "flat" else "Hierarchical classifier"
keys = (["accuracy", "macro_f1"] + [f"f1_{c}" for c in names] + [f"recall_{c}" for c in names] +
        ["stage1_accuracy", "stage2_accuracy", "stage1_auc", "stage2_auc"])
heads = (["accuracy", "macro F1"] + [f"F1 {c}" for c in names] + [f"recall {c}" for c in names] +
         ["stage-1 acc.", "stage-2 acc.", "stage-1 AUC", "stage-2 AUC"])
print(f"{model}, BUSI normal / benign / malignant, {size} x {size}, {epochs} epochs per network, "
      f"batch {batch}, Adam lr {lr}, balance {balance}, augment {augment}, decision: {rule}; grouped {folds}-fold CV "
      f"({len(rows)} of {folds} folds run), last-epoch networks on the held-out fold.\n")
print("| fold | train | val | " + " | ".join(heads) + " | seconds |")
print("|---|---:|---:|" + "---:|" * (len(keys) + 1))
for r in rows:
    print(f"| {r['fold']} | {r['train_images']} | {r['val_images']} | " +
          " | ".join(f"{float(r[k]):.3f}" for k in keys) + f" | {float(r['seconds']):.0f} |")
sd = lambda v: statistics.stdev(v) if len(v) > 1 else float("nan")
col = lambda k: [float(r[k]) for r in rows]
ms = lambda k: f"{statistics.mean(col(k)):.3f} ± {sd(col(k)):.3f}"

def summed(prefix, title):
    cm = [[sum(int(r[f"{prefix}{t}_{p}"]) for r in rows) for p in names] for t in names]
    total = sum(map(sum, cm))
    print(f"\n{title} (rows: true class, columns: predicted):\n")
    print("| true \\ predicted | " + " | ".join(names) + " |")
    print("|---|---:|---:|---:|")
    for t, row in zip(names, cm):
        print(f"| {t} | " + " | ".join(str(v) for v in row) + " |")
    acc = sum(cm[k][k] for k in range(3)) / total
    stage1 = (cm[0][0] + sum(cm[t][p] for t in (1, 2) for p in (1, 2))) / total
    print(f"\nPooled over {total} images: accuracy {acc:.3f}, stage 1 (normal vs abnormal) {stage1:.3f}\n")
    print("| class | precision | recall | F1 |")
    print("|---|---:|---:|---:|")
    for k, c in enumerate(names):
        tp = cm[k][k]; pred = sum(cm[t][k] for t in range(3)); true = sum(cm[k])
        # zero denominators as metrics/confusion.hpp: 1 when the other count is 0 too, else 0
        p = tp / pred if pred else float(true == 0); rc = tp / true if true else float(pred == 0)
        f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
        print(f"| {c} | {p:.3f} | {rc:.3f} | {f1:.3f} |")

if rows:
    print("| mean ± std | | | " + " | ".join(ms(k) for k in keys) + " | |")
    summed("cm_", f"Confusion matrix summed over the folds, {rule}")
    if threshold_from == "holdout":
        print(f"\nThresholds chosen on the held-out part, and the same networks at {fixed_rule}:\n")
        tk = ["t_abnormal", "t_malignant", "holdout_accuracy", "fixed_accuracy", "fixed_macro_f1",
              "fixed_stage1_accuracy", "fixed_stage2_accuracy"]
        print(f"| fold | held out | t_abnormal | t_malignant | held-out accuracy | accuracy at {fixed_rule} | macro F1 | "
              "stage-1 acc. | stage-2 acc. |")
        print("|---|---:|" + "---:|" * len(tk))
        for r in rows:
            print(f"| {r['fold']} | {r['holdout_images']} | " + " | ".join(f"{float(r[k]):.3f}" for k in tk) + " |")
        print("| mean ± std | | " + " | ".join(ms(k) for k in tk) + " |")
        summed("fixed_cm_", f"Confusion matrix summed over the folds at {fixed_rule}")
PY
