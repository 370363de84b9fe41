#!/usr/bin/env bash
# Compile time of the presets (issue: one TU with every preset; a single preset's TU under 20 s).
#
#   bench/compile_time/run.sh            every preset alone, then all together
#   PRESETS="2 4" bench/compile_time/run.sh   only these (numbers as in presets_tu.cpp; 11: headers only)
#
# Compiles bench/compile_time/presets_tu.cpp with g++ -std=c++20 -O2 -march=native -fopenmp
# (-c, no linking) once per preset and once with all of them, in both build modes:
#   header-only            every kernel compiled in the TU (the default way to use unetpp)
#   with unetpp::kernels   -DUNETPP_SEPARATE_KERNELS: the TU sees only the kernels' declarations;
#                          the kernels are compiled once, in src/kernels.cpp (its own row)
# and reports wall seconds and CPU seconds (user + system, from /usr/bin/time). On a shared
# machine the wall time grows with the load; the CPU time much less, so both are reported.
# Writes bench/results/compile_time.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/bench/results"
mkdir -p "$out"
CXX="${CXX:-g++}"
names=("every preset" "ronneberger2015" "unet_bn<64, 4>" "unet_cbr<64, 4>" "bcir_unet" "residual_multitask_unet<256>"
       "attention_unet" "unet_plusplus<32, 4>" "unet_plusplus_ds<32, 4>" "deeply_supervised<unet_cbr<64, 4>>" "busi_stage_classifier (one hierarchical stage)"
       "the headers alone (nothing instantiated)")
presets="${PRESETS:-11 1 2 3 4 5 6 7 8 9 10 0}"
if [ ! -x /usr/bin/time ]; then echo "compile_time: needs /usr/bin/time (apt-get install time)" >&2; exit 1; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
md="$out/compile_time.md"
flags=(-std=c++20 -O2 -march=native -fopenmp -I "$root/include" -I /usr/include/eigen3)
# compile <label> <output.o> <args...>: one compile, one table row (wall, CPU, memory).
compile() {
    local label="$1" obj="$2"
    shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/t" "$CXX" "${flags[@]}" "$@" -c -o "$tmp/$obj"
    read -r wall user sys kib <"$tmp/t"
    printf '| %.1f | %.1f | %d MiB ' "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" $((kib / 1024))
    echo "compile_time: $label: $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') s CPU" >&2
}
{
    echo "Compile time, \`$CXX -std=c++20 -O2 -march=native -fopenmp -c\` ($("$CXX" --version | head -1)), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg) at start:"
    echo
    echo "| translation unit | header-only: wall s | CPU s | memory | with unetpp::kernels: wall s | CPU s | memory |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
} >"$md"
for k in $presets; do
    {
        printf '| %s ' "${names[$k]}"
        compile "${names[$k]}, header-only" "p$k.o" -DUNETPP_PRESET="$k" "$here/presets_tu.cpp"
        compile "${names[$k]}, with unetpp::kernels" "s$k.o" -DUNETPP_SEPARATE_KERNELS -DUNETPP_PRESET="$k" "$here/presets_tu.cpp"
        echo "|"
    } >>"$md"
done
{
    printf '| src/kernels.cpp (the unetpp::kernels library, compiled once) | | | '
    compile "src/kernels.cpp" kernels.o -DUNETPP_SEPARATE_KERNELS "$root/src/kernels.cpp"
    echo "|"
} >>"$md"
cat "$md"
