# Side-by-side of the hierarchical and flat runs of one configuration (folds.csv of each fold).
import csv, glob, statistics, sys
def load(d):
    rows = []
    for p in sorted(glob.glob(f"{d}/fold*/folds.csv")):
        rows += list(csv.DictReader(open(p)))
    return {int(r["fold"]): r for r in rows}
h, f = load(sys.argv[1]), load(sys.argv[2])
folds = sorted(set(h) & set(f))
keys = [("accuracy", "accuracy"), ("fixed_accuracy", "accuracy, fixed rule"), ("macro_f1", "macro F1"),
        ("stage1_accuracy", "stage-1 acc."), ("stage2_accuracy", "stage-2 acc."),
        ("stage1_auc", "stage-1 AUC"), ("stage2_auc", "stage-2 AUC")]
print("| fold | " + " | ".join(f"{n} H | {n} F" for _, n in keys) + " |")
print("|---|" + "---:|---:|" * len(keys))
for k in folds:
    print(f"| {k} | " + " | ".join(f"{float(h[k][c]):.3f} | {float(f[k][c]):.3f}" for c, _ in keys) + " |")
ms = lambda v: f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
print("| mean ± std | " + " | ".join(ms([float(h[k][c]) for k in folds]) + " | " + ms([float(f[k][c]) for k in folds])
                                  for c, _ in keys) + " |")
d = [float(h[k]["accuracy"]) - float(f[k]["accuracy"]) for k in folds]
print(f"\nfolds {folds}; accuracy hierarchical - flat per fold: " + ", ".join(f"{x:+.3f}" for x in d) + f"; mean {ms(d)}")
