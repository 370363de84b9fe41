#!/usr/bin/env bash
# A/B of the Winograd convolution settings on whole networks, alternating in one session.
#
#   bench/winograd_ab.sh [--march native|x86-64-v3] [--rounds R] [--iters K] CASE...
#
# CASE is model:base:mode:batch:size (as bench/run.sh's CASES, e.g. unet_bn:64:infer:1:256 or
# ronneberger2015:64:infer:1:572). For every case and round it runs bench/unet_bench.cpp once per
# setting, in turn, each in a fresh process with OMP_NUM_THREADS (default 2) threads:
#   direct    UNETPP_CONV_ALGO=direct (the direct kernels, no Winograd)
#   nocache   Winograd where the automatic choice picks it, UNETPP_WINOGRAD_CACHE_MB=0 (the
#             default: the weights transformed on every call)
#   cache     UNETPP_WINOGRAD_CACHE_MB=1024: the transformed weights kept across inference calls
# and prints, per case and setting, the median and minimum over all timed iterations of all
# rounds and the largest peak-RSS increase. --march x86-64-v3 compiles for AVX2 + FMA without
# AVX-512 (the AVX2 kernels, on any AVX2 or AVX-512 machine). The machine's load is printed at
# the start and the end: on a shared machine only the ratios of alternating runs mean anything.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
march=native rounds=2 iters=3 cases=()
while (($#)); do
    case "$1" in
        --march) march="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --iters) iters="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "winograd_ab.sh: unknown option $1 (expected --march, --rounds, --iters)" >&2; exit 2 ;;
        *) cases+=("$1"); shift ;;
    esac
done
if ((${#cases[@]} == 0)); then
    echo "winograd_ab.sh: give at least one case, e.g. unet_bn:64:infer:1:256" >&2
    exit 2
fi
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$iters" =~ ^[1-9][0-9]*$ ]] || {
    echo "winograd_ab.sh: --rounds and --iters take positive whole numbers" >&2
    exit 2
}
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bin="$out/unet_bench_$march"
"${CXX:-g++}" -std=c++20 -O3 -DNDEBUG "-march=$march" -fopenmp -I "$root/include" -I /usr/include/eigen3 \
    "$here/unet_bench.cpp" -o "$bin"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), -march=$march," \
     "threads $OMP_NUM_THREADS, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${cases[@]}"; do
    IFS=: read -r model base mode batch size <<<"$c"
    if [[ -z "${size:-}" ]]; then
        echo "winograd_ab.sh: case '$c' must be model:base:mode:batch:size" >&2
        exit 2
    fi
    for ((r = 0; r < rounds; ++r)); do
        for setting in direct nocache cache; do
            env_args=()
            case "$setting" in
                direct) env_args=(UNETPP_CONV_ALGO=direct) ;;
                nocache) env_args=(UNETPP_WINOGRAD_CACHE_MB=0) ;;
                cache) env_args=(UNETPP_WINOGRAD_CACHE_MB=1024) ;;
            esac
            env "${env_args[@]}" "$bin" --model "$model" --base "$base" --mode "$mode" --batch "$batch" \
                --size "$size" --iters "$iters" --warmup 1 --json "$out/$c.$setting.json" >/dev/null 2>&1
        done
    done
done
python3 - "$out" "${cases[@]}" <<'EOF'
import json, statistics, sys
out, cases = sys.argv[1], sys.argv[2:]
print(f"{'case':32} {'setting':8} {'median ms':>10} {'min ms':>10} {'vs direct':>9} {'RSS incr MiB':>12}")
for c in cases:
    base = None
    for s in ("direct", "nocache", "cache"):
        runs = [json.loads(l) for l in open(f"{out}/{c}.{s}.json") if l.strip()]
        times = [t for r in runs for t in r["times_ms"]]
        med, mn = statistics.median(times), min(times)
        rss = max(r["rss_increase_mib"] for r in runs)
        base = med if s == "direct" else base
        print(f"{c:32} {s:8} {med:10.1f} {mn:10.1f} {base / med:8.2f}x {rss:12.1f}")
EOF
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
