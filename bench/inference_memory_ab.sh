#!/usr/bin/env bash
# Inference memory before and after a change: bench/inference_memory.cpp compiled against a git
# revision's headers (exported with `git archive` into a temporary folder; the checkout is not
# touched) and against the working tree's, each network measured in a fresh process, the two
# builds alternating for R rounds. Prints one JSON line per run and a table of the peak RSS
# increase (median over the rounds) and its ratio, working tree / REV.
#
#   bench/inference_memory_ab.sh [--base REV] [--rounds R] CASE...
#
# CASE is model:base:batch:size, e.g. unet_plusplus:32:1:256 (models: see inference_memory.cpp).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
base_rev=HEAD rounds=2 cases=()
while (($#)); do
    case "$1" in
        --base) base_rev="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        -*) echo "inference_memory_ab.sh: unknown option $1" >&2; exit 2 ;;
        *) cases+=("$1"); shift ;;
    esac
done
((${#cases[@]})) || { echo "inference_memory_ab.sh: give at least one case, e.g. unet_plusplus:32:1:256" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "inference_memory_ab.sh: --rounds takes a positive whole number" >&2; exit 2; }
git -C "$root" rev-parse --verify --quiet "$base_rev^{commit}" >/dev/null || {
    echo "inference_memory_ab.sh: '$base_rev' is not a revision of $root" >&2
    exit 2
}
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/base"
git -C "$root" archive "$base_rev" include | tar -x -C "$out/base"
rev="$(git -C "$root" rev-parse --short "$base_rev")"
build() {  # build INCLUDE_ROOT LABEL BINARY
    "${CXX:-g++}" -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -DBENCH_LABEL="\"$2\"" -I "$1/include" \
        -I /usr/include/eigen3 "$root/bench/inference_memory.cpp" -o "$3"
}
build "$out/base" "$rev" "$out/bench_base" &
build "$root" tree "$out/bench_tree"
wait
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $OMP_NUM_THREADS;" \
     "base $rev against the working tree; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${cases[@]}"; do
    IFS=: read -r model base batch size <<<"$c"
    [[ -n "${size:-}" ]] || { echo "inference_memory_ab.sh: case '$c' must be model:base:batch:size" >&2; exit 2; }
    for ((r = 0; r < rounds; r++)); do
        for b in base tree; do
            "$out/bench_$b" --model "$model" --base "$base" --batch "$batch" --size "$size" | tee -a "$out/runs.jsonl"
        done
    done
done
/usr/bin/python3 - "$out/runs.jsonl" "$rev" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
rev = sys.argv[2]
cases = []
for r in runs:
    k = (r["model"], r["base"], r["batch"], r["size"])
    if k not in cases:
        cases.append(k)
print(f"\n| case | peak RSS increase, MiB, {rev} | working tree | tree / {rev} | s/pass {rev} | s/pass tree |")
print("|---|---:|---:|---:|---:|---:|")
for k in cases:
    m = lambda lab, f: statistics.median(r[f] for r in runs if (r["model"], r["base"], r["batch"], r["size"]) == k and (r["label"] == "tree") == (lab == "tree"))
    b, t = m(rev, "rss_increase_mib"), m("tree", "rss_increase_mib")
    print(f"| {k[0]}<{k[1]},4> b{k[2]} {k[3]}² | {b:.1f} | {t:.1f} | {t / b:.2f} | {m(rev, 'median_s'):.3f} | {m('tree', 'median_s'):.3f} |")
PY
