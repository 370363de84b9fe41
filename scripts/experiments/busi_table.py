#!/usr/bin/env python3
"""The per-fold table of a BUSI K-fold run (scripts/experiments/busi_folds.sh, busi_auto.sh).

    busi_table.py RUNS_DIR [CSV_NAME]

RUNS_DIR/fold<k>/val.csv (or CSV_NAME, e.g. val_notta.csv from unetpp-evaluate --no-tta) is
unetpp-evaluate's per-image CSV of fold k's validation images and RUNS_DIR/fold<k>/log.csv its
training log. Per fold: Dice and IoU over all validation images
(normal images have empty masks; an empty prediction there scores 1), over the lesion images only
(benign and malignant), HD95 and precision/recall over the lesion images, and the training
seconds; then mean +- sample std over the folds.
"""
import csv
import math
import os
import statistics
import sys

runs = sys.argv[1]
csv_name = sys.argv[2] if len(sys.argv) > 2 else "val.csv"
rows = []
for fold in sorted(d for d in os.listdir(runs) if d.startswith("fold")):
    p, log = os.path.join(runs, fold, csv_name), os.path.join(runs, fold, "log.csv")
    if not (os.path.isfile(p) and os.path.isfile(log)):
        continue
    with open(p, newline="") as f:
        per_image = list(csv.DictReader(f))
    with open(log, newline="") as f:
        seconds = sum(float(x["seconds"]) for x in csv.DictReader(f))
    lesion = [r for r in per_image if not r["image"].startswith("normal")]
    mean = lambda rs, k: statistics.mean(float(r[k]) for r in rs)
    hd = [float(r["hd95"]) for r in lesion]
    finite = [h for h in hd if math.isfinite(h)]
    rows.append((fold, len(per_image), mean(per_image, "dice"), mean(per_image, "iou"), len(lesion),
                 mean(lesion, "dice"), mean(lesion, "iou"), mean(lesion, "precision"), mean(lesion, "recall"),
                 statistics.median(hd) if hd else math.nan, len(hd) - len(finite), seconds))
print("| fold | images | Dice (all) | IoU (all) | lesion images | Dice (lesions) | IoU (lesions) | precision | recall "
      "| HD95 median (px) | no lesion found | train seconds |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for fold, n, d, i, nl, dl, il, pr, rc, h, miss, s in rows:
    print(f"| {fold} | {n} | {d:.3f} | {i:.3f} | {nl} | {dl:.3f} | {il:.3f} | {pr:.3f} | {rc:.3f} | {h:.1f} | {miss} | {s:.0f} |")
if rows:
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
    col = lambda k: [r[k] for r in rows]
    ms = lambda v: f"{statistics.mean(v):.3f} ± {sd(v):.3f}"
    print(f"| mean ± std | | {ms(col(2))} | {ms(col(3))} | | {ms(col(5))} | {ms(col(6))} | {ms(col(7))} | {ms(col(8))} "
          f"| {statistics.mean(col(9)):.1f} | {sum(col(10))} | |")
