# The best 3-class accuracy any pair of thresholds reaches on each validation fold (an oracle:
# thresholds picked on the fold itself, an upper bound of what threshold choice can give, not a result).
import csv, glob, statistics, sys
for d in sys.argv[1:]:
    accs = []
    for p in sorted(glob.glob(f"{d}/fold*/fold*_val.csv")):
        rows = list(csv.DictReader(open(p)))
        pa = [float(r["p_abnormal"]) for r in rows]; pm = [float(r["p_malignant"]) for r in rows]
        tr = [r["true"] for r in rows]
        def cands(v):
            s = sorted(set(v)); return [0.5] + [(a + b) / 2 for a, b in zip(s, s[1:])] + [s[0] - 1e-9, s[-1] + 1e-9]
        best = 0
        for t1 in cands(pa):
            for t2 in cands(pm):
                right = sum((("normal" if a < t1 else ("malignant" if m >= t2 else "benign")) == t) for a, m, t in zip(pa, pm, tr))
                best = max(best, right / len(tr))
        accs.append(best)
    print(d, " ".join(f"{a:.3f}" for a in accs), f"mean {statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f}" if len(accs) > 1 else "")
