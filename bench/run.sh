#!/usr/bin/env bash
# End-to-end U-Net benchmark, unetpp against PyTorch, in one command.
#
#   bench/run.sh            default cases (about 6-8 minutes on a 2-core machine)
#   bench/run.sh --quick    same cases, fewer iterations (a smoke test, about 2 minutes)
#   bench/run.sh --full     default cases plus the base-64 batch-4 training step
#
# Builds bench/unet_bench.cpp directly with g++ (no CMake needed), then runs every case in a
# fresh process, unetpp first and PyTorch right after, so both sides of a case see the same
# machine load. Writes
#   bench/results/latest.json   JSON lines: one "machine" object, then one object per run
#   bench/results/latest.md     the comparison table and the machine line
# Environment: OMP_NUM_THREADS (default 2; also passed to torch.set_num_threads), CXX (default
# g++), PYTHON (default /usr/bin/python3, which must have torch), CASES (override the case list:
# space-separated base:mode:batch:size, e.g. "32:infer:1:256 64:train:4:256").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
results="$here/results"
mkdir -p "$results/bin"

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
CXX="${CXX:-g++}"
PYTHON="${PYTHON:-/usr/bin/python3}"

profile=default
for arg in "$@"; do
    case "$arg" in
        --quick) profile=quick ;;
        --full) profile=full ;;
        -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "run.sh: unknown argument $arg (expected --quick or --full)" >&2; exit 2 ;;
    esac
done

default_cases="32:infer:1:256 64:infer:1:256 32:train:1:256 64:train:1:256 32:train:4:256"
if [[ -n "${CASES:-}" ]]; then
    cases="$CASES"
elif [[ $profile == full ]]; then
    cases="$default_cases 64:train:4:256"
else
    cases="$default_cases"
fi

# Iterations: warm-up calls are untimed (the first one sizes every buffer).
iters_for() {  # mode batch
    if [[ $profile == quick ]]; then echo "--warmup 1 --iters 3"; return; fi
    if [[ $1 == infer ]]; then echo "--warmup 2 --iters 10"; else echo "--warmup 2 --iters 5"; fi
}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "run.sh: $PYTHON cannot import torch; set PYTHON to an interpreter that has it" >&2
    exit 1
fi

# --- build ------------------------------------------------------------------------------------
bin="$results/bin/unet_bench"
echo "run.sh: building $bin" >&2
build_log="$results/bin/build.log"
if ! "$CXX" -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -I "$root/include" -I /usr/include/eigen3 \
        "$here/unet_bench.cpp" -o "$bin" 2>"$build_log"; then
    echo "run.sh: building the unetpp benchmark failed; compiler output:" >&2
    cat "$build_log" >&2
    exit 1
fi

# --- machine line -----------------------------------------------------------------------------
cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
flags="$(grep -m1 '^flags' /proc/cpuinfo)"
isa="SSE"
[[ $flags == *" avx2 "* ]] && isa="AVX2"
[[ $flags == *" avx512f "* ]] && isa="AVX-512"
cores="$(nproc)"
compiler="$("$CXX" --version | head -1)"
torch_version="$("$PYTHON" -c 'import torch; print(torch.__version__)')"
when="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"

raw="$results/latest.raw.jsonl"
: >"$raw"

# --- cases ------------------------------------------------------------------------------------
start=$SECONDS
for c in $cases; do
    IFS=: read -r base mode batch size <<<"$c"
    args="--base $base --mode $mode --batch $batch --size $size $(iters_for "$mode" "$batch")"
    # The machine may be shared: keep the 1-minute load average at the start of each case.
    echo "{\"impl\":\"load\",\"base\":$base,\"mode\":\"$mode\",\"batch\":$batch,\"size\":$size,\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" >>"$raw"
    echo "run.sh: [$((SECONDS - start))s] unet_bn<$base,4> $mode batch $batch ${size}x$size: unetpp" >&2
    # shellcheck disable=SC2086
    if ! "$bin" $args --json "$raw"; then
        echo "{\"impl\":\"unetpp\",\"base\":$base,\"mode\":\"$mode\",\"batch\":$batch,\"size\":$size,\"failed\":true}" >>"$raw"
    fi
    echo "run.sh: [$((SECONDS - start))s] unet_bn<$base,4> $mode batch $batch ${size}x$size: PyTorch" >&2
    # shellcheck disable=SC2086
    if ! "$PYTHON" "$here/torch_unet_bench.py" $args --threads "$OMP_NUM_THREADS" --json "$raw"; then
        echo "{\"impl\":\"pytorch\",\"base\":$base,\"mode\":\"$mode\",\"batch\":$batch,\"size\":$size,\"failed\":true}" >>"$raw"
    fi
done
elapsed=$((SECONDS - start))
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- format -----------------------------------------------------------------------------------
export cpu isa cores compiler torch_version when load_start load_end git_rev elapsed profile
"$PYTHON" - "$raw" "$results/latest.json" "$results/latest.md" <<'EOF'
import json, os, sys

raw, out_json, out_md = sys.argv[1:4]
env = os.environ
machine = {
    "cpu": env["cpu"], "isa": env["isa"], "cores": int(env["cores"]), "compiler": env["compiler"],
    "torch": env["torch_version"], "threads": int(env["OMP_NUM_THREADS"]), "date": env["when"],
    "load_avg_start": env["load_start"], "load_avg_end": env["load_end"], "git": env["git_rev"],
    "elapsed_s": int(env["elapsed"]), "profile": env["profile"],
}
runs = [json.loads(l) for l in open(raw) if l.strip()]
with open(out_json, "w") as f:
    f.write(json.dumps({"machine": machine}) + "\n")
    for r in runs:
        if r["impl"] == "load":
            continue
        f.write(json.dumps(r) + "\n")

def key(r):
    return (r["base"], r["mode"], r["batch"], r["size"])

order, by = [], {}
for r in runs:
    k = key(r)
    if k not in by:
        order.append(k)
        by[k] = {}
    by[k][r["impl"]] = r

def num(r, field, fmt):
    if r is None or r.get("failed"):
        return "failed"
    return fmt.format(r[field])

lines = [
    "| case | unetpp img/s | PyTorch img/s | ratio unetpp/PyTorch | unetpp GFLOP/s | PyTorch GFLOP/s "
    "| unetpp peak RSS | PyTorch RSS increase |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]
detail = [
    "| case | GFLOP per call | unetpp median / min ms | PyTorch median / min ms | PyTorch idle / peak RSS "
    "| load avg at case start |",
    "|---|---:|---:|---:|---:|---:|",
]
for k in order:
    u, t = by[k].get("unetpp"), by[k].get("pytorch")
    base, mode, batch, size = k
    name = f"unet_bn<{base},4> {'inference' if mode == 'infer' else 'train step'} b{batch} {size}x{size}"
    ok = u and t and not u.get("failed") and not t.get("failed")
    ratio = f"{u['images_per_s'] / t['images_per_s']:.2f}" if ok else "n/a"
    lines.append(
        f"| {name} | {num(u, 'images_per_s', '{:.2f}')} | {num(t, 'images_per_s', '{:.2f}')} | {ratio} "
        f"| {num(u, 'gflops_per_s', '{:.1f}')} | {num(t, 'gflops_per_s', '{:.1f}')} "
        f"| {num(u, 'peak_rss_mib', '{:.0f} MiB')} | {num(t, 'rss_increase_mib', '{:.0f} MiB')} |")
    g = (u if u and not u.get("failed") else t or {}).get("gflop", float("nan"))
    um = "failed" if not u or u.get("failed") else f"{u['median_ms']:.0f} / {u['min_ms']:.0f}"
    tm = "failed" if not t or t.get("failed") else f"{t['median_ms']:.0f} / {t['min_ms']:.0f}"
    tr = "failed" if not t or t.get("failed") else f"{t['idle_hwm_mib']:.0f} / {t['peak_rss_mib']:.0f} MiB"
    ld = by[k].get("load", {}).get("load1")
    detail.append(f"| {name} | {g:.1f} | {um} | {tm} | {tr} | {ld if ld is not None else 'n/a'} |")

m = machine
md = [
    "# unetpp vs PyTorch, end-to-end U-Net",
    "",
    f"Machine: {m['cpu']} ({m['isa']}), {m['cores']} cores, {m['threads']} threads; {m['compiler']}; "
    f"PyTorch {m['torch']}; {m['date']}; load average {m['load_avg_start']} at start, "
    f"{m['load_avg_end']} at end; run took {m['elapsed_s']} s ({m['profile']} profile).",
    "",
    *lines,
    "",
    *detail,
    "",
    "img/s and GFLOP/s use the median time. FLOPs: forward = batch x (sum over conv layers of "
    "2*cin*k*k*cout*oh*ow + sum over transposed convs of 2*cin*cout*k*k*h*w with h, w the input "
    "size); a training step counts 3x the forward. unetpp peak RSS is the whole process "
    "(ru_maxrss); PyTorch RSS increase is VmHWM after the run minus VmHWM once torch is imported "
    "and the model is built.",
    "",
]
open(out_md, "w").write("\n".join(md))
print("\n".join(md))
EOF
rm -f "$raw"
echo "run.sh: wrote $results/latest.json and $results/latest.md" >&2
