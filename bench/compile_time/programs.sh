#!/usr/bin/env bash
# Compile cost of the command-line programs (issue 20, item 8: each program's translation unit
# within 60 s and 2 GB at -O2 on the development machine).
#
#   bench/compile_time/programs.sh [BUILD_DIR]     (default ./build, configured by scripts/test.sh)
#
# Compiles each translation unit of the programs (tools/unetpp-<name>.cpp, and the files that
# hold unetpp-train's networks, tools/train_networks_*.cpp) once, -c only, with the definitions and include folders
# the build gives it (read from BUILD_DIR's flags.make) at -O2, and reports wall seconds, CPU
# seconds (user + system) and the compiler's peak resident memory from /usr/bin/time. The
# programs link the separately compiled kernels (UNETPP_SEPARATE_KERNELS), so their TUs hold the
# networks, the trainer and the readers but not the convolution kernels. On a shared machine
# the wall time grows with the load; the CPU time and the memory much less. Writes
# bench/results/compile_time_programs.md; nothing is asserted.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
out="$root/bench/results"
mkdir -p "$out"
CXX="${CXX:-g++}"
if [ ! -x /usr/bin/time ]; then echo "programs.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
report="$out/compile_time_programs.md"
{
    echo "# Compile cost of the programs"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $("$CXX" --version | head -1), -O2, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| translation unit | wall s | CPU s | peak memory MiB |"
    echo "|---|---:|---:|---:|"
} > "$report"
for src in "$root"/tools/unetpp-*.cpp "$root"/tools/train_networks_*.cpp; do
    name="$(basename "$src" .cpp)"
    # the programs' backend::cuda files (--device cuda) are compiled only with UNETPP_WITH_CUDA=ON
    case "$name" in *_cuda*) continue ;; esac
    target="$name"
    case "$name" in train_networks_*) target=unetpp-train ;; esac
    flags="$build/tools/CMakeFiles/$target.dir/flags.make"
    if [ ! -f "$flags" ]; then echo "programs.sh: $flags not found; build $build first" >&2; exit 1; fi
    defines="$(sed -n 's/^CXX_DEFINES = //p' "$flags")"
    includes="$(sed -n 's/^CXX_INCLUDES = //p' "$flags")"
    # the build's flags with -O2 in place of the build type's optimisation level
    cxxflags="$(sed -n 's/^CXX_FLAGS = //p' "$flags" | sed -E 's/(^| )-O[0-3s]( |$)/ /g')"
    eval "set -- $defines $includes $cxxflags"
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$CXX" "$@" -O2 -c "$src" -o "$tmp/$name.o"
    read -r wall user sys kib < "$tmp/time"
    cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')"
    mib="$(awk -v k="$kib" 'BEGIN { printf "%.0f", k / 1024 }')"
    echo "| $(basename "$src") | $wall | $cpu | $mib |" | tee -a "$report"
done
echo "written: $report"
