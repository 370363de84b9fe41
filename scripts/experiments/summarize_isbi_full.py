#!/usr/bin/env python3
"""Summarises the runs of scripts/experiments/isbi_full.sh into markdown tables.

    summarize_isbi_full.py RUNS_DIR EPOCHS FOLDS

RUNS_DIR/fold<k>/log.csv is the unetpp-train log, fold<k>/unetpp_full_val.json the scores of its
final weights (tools/torch_reference_train.py --score-unetpp), fold<k>/torch/log.csv and
fold<k>/torch/full_val.json the PyTorch reference on the same tensors. A fold counts only when
both logs have EPOCHS rows and both whole-image scores exist; the others are listed as missing
and left out of the means, and the title says k of FOLDS folds when some are missing.

Columns: Dice and pixel error of the last epoch on the validation patches (the logs' val_dice and
val_pixel_error: one fixed 256 x 256 patch per validation slice, the same pixels on both sides),
the same on the whole 512 x 512 validation slices, the training time of one run (sum of the
epochs' seconds, validation included) and the median seconds of one epoch (an epoch during which
the process was paused counts its pause in the sum, not in the median). Means are +- the sample standard deviation over folds.
"""

import csv
import json
import os
import statistics
import sys


def log(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def ms(values, digits=3):
    m = statistics.mean(values)
    if len(values) < 2:  # no spread from one fold
        return f"{m:.{digits}f} (1 fold)"
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    runs, epochs, folds = argv[1], int(argv[2]), int(argv[3])
    done, missing = [], []
    for k in range(folds):
        d = os.path.join(runs, f"fold{k}")
        paths = [os.path.join(d, "log.csv"), os.path.join(d, "torch", "log.csv"),
                 os.path.join(d, "unetpp_full_val.json"), os.path.join(d, "torch", "full_val.json")]
        if not all(os.path.isfile(p) for p in paths):
            missing.append(k)
            continue
        ours, theirs = log(paths[0]), log(paths[1])
        if len(ours) != epochs or len(theirs) != epochs:
            missing.append(k)
            continue
        with open(paths[2]) as f:
            our_full = json.load(f)["full_val"]
        with open(paths[3]) as f:
            their_full = json.load(f)
        row = {"fold": k}
        for side, rows, full in (("u", ours, our_full), ("t", theirs, their_full)):
            row[side + "_dice"] = float(rows[-1]["val_dice"])
            row[side + "_err"] = float(rows[-1]["val_pixel_error"])
            row[side + "_fdice"] = full["val_dice"]
            row[side + "_ferr"] = full["val_pixel_error"]
            row[side + "_s"] = sum(float(r["seconds"]) for r in rows)
            row[side + "_med"] = statistics.median(float(r["seconds"]) for r in rows)
        done.append(row)
    title = f"{len(done)} of {folds} folds" + ("" if len(done) == folds else " (partial)")
    print(f"ISBI 2012 at the full recipe: {title}" +
          (f"; missing or unfinished folds: {', '.join(map(str, missing))}" if missing else ""))
    print()
    if not done:
        return 0
    cols = [("u_dice", "unetpp Dice (patch)"), ("t_dice", "PyTorch Dice (patch)"),
            ("u_err", "unetpp pixel error (patch)"), ("t_err", "PyTorch pixel error (patch)"),
            ("u_fdice", "unetpp Dice (512²)"), ("t_fdice", "PyTorch Dice (512²)"),
            ("u_ferr", "unetpp pixel error (512²)"), ("t_ferr", "PyTorch pixel error (512²)")]
    print("| fold | " + " | ".join(c[1] for c in cols) +
          " | unetpp s/run | PyTorch s/run | unetpp median s/epoch | PyTorch median s/epoch |")
    print("|---|" + "---:|" * (len(cols) + 4))
    for r in done:
        print(f"| {r['fold']} | " + " | ".join(f"{r[c]:.4f}" for c, _ in cols) +
              f" | {r['u_s']:.0f} | {r['t_s']:.0f} | {r['u_med']:.1f} | {r['t_med']:.1f} |")
    mean = lambda k: statistics.mean(r[k] for r in done)  # noqa: E731
    print("| mean ± std | " + " | ".join(ms([r[c] for r in done]) for c, _ in cols) +
          f" | {mean('u_s'):.0f} | {mean('t_s'):.0f} | {mean('u_med'):.1f} | {mean('t_med'):.1f} |")
    diff = [r["u_fdice"] - r["t_fdice"] for r in done]
    pdiff = [r["u_dice"] - r["t_dice"] for r in done]
    print()
    print(f"Dice difference (unetpp - PyTorch): patch {ms(pdiff)}, whole slices {ms(diff)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
