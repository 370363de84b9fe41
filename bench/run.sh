#!/usr/bin/env bash
# End-to-end U-Net benchmark, unetpp against PyTorch, in one command.
#
#   bench/run.sh             the suite (12 cases, see below; about 25 minutes on a quiet 2-core machine)
#   bench/run.sh --quick     5 small cases, 1 warm-up + 3 timed iterations (a smoke test, about 2 minutes)
#   bench/run.sh --scaling   threads 1 and 2 x image sides 128 to 1024, plus 1024^2 unpadded
#                            inference through overlap tiling (about 15 minutes)
#   bench/run.sh --full      the suite and the scaling cases
#   bench/run.sh --memory    the suite's cases for their memory only: 1 warm-up + 1 timed
#                            iteration, no profile (about 8 minutes). Peak RSS does not depend on
#                            the iteration count or the machine's load; the img/s of such a run
#                            are single, unreliable readings. Writes bench/results/memory.{json,md}
# Add --no-profile to skip the per-operation breakdown of each unetpp case.
#
# The suite (all at OMP_NUM_THREADS threads, default 2), for unet_bn<32, 4> and unet_bn<64, 4>:
# inference batch 1 at 256^2, batch 8 at 256^2, batch 1 at 512^2; training step (forward,
# BCE-with-logits, backward, Adam) batch 4 at 256^2 and batch 1 at 512^2; and the unpadded
# ronneberger2015 network (base 64, and its base-32 variant) at 572^2.
#
# Builds bench/unet_bench.cpp and bench/fma_peak.cpp directly with g++ (no CMake needed),
# measures the machine's FMA peak, then runs every case in a fresh process, unetpp first and
# PyTorch right after, so both sides of a case see the same machine load. Writes
#   bench/results/latest.json   JSON lines: one "machine" object (with the measured peak), then
#                               one object per run (unetpp runs carry their per-operation profile)
#   bench/results/latest.md     the comparison tables, the 3x3-convolution efficiency against the
#                               peak, and the per-operation breakdown
# Environment: OMP_NUM_THREADS (default 2; also passed to torch.set_num_threads), CXX (default
# g++), PYTHON (default /usr/bin/python3, which must have torch), CASES (override the case list:
# space-separated model:base:mode:batch:size[:tile[:threads]], e.g. "unet_bn:32:infer:1:256
# ronneberger2015:64:infer:1:572"; the older base:mode:batch:size form means unet_bn),
# OPENBLAS_DIR (default /usr/lib/x86_64-linux-gnu/openblas-pthread: put on the PyTorch side's
# library path, so Debian's PyTorch 1.13 runs its GEMMs on OpenBLAS, not the netlib reference
# BLAS; see bench/anchors/run.sh, which compares against ONNX Runtime, OpenVINO and PyTorch 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
results="$here/results"
mkdir -p "$results/bin"

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
CXX="${CXX:-g++}"
PYTHON="${PYTHON:-/usr/bin/python3}"
threads="$OMP_NUM_THREADS"

profile=suite
per_op=1
for arg in "$@"; do
    case "$arg" in
        --quick) profile=quick ;;
        --scaling) profile=scaling ;;
        --full) profile=full ;;
        --memory) profile=memory per_op=0 ;;
        --no-profile) per_op=0 ;;
        -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "run.sh: unknown argument $arg (expected --quick, --scaling, --full, --memory or --no-profile)" >&2; exit 2 ;;
    esac
done

suite_cases=""
for b in 32 64; do
    suite_cases+=" unet_bn:$b:infer:1:256 unet_bn:$b:infer:8:256 unet_bn:$b:infer:1:512"
    suite_cases+=" unet_bn:$b:train:4:256 unet_bn:$b:train:1:512"
done
suite_cases+=" ronneberger2015:64:infer:1:572 ronneberger2015:32:infer:1:572"
quick_cases="unet_bn:32:infer:1:256 unet_bn:64:infer:1:256 unet_bn:32:train:1:256 unet_bn:64:train:1:256 unet_bn:32:train:4:256"
scaling_cases=""
for t in 1 2; do
    for s in 128 256 512 1024; do scaling_cases+=" unet_bn:32:infer:1:$s:0:$t"; done
    scaling_cases+=" unet_bn:32:train:1:256:0:$t"
    scaling_cases+=" ronneberger2015:32:infer:1:1024:572:$t"
done

if [[ -n "${CASES:-}" ]]; then
    cases="$CASES"
else
    case $profile in
        quick) cases="$quick_cases" ;;
        scaling) cases="$scaling_cases" ;;
        full) cases="$suite_cases $scaling_cases" ;;
        memory) cases="$suite_cases" ;;
        *) cases="$suite_cases" ;;
    esac
fi

# Iterations: warm-up calls are untimed (the first one sizes every buffer). Big cases get fewer.
iters_for() {  # mode batch size
    if [[ $profile == quick ]]; then echo "--warmup 1 --iters 3"; return; fi
    if [[ $profile == memory ]]; then echo "--warmup 1 --iters 1"; return; fi
    local work=$(($2 * $3 * $3 / 65536))  # batch x (side / 256)^2
    if [[ $1 == infer && $work -le 1 ]]; then echo "--warmup 2 --iters 10"
    elif [[ $work -le 4 ]]; then echo "--warmup 1 --iters 5"
    else echo "--warmup 1 --iters 3"; fi
}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "run.sh: $PYTHON cannot import torch; set PYTHON to an interpreter that has it" >&2
    exit 1
fi

openblas_dir="${OPENBLAS_DIR:-/usr/lib/x86_64-linux-gnu/openblas-pthread}"
torch_lib_path="${LD_LIBRARY_PATH:-}"
if [[ -e "$openblas_dir/libblas.so.3" ]]; then
    torch_lib_path="$openblas_dir${torch_lib_path:+:$torch_lib_path}"
else
    echo "run.sh: no OpenBLAS in $openblas_dir (apt-get install libopenblas0-pthread): PyTorch runs on the system BLAS" >&2
fi

# --- build ------------------------------------------------------------------------------------
build_log="$results/bin/build.log"
for prog in unet_bench fma_peak; do
    echo "run.sh: building $results/bin/$prog" >&2
    if ! "$CXX" -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -I "$root/include" -I /usr/include/eigen3 \
            "$here/$prog.cpp" -o "$results/bin/$prog" 2>"$build_log"; then
        echo "run.sh: building bench/$prog.cpp failed; compiler output:" >&2
        cat "$build_log" >&2
        exit 1
    fi
done
bin="$results/bin/unet_bench"

# --- machine line and peak --------------------------------------------------------------------
cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
flags="$(grep -m1 '^flags' /proc/cpuinfo)"
isa="SSE"
[[ $flags == *" avx2 "* ]] && isa="AVX2"
[[ $flags == *" avx512f "* ]] && isa="AVX-512"
cores="$(nproc)"
compiler="$("$CXX" --version | head -1)"
torch_version="$("$PYTHON" -c 'import torch; print(torch.__version__)')"
when="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"

out_name=latest
if [[ $profile == memory ]]; then out_name=memory; fi
raw="$results/$out_name.raw.jsonl"
: >"$raw"
echo "run.sh: measuring the FMA peak (1 and $threads threads)" >&2
OMP_NUM_THREADS=1 "$results/bin/fma_peak" --seconds 1 --json "$raw"
"$results/bin/fma_peak" --seconds 2 --json "$raw"

# --- cases ------------------------------------------------------------------------------------
start=$SECONDS
for c in $cases; do
    IFS=: read -r -a f <<<"$c"
    if [[ ${#f[@]} -eq 4 ]]; then f=(unet_bn "${f[@]}"); fi
    if [[ ${#f[@]} -lt 5 ]]; then echo "run.sh: bad case '$c' (model:base:mode:batch:size[:tile[:threads]])" >&2; exit 2; fi
    model=${f[0]} base=${f[1]} mode=${f[2]} batch=${f[3]} size=${f[4]} tile=${f[5]:-0} nt=${f[6]:-$threads}
    args="--model $model --base $base --mode $mode --batch $batch --size $size $(iters_for "$mode" "$batch" "$size")"
    uargs="$args" targs="$args" tiled=""
    if [[ $tile != 0 ]]; then uargs+=" --tile $tile" targs+=" --tile $tile" tiled=" tile $tile"; fi
    if [[ $per_op == 1 ]]; then uargs+=" --profile"; fi
    id="\"model\":\"$model\",\"base\":$base,\"mode\":\"$mode\",\"batch\":$batch,\"size\":$size,\"tile\":$tile,\"threads\":$nt"
    # The machine may be shared: keep the 1-minute load average at the start of each case.
    echo "{\"impl\":\"load\",$id,\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" >>"$raw"
    label="$model<$base,4> $mode batch $batch ${size}x$size$tiled, $nt threads"
    echo "run.sh: [$((SECONDS - start))s] $label: unetpp" >&2
    # shellcheck disable=SC2086
    if ! OMP_NUM_THREADS=$nt "$bin" $uargs --json "$raw" 2>>"$results/bin/profile.log"; then
        echo "{\"impl\":\"unetpp\",$id,\"failed\":true}" >>"$raw"
    fi
    echo "run.sh: [$((SECONDS - start))s] $label: PyTorch" >&2
    # shellcheck disable=SC2086
    if ! OMP_NUM_THREADS=$nt OPENBLAS_NUM_THREADS=$nt LD_LIBRARY_PATH="$torch_lib_path" "$PYTHON" "$here/torch_unet_bench.py" $targs --threads "$nt" --json "$raw"; then
        echo "{\"impl\":\"pytorch\",$id,\"failed\":true}" >>"$raw"
    fi
done
elapsed=$((SECONDS - start))
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- format -----------------------------------------------------------------------------------
export cpu isa cores compiler torch_version when load_start load_end git_rev elapsed profile threads
"$PYTHON" "$here/format_results.py" "$raw" "$results/$out_name.json" "$results/$out_name.md"
rm -f "$raw"
echo "run.sh: wrote $results/$out_name.json and $results/$out_name.md" >&2
