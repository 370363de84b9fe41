#!/usr/bin/env bash
# The checks of the CUDA backend that need a GPU, as one short script for a machine that has one
# (docs/CUDA.md, "On a GPU"). Safe to rerun: it builds into build-gpu (kept between runs, so a
# rerun only runs), writes its results under $OUT (or build-gpu/gpu-check), and changes nothing else.
#
#   scripts/gpu_check.sh              probe, build, the cuda tests, the benchmark (TF32 off and on)
#   scripts/gpu_check.sh --no-bench   probe, build, the cuda tests
#
# Steps, each timed, each with its own limit so that the whole run ends well inside ten minutes on a
# 16-core machine: (1) the probe: driver (nvidia-smi), nvcc, cuDNN's version from its header, the
# GPU's name and compute capability; (2) configure and build unetpp::cuda, the cuda tests and the
# GPU benchmark for the GPU's own architecture only (CMAKE_CUDA_ARCHITECTURES=native); (3) ctest -L
# '^cuda$' with skips counted as failures (a GPU machine must run every cuda test); (4)
# bench_unet_gpu: unet_bn<64,4> inference and training at batch 8 of 256x256 and batch 1 of
# 512x512, TF32 off, then on, each case a separate process. Exit status: 0 when every step passed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bench=1
for arg in "$@"; do
    case "$arg" in
        --no-bench) bench=0 ;;
        *) echo "gpu_check.sh: unknown argument '$arg' (--no-bench)" >&2; exit 2 ;;
    esac
done
build="${UNETPP_GPU_BUILD_DIR:-build-gpu}"
out="${OUT:-$build/gpu-check}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"
jobs="$(nproc 2>/dev/null || echo 4)"
status=0
step() {  # step NAME LIMIT_SECONDS COMMAND...: runs it with a time limit, logs it, records a failure
    local name="$1" limit="$2"
    shift 2
    local t0
    t0="$(date +%s)"
    echo "==== gpu_check: $name (limit ${limit}s)"
    timeout "$limit" bash -c "$*" 2>&1 | tee "$out/$name.log"
    local rc="${PIPESTATUS[0]}"
    echo "==== gpu_check: $name: exit $rc after $(( $(date +%s) - t0 ))s" | tee -a "$out/summary.txt"
    [[ "$rc" -eq 0 ]] || status=1
    return "$rc"
}

probe() {
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv ||
        { echo "no nvidia-smi: no NVIDIA driver on this machine"; return 1; }
    local nvcc="${UNETPP_NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
    "$nvcc" --version | tail -2 || { echo "no nvcc at $nvcc"; return 1; }
    local header
    for header in "${CUDNN_ROOT:-/usr/local/cuda}/include/cudnn_version.h" /usr/include/cudnn_version.h \
                  /usr/include/x86_64-linux-gnu/cudnn_version.h; do
        if [[ -f "$header" ]]; then
            grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$header"
            return 0
        fi
    done
    echo "no cudnn_version.h (set CUDNN_ROOT)"
    return 1
}

build_all() {
    local nvcc="${UNETPP_NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DUNETPP_BUILD_TESTS=ON -DUNETPP_WITH_CUDA=ON \
        -DUNETPP_BUILD_BENCH=ON -DUNETPP_BUILD_EXAMPLES=OFF -DUNETPP_BUILD_TOOLS=OFF \
        -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=native &&
        cmake --build "$build" --target unetpp_cuda unetpp_cuda_tests bench_unet_gpu --parallel "$jobs"
}

run_tests() {
    # UNETPP_STRICT_SKIPS=1: a cuda test that skips (no device found) fails here.
    UNETPP_STRICT_SKIPS=1 ctest --test-dir "$build" -L '^cuda$' --output-on-failure --no-tests=error \
        --output-junit "$out/cuda-tests.xml" &&
        ! grep -q '<skipped' "$out/cuda-tests.xml"
}

run_bench() {
    local tf32 args
    for tf32 in "" --tf32; do
        for args in "--mode infer --batch 8 --size 256" "--mode infer --batch 1 --size 512" \
                    "--mode train --batch 8 --size 256" "--mode train --batch 1 --size 512"; do
            # shellcheck disable=SC2086
            "$build/bench/bench_unet_gpu" $args $tf32 | tee -a "$out/bench.jsonl" || return 1
        done
    done
}

export root build out jobs
export -f probe build_all run_tests run_bench
step probe 30 probe || { echo "gpu_check: no usable GPU toolchain; nothing else runs"; exit 1; }
step build 360 build_all || exit 1
step tests 180 run_tests
if [[ "$bench" -eq 1 ]]; then step bench 180 run_bench; fi
echo "gpu_check: results in $out (summary.txt, *.log, cuda-tests.xml, bench.jsonl); exit $status"
exit "$status"
