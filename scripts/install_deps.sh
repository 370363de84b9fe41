#!/usr/bin/env bash
# Install what unetpp needs to build, test and run its demo. scripts/test.sh runs it first.
#
# Idempotent: asks dpkg which packages are missing and runs apt-get only for those, and checks
# the Python environments before touching them, so a second run changes nothing. Uses sudo only
# when not root and sudo exists.
#
# Debian packages: the compiler and libraries (cmake g++ make libeigen3-dev libxsimd-dev
# doctest-dev libstb-dev libjpeg62-turbo-dev), clang with its OpenMP, libFuzzer and sanitizer
# runtimes for the fuzz stage of scripts/test.sh (clang libomp-dev libclang-rt-14-dev),
# python3-torch for the PyTorch parity tests (UNETPP_NO_TORCH=1 leaves it out), python3-venv, and
# chromium, in which tools_report renders the HTML run report headless.
#
# OpenMPI (libopenmpi-dev openmpi-bin) for the mpi stage of scripts/test.sh: the data-parallel
# tests (label mpi, UNETPP_WITH_MPI=ON, docs/DISTRIBUTED.md) run under mpirun. UNETPP_NO_MPI=1
# leaves it out.
#
# The test virtual environment, used by the ONNX interop tests and tools_report (tests find it
# there and never install anything themselves):
#
#   ${XDG_CACHE_HOME:-~/.cache}/unetpp/test-venv          (UNETPP_TEST_VENV overrides)
#
# made with `/usr/bin/python3 -m venv --system-site-packages` (Debian's python3-torch and numpy
# stay visible) and holding the pinned onnx, onnxruntime and tensorboard below. UNETPP_NO_ONNX=1
# leaves it out.
#
# Conan 2 (used only by the packaging test package_conan) is installed with pip into its own
# virtual environment, never into the system Python:
#
#   ${XDG_CACHE_HOME:-~/.cache}/unetpp/conan-venv/bin/conan      (UNETPP_CONAN_VENV overrides)
#
# UNETPP_NO_CONAN=1 leaves it out.
#
# pydicom and nibabel (pinned below) go into the test venv too: they write the DICOM and NIfTI
# files of unit_io_medical (tests/unit/io/make_medical_files.py), independently of GDCM and
# nifticlib.
#
# Failures: a Python package that cannot be installed (PyPI unreachable, ...) is reported with a
# banner on stderr. Under CI=true or UNETPP_STRICT_SKIPS=1 the script then exits 1, because the
# tests that need the package would otherwise only skip; elsewhere it goes on and those tests
# report themselves as skipped, naming this script.
set -euo pipefail

# Pinned versions of the test venv's packages (wheels exist for Debian 12's Python 3.11; numpy
# stays below 2 so that the venv keeps Debian's numpy 1.24, which python3-torch is built against).
onnx_pins=("onnx==1.17.0" "onnxruntime==1.20.1" "numpy<2")
# tensorboard reads back the event files of unetpp-train --tensorboard (tests/tools/report.cmake).
tensorboard_pin="tensorboard==2.18.0"

packages=(cmake g++ make libeigen3-dev libxsimd-dev doctest-dev libstb-dev libjpeg62-turbo-dev
          clang libomp-dev libclang-rt-14-dev python3-venv chromium)
# GDCM and nifticlib: the DICOM and NIfTI readers of unetpp::medical (io/medical.hpp).
packages+=(libgdcm-dev libnifti2-dev)
if [[ "${UNETPP_NO_MPI:-0}" != "1" ]]; then
    packages+=(libopenmpi-dev openmpi-bin)
fi
if [[ "${UNETPP_NO_TORCH:-0}" != "1" ]]; then
    packages+=(python3-torch)
fi

strict=0
case "${UNETPP_STRICT_SKIPS:-}" in
    1) strict=1 ;;
    0) strict=0 ;;
    *) case "${CI:-}" in ""|0|false|FALSE|False|no) ;; *) strict=1 ;; esac ;;
esac

# Reports a Python package that could not be installed: fatal in strict mode, a banner otherwise.
python_install_failed() {
    local what="$1" consequence="$2"
    {
        echo "install_deps: ======================================================================"
        echo "install_deps: ERROR: could not install $what (is PyPI reachable?)"
        echo "install_deps: $consequence"
        echo "install_deps: ======================================================================"
    } >&2
    if [[ "$strict" == "1" ]]; then
        echo "install_deps: CI=true / UNETPP_STRICT_SKIPS=1: failing instead of letting the tests skip" >&2
        exit 1
    fi
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install_deps: dpkg-query not found; not a Debian-based system." >&2
    echo "install_deps: install these by hand: ${packages[*]}" >&2
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

# Conan 2 in a virtual environment (best effort, see the top of this file).
install_conan() {
    [[ "${UNETPP_NO_CONAN:-0}" == "1" ]] && return 0
    local venv="${UNETPP_CONAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/unetpp/conan-venv}"
    if [[ -x "$venv/bin/conan" ]] && "$venv/bin/conan" --version 2>/dev/null | grep -q 'version 2\.'; then
        echo "install_deps: conan present ($("$venv/bin/conan" --version) in $venv)"
        return 0
    fi
    local py=""
    for candidate in /usr/bin/python3 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then
            py="$candidate"
            break
        fi
    done
    if [[ -z "$py" ]]; then
        python_install_failed "conan (no python3 with venv/ensurepip; Debian: python3-venv)" \
            "the Conan packaging test will be skipped"
        return 0
    fi
    echo "install_deps: installing conan 2 into $venv"
    local created=0
    [[ -e "$venv" ]] || created=1
    if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
               --timeout 30 "conan>=2,<3"; }; then
        [[ "$created" == "1" ]] && rm -rf "$venv"   # only what this run created
        python_install_failed "conan 2 into $venv" "the Conan packaging test will be skipped"
        return 0
    fi
    echo "install_deps: $("$venv/bin/conan" --version) installed in $venv"
}

# The test venv with onnx and onnxruntime (see the top of this file).
install_test_venv() {
    [[ "${UNETPP_NO_ONNX:-0}" == "1" ]] && return 0
    local venv="${UNETPP_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/unetpp/test-venv}"
    local check="import onnx, onnxruntime, numpy; assert onnx.__version__ == '${onnx_pins[0]#onnx==}', onnx.__version__; \
assert onnxruntime.__version__ == '${onnx_pins[1]#onnxruntime==}', onnxruntime.__version__; \
import tensorboard; assert tensorboard.__version__ == '${tensorboard_pin#tensorboard==}', tensorboard.__version__"
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
        echo "install_deps: test venv present ($venv: ${onnx_pins[0]}, ${onnx_pins[1]}, $tensorboard_pin)"
        return 0
    fi
    local created=0
    [[ -e "$venv" ]] || created=1
    echo "install_deps: installing ${onnx_pins[*]} $tensorboard_pin into the test venv $venv"
    mkdir -p "$(dirname "$venv")"
    if ! { { [[ -x "$venv/bin/python" ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"; } &&
           "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 30 --retries 2 \
               "${onnx_pins[@]}" "$tensorboard_pin" &&
           "$venv/bin/python" -c "$check"; }; then
        [[ "$created" == "1" ]] && rm -rf "$venv"   # only what this run created
        python_install_failed "${onnx_pins[*]} $tensorboard_pin into $venv" \
            "the ONNX interop tests (parity_interop_onnx*) and the TensorBoard part of tools_report will be skipped"
        return 0
    fi
    echo "install_deps: test venv ready ($venv)"
}

# pydicom and nibabel in the test venv (see the top of this file), once install_test_venv made it.
medical_pins=("pydicom==2.4.4" "nibabel==5.3.2")
install_medical_pins() {
    [[ "${UNETPP_NO_ONNX:-0}" == "1" ]] && return 0
    local venv="${UNETPP_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/unetpp/test-venv}"
    [[ -x "$venv/bin/python" ]] || return 0   # install_test_venv has reported why there is none
    local check="import pydicom, nibabel; assert pydicom.__version__ == '${medical_pins[0]#pydicom==}', pydicom.__version__; \
assert nibabel.__version__ == '${medical_pins[1]#nibabel==}', nibabel.__version__"
    if "$venv/bin/python" -c "$check" 2>/dev/null; then
        echo "install_deps: test venv has ${medical_pins[*]}"
        return 0
    fi
    echo "install_deps: installing ${medical_pins[*]} into the test venv $venv"
    if ! { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 30 --retries 2 \
               "${medical_pins[@]}" && "$venv/bin/python" -c "$check"; }; then
        python_install_failed "${medical_pins[*]} into $venv" "the DICOM/NIfTI test unit_io_medical will be skipped"
    fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_deps: all packages present (${packages[*]})"
    install_test_venv
    install_medical_pins
    install_conan
    exit 0
fi

as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "install_deps: missing packages (${missing[*]}), and this is neither root nor has sudo." >&2
        exit 1
    fi
fi

echo "install_deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
install_test_venv
install_medical_pins
install_conan
