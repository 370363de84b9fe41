#!/usr/bin/env bash
# The issue-19 item-5 runs: per fold, the hierarchical classifier then the flat control, with
# thresholds from a held-out 15 % of each training fold; size 96 / 10 epochs first, then size 128 /
# 20 epochs. A fold whose folds.csv exists is skipped (rerun this script to resume).
set -uo pipefail
export OMP_WAIT_POLICY=passive
root=/work/wt-hier
runs=/work/runs/hier
common=(BUILD_DIR=$runs/bin THREADS=1 NICE=19 AUGMENT=on BALANCE=on THRESHOLD_FROM=holdout HOLDOUT=0.15 FOLDS=5)
for cfg in "96 10" "128 20"; do
    set -- $cfg
    for k in 0 1 2 3 4; do
        for mode in hierarchical flat; do
            env "${common[@]}" SIZE=$1 EPOCHS=$2 MODE=$mode FOLD_LIST=$k \
                "$root/scripts/experiments/busi_hierarchical.sh" "$runs/s$1_e$2_$mode" > "$runs/s$1_e$2_${mode}_fold$k.out" 2>&1
            echo "$(date -u +%H:%M:%S) s$1 e$2 $mode fold $k rc $?" >> "$runs/progress.txt"
        done
    done
done
