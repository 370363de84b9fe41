#!/usr/bin/env python3
"""Table of isbi_bf16.sh: whole-slice Dice of the ISBI fold models in fp32 and bf16.

    summarize_isbi_bf16.py FP32_RUNS BF16_RUNS FOLDS

Reads FP32_RUNS/fold<k>/eval_{fp32,bf16}.csv (the fp32-trained models scored both ways) and, where
present, BF16_RUNS/fold<k>/eval_{bf16,fp32}.csv (the models trained with --precision bf16).
Dice per slice from unetpp-evaluate's per-image table, averaged per fold; mean and sample
standard deviation over the folds that have the file. Standard library only.
"""
import csv
import statistics
import sys
from pathlib import Path


def dice_per_image(path):
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        return {row["image"]: float(row["dice"]) for row in csv.DictReader(f)}


def mean(values):
    return sum(values) / len(values)


def spread(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: summarize_isbi_bf16.py FP32_RUNS BF16_RUNS FOLDS")
    fp32_runs, bf16_runs, folds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    cols = {k: [] for k in ("ref32", "ref16", "delta", "worst", "tr16", "tr32", "trdelta")}
    rows = []
    for k in range(folds):
        ref32 = dice_per_image(fp32_runs / f"fold{k}" / "eval_fp32.csv")
        ref16 = dice_per_image(fp32_runs / f"fold{k}" / "eval_bf16.csv")
        tr16 = dice_per_image(bf16_runs / f"fold{k}" / "eval_bf16.csv")
        tr32 = dice_per_image(bf16_runs / f"fold{k}" / "eval_fp32.csv")
        cells = [str(k)]
        if ref32 and ref16:
            if ref32.keys() != ref16.keys():
                sys.exit(f"fold {k}: the fp32 and bf16 evaluations scored different images")
            a, b = mean(list(ref32.values())), mean(list(ref16.values()))
            worst = max(abs(ref16[i] - ref32[i]) for i in ref32)
            for key, v in (("ref32", a), ("ref16", b), ("delta", b - a), ("worst", worst)):
                cols[key].append(v)
            cells += [f"{a:.4f}", f"{b:.4f}", f"{b - a:+.4f}", f"{worst:.4f}"]
        else:
            cells += ["-"] * 4
        if tr16 and ref32:
            t16 = mean(list(tr16.values()))
            cols["tr16"].append(t16)
            cols["trdelta"].append(t16 - mean(list(ref32.values())))
            cells += [f"{t16:.4f}", f"{cols['trdelta'][-1]:+.4f}"]
        else:
            cells += ["-", "-"]
        if tr32:
            t32 = mean(list(tr32.values()))
            cols["tr32"].append(t32)
            cells.append(f"{t32:.4f}")
        else:
            cells.append("-")
        rows.append(cells)
    print("ISBI 2012, whole 512 x 512 validation slices, Dice per slice averaged (unetpp-evaluate)\n")
    print("| fold | fp32 model, fp32 | fp32 model, bf16 | bf16 - fp32 | largest per-slice change "
          "| bf16-trained model, bf16 | bf16-trained (bf16) - fp32-trained (fp32) | bf16-trained model, fp32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print("| mean ± std | " + " | ".join(spread(cols[k]) for k in ("ref32", "ref16", "delta", "worst", "tr16",
                                                                  "trdelta", "tr32")) + " |")


if __name__ == "__main__":
    main()
