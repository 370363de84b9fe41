#!/usr/bin/env bash
# Installs what bench/anchors/run.sh compares unetpp with. Tests never need any of it.
#
#   bench/anchors/setup_venv.sh     idempotent; prints what it found or installed
#
# 1. The bench venv (UNETPP_BENCH_VENV, default ~/.cache/unetpp/bench-venv, made with
#    /usr/bin/python3 -m venv, no system site packages) with pinned ONNX Runtime, OpenVINO, onnx,
#    numpy and PyTorch 2. PyPI's Linux x86_64 torch wheel is the CUDA build; on a CPU-only machine
#    it is installed with --no-deps, plus its pure-Python dependencies and the CUDA libraries it
#    links against. Where the CUDA toolkit is installed (CUDA_LIB, default /usr/local/cuda/lib64,
#    with libcudart.so.13), four wheels suffice: the libraries that toolkit lacks (cuFile,
#    cuSPARSELt, NVSHMEM) and an NCCL new enough for this torch (the toolkit's libnccl.so.2 lacks
#    ncclCommResume). run.sh puts CUDA_LIB on LD_LIBRARY_PATH. Without the toolkit, the script
#    installs the CUDA runtime wheels torch names (cuda-toolkit extras and cuDNN, about 3 GB);
#    that path was not tried on the machine this was written on, which has the toolkit.
#    No GPU is used either way: the wheel only has to import.
# 2. Debian's PyTorch 1.13 (python3-torch) and OpenBLAS (libopenblas0-pthread), when run as
#    root. Installing OpenBLAS makes it the system's libblas.so.3 through update-alternatives;
#    this script puts the alternatives back to what they were, because run.sh gives OpenBLAS to
#    PyTorch 1.13 through LD_LIBRARY_PATH and nothing else on the machine should change BLAS
#    behind its users' backs.
#
# On failure, a venv that this run created is removed (only that).
set -Eeuo pipefail

venv="${UNETPP_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/unetpp/bench-venv}"
cuda_lib="${CUDA_LIB:-/usr/local/cuda/lib64}"

runtime_pins=(numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 openvino==2026.4.1)
torch_pin=torch==2.15.0
# torch 2.15.0's own requirements (its METADATA), pinned to the versions tried together.
torch_python_deps=(filelock==4.3.2 typing-extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1
                   jinja2==3.1.6 markupsafe==3.0.4 fsspec==2026.9.0)
# The minimal set found by trying: `import torch` failed on libcufile.so.0, libcusparseLt.so.0,
# libnvshmem_host.so.3, then on ncclCommResume, each fixed by one of these.
torch_cuda_wheels=(nvidia-cufile==1.17.1.22 nvidia-cusparselt-cu13==0.8.1 nvidia-nvshmem-cu13==3.7.2
                   nvidia-nccl-cu13==2.30.7)
# Without a CUDA 13 toolkit: what torch 2.15.0 itself requires.
torch_cuda_runtime=("cuda-toolkit[cublas,cudart,cufft,cufile,cupti,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.2.2"
                    nvidia-cudnn-cu13==9.26.0.51)

check="import numpy, onnx, onnxruntime, openvino, torch
assert onnxruntime.__version__ == '${runtime_pins[2]#onnxruntime==}', onnxruntime.__version__
assert torch.__version__.split('+')[0] == '${torch_pin#torch==}', torch.__version__
print('torch', torch.__version__, 'onnxruntime', onnxruntime.__version__, 'openvino', openvino.get_version(), 'onnx', onnx.__version__)"

have_toolkit=0
[[ -e "$cuda_lib/libcudart.so.13" ]] && have_toolkit=1
lib_path="${LD_LIBRARY_PATH:-}"
[[ $have_toolkit == 1 ]] && lib_path="$cuda_lib${lib_path:+:$lib_path}"

if [[ -x "$venv/bin/python" ]] && LD_LIBRARY_PATH="$lib_path" "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "setup_venv: bench venv present ($venv): $(LD_LIBRARY_PATH="$lib_path" "$venv/bin/python" -c "$check")"
else
    created=0
    [[ -e "$venv" ]] || created=1
    cleanup() { [[ $created == 1 ]] && rm -rf "$venv"; echo "setup_venv: failed; $([[ $created == 1 ]] && echo "removed $venv" || echo "left $venv as it was before plus what pip installed")" >&2; }
    trap cleanup ERR
    pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 60 --retries 2 "$@"; }
    mkdir -p "$(dirname "$venv")"
    [[ -x "$venv/bin/python" ]] || /usr/bin/python3 -m venv "$venv"
    echo "setup_venv: installing ${runtime_pins[*]} into $venv"
    pip_install "${runtime_pins[@]}"
    echo "setup_venv: installing $torch_pin (--no-deps) and ${torch_python_deps[*]}"
    pip_install "${torch_python_deps[@]}"
    pip_install --no-deps "$torch_pin"
    if [[ $have_toolkit == 1 ]]; then
        echo "setup_venv: CUDA toolkit in $cuda_lib; installing ${torch_cuda_wheels[*]} (--no-deps)"
        pip_install --no-deps "${torch_cuda_wheels[@]}"
    else
        echo "setup_venv: no libcudart.so.13 in $cuda_lib; installing the CUDA runtime wheels torch requires (about 3 GB)"
        pip_install "${torch_cuda_runtime[@]}" "${torch_cuda_wheels[@]}"
    fi
    LD_LIBRARY_PATH="$lib_path" "$venv/bin/python" -c "$check"
    trap - ERR
    echo "setup_venv: bench venv ready ($venv)"
fi

# --- PyTorch 1.13 from Debian, with OpenBLAS ----------------------------------------------------
debs=()
dpkg -s python3-torch >/dev/null 2>&1 || debs+=(python3-torch)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || debs+=(libopenblas0-pthread)
if [[ ${#debs[@]} -eq 0 ]]; then
    echo "setup_venv: python3-torch and libopenblas0-pthread present"
elif [[ "$(id -u)" -ne 0 ]]; then
    echo "setup_venv: missing Debian packages ${debs[*]}; as root: apt-get install --no-install-recommends ${debs[*]}" \
         "(the PyTorch 1.13 anchor is left out until then)" >&2
else
    alts=(libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu)
    declare -A before
    for a in "${alts[@]}"; do before[$a]="$(readlink "/etc/alternatives/$a" 2>/dev/null || true)"; done
    echo "setup_venv: installing ${debs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${debs[@]}"
    for a in "${alts[@]}"; do
        now="$(readlink "/etc/alternatives/$a" 2>/dev/null || true)"
        if [[ -n "${before[$a]}" && "$now" != "${before[$a]}" ]]; then
            update-alternatives --set "$a" "${before[$a]}"
            echo "setup_venv: $a kept at ${before[$a]} (run.sh loads OpenBLAS through LD_LIBRARY_PATH)"
        fi
    done
fi
