#!/usr/bin/env bash
# A long fuzzing campaign: runs every fuzz target of a fuzz build for a fixed number of
# executions, one after the other, and prints a table of executions, time and findings.
# The CI's fuzz stage runs each target for only 30 s; docs/RELIABILITY.md records a campaign.
#
#   tests/fuzz/campaign.sh [BUILD_DIR] [RUNS] [OUT_DIR]
#       BUILD_DIR  a build configured with CXX=clang++ -DUNETPP_FUZZ=ON   (default build-fuzz)
#       RUNS       executions per target                                   (default 1000000)
#       OUT_DIR    corpora, logs and any crashing inputs    (default BUILD_DIR/fuzz-campaign)
#   UNETPP_FUZZ_TARGETS="image safetensors" limits the targets.
#
# It builds the targets and the seeds first. New inputs grow OUT_DIR/corpus/<target>; the seeds
# stay as written. A crash, sanitizer report, hang over 10 s or 2 GiB of memory stops that
# target, leaves the input in OUT_DIR/artifacts/<target>/ and makes the exit status 1.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build-fuzz}"
runs="${2:-1000000}"
out="${3:-$build/fuzz-campaign}"
[[ "$build" == /* ]] || build="$PWD/$build"
[[ "$out" == /* ]] || out="$PWD/$out"
fuzz_dir="$build/tests/fuzz"

cmake --build "$build" --target unetpp_fuzz_targets make_seeds --parallel "${UNETPP_JOBS:-2}" || exit 1
"$fuzz_dir/make_seeds" "$fuzz_dir/seeds" >/dev/null || exit 1

targets="${UNETPP_FUZZ_TARGETS:-}"
if [[ -z "$targets" ]]; then
    for exe in "$fuzz_dir"/fuzz_*; do
        [[ -x "$exe" && ! -d "$exe" ]] && targets+=" ${exe##*/fuzz_}"
    done
fi

status=0
table="| target | executions | seconds | result |\n|---|---:|---:|---|\n"
for t in $targets; do
    exe="$fuzz_dir/fuzz_$t"
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    args=(-runs="$runs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
          -artifact_prefix="$out/artifacts/$t/")
    dict="$root/tests/fuzz/fuzz_$t.dict"
    [[ -f "$dict" ]] && args+=(-dict="$dict")
    echo "campaign: fuzz_$t, $runs executions"
    start=$(date +%s)
    "$exe" "${args[@]}" "$out/corpus/$t" "$fuzz_dir/seeds/$t" >"$out/$t.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out/$t.log" | tail -1)
    if [[ $rc -eq 0 ]]; then
        result="no crash, hang or out-of-memory"
    else
        result="FAILED (exit $rc; see $out/$t.log)"
        status=1
    fi
    table+="| $t | ${done_runs:-?} | $took | $result |\n"
done
printf '\n%b' "$table"
exit $status
