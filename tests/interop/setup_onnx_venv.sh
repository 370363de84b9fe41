#!/bin/sh
# Creates (or reuses) the Python virtual environment the ONNX interop tests run onnx and
# onnxruntime in:
#
#   tests/interop/setup_onnx_venv.sh [VENV_DIR]        default VENV_DIR: build/interop-venv
#
# The venv is made with /usr/bin/python3 -m venv --system-site-packages, so the system's PyTorch
# stays importable next to the packages installed from PyPI (onnx, onnxruntime, numpy).
#
# Idempotent: when VENV_DIR/bin/python already imports onnx and onnxruntime the script exits 0
# at once. When PyPI cannot be reached the script writes VENV_DIR.unavailable and exits 1; later
# runs then exit 1 at once without trying the network again, until that file is deleted or
# UNETPP_INTEROP_RETRY=1 is set. It never touches anything outside VENV_DIR. Concurrent runs
# (ctest starts several tests at once) are serialised with flock when it is installed.
set -u

venv="${1:-build/interop-venv}"
python="${UNETPP_SYSTEM_PYTHON:-/usr/bin/python3}"
marker="${venv}.unavailable"

have_packages() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import onnx, onnxruntime, numpy" >/dev/null 2>&1
}

if have_packages; then
    exit 0
fi
if [ -f "$marker" ] && [ "${UNETPP_INTEROP_RETRY:-0}" != "1" ]; then
    echo "setup_onnx_venv: an earlier attempt failed ($marker exists); set UNETPP_INTEROP_RETRY=1 to retry" >&2
    exit 1
fi

mkdir -p "$(dirname "$venv")" || exit 1

# Serialise with other runs: the second one waits, then finds the packages installed.
if [ -z "${UNETPP_INTEROP_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
    UNETPP_INTEROP_LOCKED=1 exec flock "${venv}.lock" "$0" "$venv"
fi
if have_packages; then
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -m venv --system-site-packages "$venv"; then
        echo "setup_onnx_venv: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        echo "venv creation failed" >"$marker"
        exit 1
    fi
fi

# A short timeout and few retries: offline machines should fail fast, not hang the tests.
if "$venv/bin/python" -m pip install --disable-pip-version-check --timeout 30 --retries 1 \
        onnx onnxruntime numpy; then
    if have_packages; then
        rm -f "$marker"
        exit 0
    fi
fi
echo "setup_onnx_venv: could not install onnx and onnxruntime from PyPI; the ONNX runtime tests will skip" >&2
echo "pip install failed" >"$marker"
exit 1
