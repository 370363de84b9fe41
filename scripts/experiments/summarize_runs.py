#!/usr/bin/env python3
"""Summarises the runs of scripts/experiments/isbi_losses.sh into a markdown table.

    summarize_runs.py RUNS_DIR

RUNS_DIR/<loss>/fold<k>/log.csv is an unetpp-train log, RUNS_DIR/<loss>/fold<k>/torch/log.csv
the PyTorch reference on the same fold. Per loss and framework the table gives the validation
Dice and pixel error of the last epoch (mean +- sample std over the folds) and the training time
of one run (sum of the epochs' seconds, mean over the folds). Folds missing on one side are left
out of both, so every number compares the same folds.
"""

import csv
import os
import statistics
import sys

ORDER = ["bce", "dice", "dice_bce", "focal", "iou", "tversky"]


def last_row(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    r = rows[-1]
    return {"dice": float(r["val_dice"]), "err": float(r["val_pixel_error"]),
            "seconds": sum(float(x["seconds"]) for x in rows), "epochs": len(rows)}


def ms(values, digits=3):
    if not values:
        return "-"
    m = statistics.mean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs = argv[1]
    losses = [l for l in ORDER if os.path.isdir(os.path.join(runs, l))]
    losses += sorted(l for l in os.listdir(runs) if os.path.isdir(os.path.join(runs, l)) and l not in losses)
    print("| loss | folds | unetpp val Dice | PyTorch val Dice | Dice difference (unetpp - PyTorch) "
          "| unetpp pixel error | PyTorch pixel error | unetpp s/run | PyTorch s/run | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for loss in losses:
        ours, theirs = [], []
        d = os.path.join(runs, loss)
        for fold in sorted(os.listdir(d)):
            a, b = os.path.join(d, fold, "log.csv"), os.path.join(d, fold, "torch", "log.csv")
            if os.path.isfile(a) and os.path.isfile(b):
                ra, rb = last_row(a), last_row(b)
                if ra and rb and ra["epochs"] == rb["epochs"]:
                    ours.append(ra)
                    theirs.append(rb)
        if not ours:
            continue
        diff = [a["dice"] - b["dice"] for a, b in zip(ours, theirs)]
        sa = statistics.mean(r["seconds"] for r in ours)
        sb = statistics.mean(r["seconds"] for r in theirs)
        print(f"| {loss} | {len(ours)} | {ms([r['dice'] for r in ours])} | {ms([r['dice'] for r in theirs])} "
              f"| {ms(diff)} | {ms([r['err'] for r in ours])} | {ms([r['err'] for r in theirs])} "
              f"| {sa:.0f} | {sb:.0f} | {sb / sa:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
