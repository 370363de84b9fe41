#!/usr/bin/env bash
# Build the demo and train a small U-Net on the built-in synthetic data set for about a
# minute, then write its predicted masks to ./demo_out.
#
# UNETPP_BUILD_DIR overrides the build directory, UNETPP_DEMO_SECONDS the training time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build_dir="${UNETPP_BUILD_DIR:-build}"
seconds="${UNETPP_DEMO_SECONDS:-60}"
out_dir="demo_out"
jobs="$(nproc 2>/dev/null || echo 2)"

scripts/install_deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --parallel "$jobs" --target unetpp_demo

# --overwrite: a second run replaces the files of the first (sample_XX.png, mask_XX.png) and
# nothing else that demo_out may hold
"$build_dir/examples/unetpp_demo" --out "$out_dir" --seconds "$seconds" --overwrite

echo
echo "Predicted masks are in $root/$out_dir"
