#!/usr/bin/env bash
# Checks that bench/fma_peak.cpp keeps every FMA accumulator in a register: builds it for AVX2
# (-mavx2 -mfma) and, where the compiler can, for AVX-512 (-mavx512f), disassembles fma_loop and
# looks for stack traffic ((%rsp) or (%rbp) operands) between the loop's head and its backward
# branch. A spilled accumulator adds a load and a store to every iteration, and the "peak" then
# measures memory traffic instead of the FMA units.
#
#   bench/fma_peak_asm_check.sh            exit 0: no spill in any build; 1: a spill (listed)
# Environment: CXX (default g++). Builds into a temporary folder that it removes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
CXX="${CXX:-g++}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
for flags in "-mavx2 -mfma" "-mavx512f -mavx512vl -mavx512dq -mavx512bw -mfma"; do
    name="$(echo "$flags" | cut -d' ' -f1 | tr -d -)"
    "$CXX" -std=c++20 -O3 -DNDEBUG $flags -fopenmp -I "$root/include" "$here/fma_peak.cpp" -o "$tmp/$name"
    objdump -d --no-show-raw-insn -C "$tmp/$name" >"$tmp/$name.s"
    # fma_loop is [[gnu::noinline]] so it has a symbol of its own. Its hot loop: the instructions
    # from the target of its last backward branch up to that branch.
    report="$(python3 - "$tmp/$name.s" <<'PY'
import re, sys
body, on = [], False
for line in open(sys.argv[1]):
    if re.search(r"<\(anonymous namespace\)::fma_loop\(long, float\)>:$", line):
        on = True
        continue
    if on and not line.strip():
        break
    if on:
        m = re.match(r"\s*([0-9a-f]+):\s*(.*)", line)
        if m:
            body.append((int(m.group(1), 16), m.group(2).strip()))
if not body:
    sys.exit("fma_loop not found")
loop = None
for i, (at, ins) in enumerate(body):
    m = re.match(r"j\w+\s+([0-9a-f]+)", ins)
    if m and int(m.group(1), 16) < at:
        loop = [x for a, x in body[: i + 1] if a >= int(m.group(1), 16)]
if loop is None:
    sys.exit("no loop found in fma_loop")
fmas = sum("vfmadd" in x for x in loop)
spills = [x for x in loop if re.search(r"\((%rsp|%rbp)", x)]
print(f"{len(loop)} {fmas} {len(spills)}")
for x in spills:
    print("    " + x)
PY
)"
    read -r n fmas nspill <<<"$(head -1 <<<"$report")"
    echo "fma_peak_asm_check: $name: hot loop of $n instructions, $fmas FMAs, $nspill stack operands"
    spills="$(tail -n +2 <<<"$report")"
    if [[ -n "$spills" ]]; then
        echo "$spills" | sed 's/^/    /'
        status=1
    fi
done
exit $status
