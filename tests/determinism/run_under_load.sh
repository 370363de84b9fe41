#!/usr/bin/env bash
# Determinism under load: runs determinism_train_hash three times with the same seed and the same
# requested thread count -- on the machine as it is, beside a CPU hog (one busy-looping process per
# core, killed afterwards) with OpenMP's dynamic teams on, and with OMP_DYNAMIC=false -- and
# requires the three weight hashes to be identical.
#
# Usage: run_under_load.sh <path to determinism_train_hash> [threads]
# Exit: 0 identical, 1 different or a run failed, 2 bad usage, 77 skipped (built without OpenMP).
set -u

prog=${1:-}
threads=${2:-2}
if [[ -z "$prog" || ! -x "$prog" ]]; then
    echo "usage: $0 <path to determinism_train_hash> [threads]; '$prog' is not an executable" >&2
    exit 2
fi

hog_pids=()
stop_hog() {
    local pid
    for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null; done
    hog_pids=()
}
trap stop_hog EXIT

# run <label> <env assignments...>: prints the program's report and stores its hash in $hash.
run() {
    local label=$1 out
    shift
    if ! out=$(env "$@" "$prog" --threads "$threads"); then
        echo "FAIL: the $label run exited with an error" >&2
        exit 1
    fi
    echo "$label: $out" | tr '\n' ' '
    echo
    hash=$(sed -n 's/^hash \([0-9a-f]\{16\}\)$/\1/p' <<<"$out")
    if [[ -z "$hash" ]]; then
        if grep -q '^openmp: off' <<<"$out"; then
            echo "[unetpp-skip] built without OpenMP: there are no thread teams whose size could vary"
            exit 77
        fi
        echo "FAIL: the $label run printed no hash" >&2
        exit 1
    fi
}

# 1. As the programs run by default: adapt_threads_to_load() turns dynamic mode on.
run quiet -u OMP_DYNAMIC
quiet=$hash

# 2. The same beside a CPU hog: one busy loop per core, so dynamic teams shrink and threads are
#    descheduled in the middle of regions. Each loop also ends by itself after 60 s or once this
#    script is gone, so a killed test leaves nothing spinning.
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
script_pid=$$
for ((i = 0; i < cores; ++i)); do
    (end=$((SECONDS + 60)); while ((SECONDS < end)) && kill -0 "$script_pid" 2>/dev/null; do :; done) &
    hog_pids+=($!)
done
sleep 1
run loaded -u OMP_DYNAMIC
loaded=$hash
stop_hog

# 3. Dynamic mode off: every region gets the requested team.
run static OMP_DYNAMIC=false
static=$hash

if [[ "$quiet" == "$loaded" && "$quiet" == "$static" ]]; then
    echo "PASS: identical weights hash $quiet in all three runs ($threads threads requested)"
    exit 0
fi
echo "FAIL: the weights differ: quiet $quiet, beside a CPU hog $loaded, OMP_DYNAMIC=false $static" >&2
exit 1
