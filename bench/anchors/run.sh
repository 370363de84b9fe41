#!/usr/bin/env bash
# unetpp against ONNX Runtime, OpenVINO, PyTorch 2 (eager and torch.compile) and PyTorch 1.13
# with OpenBLAS, in one command, alternating rounds in the same run.
#
#   bench/anchors/setup_venv.sh       once: the bench venv (ONNX Runtime, OpenVINO, PyTorch 2, ...)
#   bench/anchors/run.sh              the suite: unet_bn<64,4> and <32,4> inference b1 256², b8 256²,
#                                     b1 512²; ronneberger2015 base 64 and 32 at 572²; training
#                                     b4 256² of both unet_bn, cheapest first (5 rounds). On 2
#                                     cores shared with compiles (load 6-12), --rounds 3 took
#                                     59 minutes
#   bench/anchors/run.sh --quick      2 cases, 2 rounds, 1 warm-up (a try-out, several minutes)
#   bench/anchors/run.sh --cases "unet_bn:32:infer:1:256 unet_bn:64:train:4:256" [--rounds N]
#                        [--runtimes unetpp,ort,openvino,torch2-cl,torch2-compile,torch2,torch113]
#
# Every runtime runs in a process of its own with THREADS threads (default 2: OMP_NUM_THREADS,
# OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, torch.set_num_threads, ORT intra-op threads, OpenVINO
# INFERENCE_NUM_THREADS). Writes bench/results/anchors-<UTC date-time>/ (a new folder; nothing
# is overwritten): anchors.md (tables), anchors.json (every round, versions, settings, memory),
# run.json and cases.jsonl (written as the run goes: after a stop, anchors.py --report-only
# FOLDER writes the report of the cases that ended),
# torch113_blas_profile.json (which BLAS PyTorch 1.13 ran on), logs/ (each runtime's stderr) and
# bin/ (the unetpp binaries, built here with g++ -O3 -march=native, or taken from
# UNETPP_BENCH_BIN).
#
# Environment: UNETPP_BENCH_VENV (default ~/.cache/unetpp/bench-venv), THREADS (default 2), CXX
# (default g++), CUDA_LIB (default /usr/local/cuda/lib64: PyPI's PyTorch is the CUDA build and
# imports only with the CUDA libraries found; no GPU is used), OPENBLAS_DIR (default Debian's
# /usr/lib/x86_64-linux-gnu/openblas-pthread), OPENBLAS_CORETYPE (set automatically where
# OpenBLAS misdetects the CPU), TORCH113_PYTHON (default /usr/bin/python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${UNETPP_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/unetpp/bench-venv}"
threads="${THREADS:-2}"
CXX="${CXX:-g++}"
cuda_lib="${CUDA_LIB:-/usr/local/cuda/lib64}"
openblas_dir="${OPENBLAS_DIR:-/usr/lib/x86_64-linux-gnu/openblas-pthread}"
torch113_python="${TORCH113_PYTHON:-/usr/bin/python3}"

case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;; esac

if [[ ! -x "$venv/bin/python" ]]; then
    echo "anchors/run.sh: no bench venv at $venv; run bench/anchors/setup_venv.sh first" >&2
    exit 1
fi
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
[[ -d "$cuda_lib" ]] && export LD_LIBRARY_PATH="$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! "$venv/bin/python" -c "import torch, onnx, onnxruntime, openvino" 2>/dev/null; then
    echo "anchors/run.sh: the bench venv cannot import torch, onnx, onnxruntime and openvino:" >&2
    "$venv/bin/python" -c "import torch, onnx, onnxruntime, openvino" 2>&1 | tail -3 >&2
    echo "anchors/run.sh: run bench/anchors/setup_venv.sh (and set CUDA_LIB if the CUDA libraries live elsewhere)" >&2
    exit 1
fi

out="$root/bench/results/anchors-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$root/bench/results"
mkdir "$out"  # fails if it exists: a run never writes into another run's folder
mkdir "$out/bin"

# --- unetpp binaries ------------------------------------------------------------------------
cxxflags="-std=c++20 -O3 -DNDEBUG -march=native -fopenmp"
if [[ -n "${UNETPP_BENCH_BIN:-}" ]]; then
    bin="$UNETPP_BENCH_BIN"
    cxxflags="(prebuilt in $bin)"
else
    bin="$out/bin"
    for prog in unet_bench fma_peak; do
        echo "anchors/run.sh: building $bin/$prog" >&2
        # shellcheck disable=SC2086
        if ! "$CXX" $cxxflags -I "$root/include" -I /usr/include/eigen3 "$root/bench/$prog.cpp" \
                -o "$bin/$prog" 2>"$bin/build.log"; then
            echo "anchors/run.sh: building bench/$prog.cpp failed:" >&2
            cat "$bin/build.log" >&2
            exit 1
        fi
    done
fi

# --- PyTorch 1.13 with OpenBLAS instead of the netlib reference BLAS ----------------------------
flags="$(grep -m1 '^flags' /proc/cpuinfo)"
isa="SSE"
[[ $flags == *" avx2 "* ]] && isa="AVX2"
[[ $flags == *" avx512f "* ]] && isa="AVX-512"
torch113_env="{}"
if [[ -e "$openblas_dir/libblas.so.3" ]] && "$torch113_python" -c "import torch" 2>/dev/null; then
    coretype="${OPENBLAS_CORETYPE:-}"
    if [[ -z "$coretype" ]]; then
        # OpenBLAS 0.3.21 takes some newer CPUs for an old core ("Prescott"): then name the
        # kernel family the ISA supports.
        detected="$("$torch113_python" -c "import ctypes; l = ctypes.CDLL('$openblas_dir/libopenblas.so.0'); \
l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())")"
        case "$detected" in
            Prescott|Katmai|Coppermine|Northwood|Banias|Core2|Penryn|Dunnington|Nehalem|Atom|unknown)
                [[ $isa == AVX-512 ]] && coretype=SkylakeX
                [[ $isa == AVX2 ]] && coretype=Haswell
                echo "anchors/run.sh: OpenBLAS detected '$detected' on this $isa CPU; using OPENBLAS_CORETYPE=$coretype" >&2 ;;
        esac
    fi
    torch113_env="$("$venv/bin/python" -c "import json, sys; e = {'LD_LIBRARY_PATH': sys.argv[1], \
'OPENBLAS_NUM_THREADS': sys.argv[2], 'OMP_NUM_THREADS': sys.argv[2]}; e.update({'OPENBLAS_CORETYPE': sys.argv[3]} if sys.argv[3] else {}); \
print(json.dumps(e))" "$openblas_dir" "$threads" "$coretype")"
    echo "anchors/run.sh: checking which BLAS PyTorch 1.13 runs ConvTranspose2d on" >&2
    base=64
    [[ " $* " == *" --quick "* ]] && base=32
    env LD_LIBRARY_PATH="$openblas_dir" OPENBLAS_NUM_THREADS="$threads" ${coretype:+OPENBLAS_CORETYPE=$coretype} \
        "$torch113_python" "$here/blas_profile.py" --base $base --threads "$threads" \
        >"$out/torch113_blas_profile.json" 2>"$out/torch113_blas_profile.log" || true
    if ! grep -q '"openblas_core"' "$out/torch113_blas_profile.json"; then
        echo "anchors/run.sh: PyTorch 1.13 did not load OpenBLAS from $openblas_dir (see $out/torch113_blas_profile.*);" \
             "install libopenblas0-pthread" >&2
        exit 1
    fi
else
    echo "anchors/run.sh: PyTorch 1.13 anchor left out: needs $torch113_python with torch (python3-torch) and" \
         "OpenBLAS in $openblas_dir (libopenblas0-pthread)" >&2
fi

host="$(ROOT="$root" "$venv/bin/python" - "$isa" "$threads" "$cxxflags" "$out/torch113_blas_profile.json" <<'PY'
import json, os, subprocess, sys
isa, threads, cxxflags, prof = sys.argv[1:5]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
run = lambda *c: subprocess.run(c, capture_output=True, text=True).stdout.strip()
h = {"cpu": cpu, "isa": isa, "cores": os.cpu_count(), "threads": int(threads),
     "isa_flags": sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma")),
     "compiler": run(os.environ.get("CXX", "g++"), "--version").splitlines()[0], "cxxflags": cxxflags,
     "git": run("git", "-C", os.environ["ROOT"], "rev-parse", "--short", "HEAD") or "no commit",
     "date": run("date", "-u", "+%Y-%m-%d %H:%M UTC")}
if os.path.exists(prof) and os.path.getsize(prof):
    h["torch113_blas_profile"] = json.loads(open(prof).read().strip().splitlines()[-1])
print(json.dumps(h))
PY
)"

[[ "$torch113_env" == "{}" ]] && set -- "$@" --runtimes unetpp,ort,openvino,torch2-cl,torch2-compile,torch2
ROOT="$root" "$venv/bin/python" "$here/anchors.py" --unet-bench "$bin/unet_bench" --fma-peak "$bin/fma_peak" \
    --threads "$threads" --torch113-python "$torch113_python" --torch113-env "$torch113_env" --host "$host" \
    --out "$out" "$@"
echo "anchors/run.sh: results in $out" >&2
