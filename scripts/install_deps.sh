#!/usr/bin/env bash
# Install the Debian/Ubuntu packages unetpp needs to build, test and run its demo.
#
# Idempotent: asks dpkg which packages are missing and runs apt-get only for those, so a second
# run does nothing. Set UNETPP_NO_TORCH=1 to skip python3-torch (only the parity tests use it;
# they skip themselves without it). Uses sudo only when not root and sudo exists.
#
# Conan 2 (used only by the packaging test package_conan, which skips itself without it) is
# installed with pip into a virtual environment, never into the system Python:
#
#   ${XDG_CACHE_HOME:-~/.cache}/unetpp/conan-venv/bin/conan      (UNETPP_CONAN_VENV overrides)
#
# The tests find it there. Set UNETPP_NO_CONAN=1 to skip it. It is best effort: when PyPI cannot
# be reached the script warns and goes on, and the Conan test then reports itself as skipped.
set -euo pipefail

packages=(cmake g++ make libeigen3-dev libxsimd-dev doctest-dev libstb-dev)
if [[ "${UNETPP_NO_TORCH:-0}" != "1" ]]; then
    packages+=(python3-torch)
fi
if [[ "${UNETPP_NO_CONAN:-0}" != "1" ]]; then
    packages+=(python3-venv)   # Debian's python3 needs it to create the conan virtual environment
fi

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
        echo "install_deps: warning: no python3 with venv/ensurepip (Debian: python3-venv); conan not installed," \
             "the Conan packaging test will be skipped" >&2
        return 0
    fi
    echo "install_deps: installing conan 2 into $venv"
    if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
               --timeout 30 "conan>=2,<3"; }; then
        echo "install_deps: warning: could not install conan (is PyPI reachable?);" \
             "the Conan packaging test will be skipped" >&2
        rm -rf "$venv"
        return 0
    fi
    echo "install_deps: $("$venv/bin/conan" --version) installed in $venv"
}

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_deps: all packages present (${packages[*]})"
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
install_conan
