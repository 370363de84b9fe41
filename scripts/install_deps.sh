#!/usr/bin/env bash
# Install the Debian/Ubuntu packages unetpp needs to build, test and run its demo.
#
# Idempotent: asks dpkg which packages are missing and runs apt-get only for those, so a second
# run does nothing. Set UNETPP_NO_TORCH=1 to skip python3-torch (only the parity tests use it;
# they skip themselves without it). Uses sudo only when not root and sudo exists.
set -euo pipefail

packages=(cmake g++ make libeigen3-dev libxsimd-dev doctest-dev libstb-dev)
if [[ "${UNETPP_NO_TORCH:-0}" != "1" ]]; then
    packages+=(python3-torch)
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

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_deps: all packages present (${packages[*]})"
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
