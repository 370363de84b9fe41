#!/usr/bin/env bash
# A/B of two versions of unetpp on whole networks, alternating in one session: the speed check
# of a refactoring ("no case slower than before by more than noise", measured in one run).
#
#   bench/revision_ab.sh [--base REV] [--rounds R] [--iters K] CASE...
#
# REV (default HEAD) is the git revision to compare the working tree against. CASE is
# model:base:mode:batch:size (as bench/run.sh's CASES, e.g. unet_bn:64:infer:1:256 or
# unet_bn:32:train:4:256). bench/unet_bench.cpp is compiled twice with the same command (g++ -O3
# -march=native, OpenMP): once against REV's headers (exported with `git archive` into a
# temporary folder, the checkout is not touched) and once against the working tree's. For every
# case and round each build runs once, in turn, in a fresh process with OMP_NUM_THREADS (default
# 2) threads, so both see the same machine load; the script prints per case the median and
# minimum over all timed iterations of all rounds, the working tree's speed relative to REV
# (above 1: faster) and the largest peak-RSS increase. The machine's load is printed at the
# start and the end: on a shared machine only the ratios of alternating runs mean anything.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
base_rev=HEAD rounds=3 iters=3 cases=()
while (($#)); do
    case "$1" in
        --base) base_rev="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --iters) iters="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "revision_ab.sh: unknown option $1" >&2; exit 2 ;;
        *) cases+=("$1"); shift ;;
    esac
done
if ((${#cases[@]} == 0)); then
    echo "revision_ab.sh: give at least one case, e.g. unet_bn:64:infer:1:256" >&2
    exit 2
fi
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$iters" =~ ^[1-9][0-9]*$ ]] || {
    echo "revision_ab.sh: --rounds and --iters take positive whole numbers" >&2
    exit 2
}
git -C "$root" rev-parse --verify --quiet "$base_rev^{commit}" >/dev/null || {
    echo "revision_ab.sh: '$base_rev' is not a revision of $root" >&2
    exit 2
}
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/base"
git -C "$root" archive "$base_rev" include bench/unet_bench.cpp | tar -x -C "$out/base"
build() {  # build SOURCE_ROOT BINARY
    "${CXX:-g++}" -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -I "$1/include" -I /usr/include/eigen3 \
        "$1/bench/unet_bench.cpp" -o "$2"
}
build "$out/base" "$out/bench_base"
build "$root" "$out/bench_tree"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), -march=native," \
     "threads $OMP_NUM_THREADS; base $(git -C "$root" rev-parse --short "$base_rev") against the working tree;" \
     "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${cases[@]}"; do
    IFS=: read -r model base mode batch size <<<"$c"
    if [[ -z "${size:-}" ]]; then
        echo "revision_ab.sh: case '$c' must be model:base:mode:batch:size" >&2
        exit 2
    fi
    for ((r = 0; r < rounds; ++r)); do
        for side in base tree; do
            "$out/bench_$side" --model "$model" --base "$base" --mode "$mode" --batch "$batch" --size "$size" \
                --iters "$iters" --warmup 1 --json "$out/$c.$side.json" >/dev/null
        done
    done
done
python3 - "$out" "${cases[@]}" <<'PY'
import json, statistics, sys
out, cases = sys.argv[1], sys.argv[2:]
print(f"{'case':28} {'side':5} {'median ms':>10} {'min ms':>10} {'tree speed':>10} {'RSS incr MiB':>12}")
for c in cases:
    med = {}
    for side in ("base", "tree"):
        runs = [json.loads(l) for l in open(f"{out}/{c}.{side}.json") if l.strip()]
        times = [t for r in runs for t in r["times_ms"]]
        med[side] = statistics.median(times)
        rss = max(r["rss_increase_mib"] for r in runs)
        ratio = f"{med['base'] / med[side]:9.3f}x" if side == "tree" else ""
        print(f"{c:28} {side:5} {med[side]:10.1f} {min(times):10.1f} {ratio:>10} {rss:12.1f}")
PY
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
