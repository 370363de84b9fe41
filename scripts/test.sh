#!/usr/bin/env bash
# Build unetpp in ./build (Release) and run its tests.
#
#   scripts/test.sh                 all tests
#   scripts/test.sh -L unit         any extra arguments go to ctest (-L/-LE labels, -R regex, ...)
#
# Labels: unit, parity, static, compile_fail, package, slow, data, cuda (see README.md).
# UNETPP_BUILD_DIR overrides the build directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build_dir="${UNETPP_BUILD_DIR:-build}"
jobs="$(nproc 2>/dev/null || echo 2)"

scripts/install_deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DUNETPP_BUILD_TESTS=ON
cmake --build "$build_dir" --parallel "$jobs"
ctest --test-dir "$build_dir" --output-on-failure --parallel "$jobs" "$@"
