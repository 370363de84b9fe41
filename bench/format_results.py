#!/usr/bin/python3
"""Formats the raw JSON lines of bench/run.sh into bench/results/latest.json and latest.md.

usage: format_results.py RAW.jsonl OUT.json OUT.md   (machine facts come from the environment
variables run.sh exports: cpu isa cores compiler torch_version when load_start load_end git_rev
elapsed profile threads)

Tables written:
  1. unetpp against PyTorch per case: images/s, ratio, GFLOP/s, peak memory
  2. timing detail: median / min ms, PyTorch idle and peak RSS, load average
  3. 3x3-convolution efficiency of each unetpp case: GFLOP/s of the 3x3 convolutions alone (from
     the profiler: their FLOPs over their time) against the FMA peak measured in the same run
  4. per-operation breakdown of each unetpp case (ms per iteration and share)
"""

import json
import os
import sys

FLOPS_NOTE = (
    "img/s and GFLOP/s use the median time. FLOPs: forward = batch x (sum over conv layers of "
    "2*cin*k*k*cout*oh*ow + sum over transposed convs of 2*cin*cout*k*k*h*w with h, w the input "
    "size); a training step counts 3x the forward; tiled inference counts tiles x one tile's "
    "forward. RSS increase (both sides) is VmHWM after the run minus VmHWM once the model and the "
    "inputs are built (for PyTorch also after torch is imported); the optimiser's moments are "
    "allocated after that point on both sides. unetpp peak RSS is its whole process (ru_maxrss).")


def case_key(r):
    return (r["model"], r["base"], r["mode"], r["batch"], r["size"], r.get("tile", 0), r["threads"])


def case_name(k):
    model, base, mode, batch, size, tile, threads = k
    what = "inference" if mode == "infer" else "train step"
    name = f"{model}<{base},4> {what} b{batch} {size}x{size}"
    if tile:
        name += f" tiled {tile}"
    return name + f", {threads}t"


def ok(r):
    return r is not None and not r.get("failed")


def num(r, field, fmt):
    return fmt.format(r[field]) if ok(r) else "failed"


def main():
    raw, out_json, out_md = sys.argv[1:4]
    env = os.environ
    runs = [json.loads(line) for line in open(raw) if line.strip()]
    peaks = {r["threads"]: r for r in runs if r["impl"] == "fma_peak"}
    machine = {
        "cpu": env["cpu"], "isa": env["isa"], "cores": int(env["cores"]), "compiler": env["compiler"],
        "torch": env["torch_version"], "threads": int(env["threads"]), "date": env["when"],
        "load_avg_start": env["load_start"], "load_avg_end": env["load_end"], "git": env["git_rev"],
        "elapsed_s": int(env["elapsed"]), "profile": env["profile"],
        "fma_peak_gflops_per_s": {str(t): p["gflops_per_s"] for t, p in sorted(peaks.items())},
    }
    with open(out_json, "w") as f:
        f.write(json.dumps({"machine": machine}) + "\n")
        for r in runs:
            if r["impl"] not in ("load", "fma_peak"):
                f.write(json.dumps(r) + "\n")

    order, by = [], {}
    for r in runs:
        if r["impl"] == "fma_peak":
            continue
        k = case_key(r)
        if k not in by:
            order.append(k)
            by[k] = {}
        by[k][r["impl"]] = r

    main_t = ["| case | unetpp img/s | PyTorch img/s | ratio unetpp/PyTorch | unetpp GFLOP/s | PyTorch GFLOP/s "
              "| unetpp RSS increase | PyTorch RSS increase | unetpp peak RSS |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    detail = ["| case | GFLOP per call | unetpp median / min ms | PyTorch median / min ms | PyTorch idle / peak RSS "
              "| load avg at case start |",
              "|---|---:|---:|---:|---:|---:|"]
    eff = ["| case | 3x3 conv passes | their share of the time | their GFLOP/s | % of FMA peak |",
           "|---|---|---:|---:|---:|"]
    ops = []
    for k in order:
        u, t = by[k].get("unetpp"), by[k].get("pytorch")
        name = case_name(k)
        ratio = f"{u['images_per_s'] / t['images_per_s']:.2f}" if ok(u) and ok(t) else "n/a"
        main_t.append(f"| {name} | {num(u, 'images_per_s', '{:.2f}')} | {num(t, 'images_per_s', '{:.2f}')} "
                      f"| {ratio} | {num(u, 'gflops_per_s', '{:.1f}')} | {num(t, 'gflops_per_s', '{:.1f}')} "
                      f"| {num(u, 'rss_increase_mib', '{:.0f} MiB')} | {num(t, 'rss_increase_mib', '{:.0f} MiB')} "
                      f"| {num(u, 'peak_rss_mib', '{:.0f} MiB')} |")
        g = (u if ok(u) else t if ok(t) else {}).get("gflop", float("nan"))
        um = f"{u['median_ms']:.0f} / {u['min_ms']:.0f}" if ok(u) else "failed"
        tm = f"{t['median_ms']:.0f} / {t['min_ms']:.0f}" if ok(t) else "failed"
        tr = f"{t['idle_hwm_mib']:.0f} / {t['peak_rss_mib']:.0f} MiB" if ok(t) else "failed"
        ld = by[k].get("load", {}).get("load1")
        detail.append(f"| {name} | {g:.1f} | {um} | {tm} | {tr} | {ld if ld is not None else 'n/a'} |")

        prof = u.get("profile") if ok(u) else None
        if not prof:
            continue
        total = sum(p["ms_per_iter"] for p in prof)
        conv = [p for p in prof if p["op"].endswith(" 3x3")]
        if conv:
            ms = sum(p["ms_per_iter"] for p in conv)
            gflop = sum(p["gflops_per_s"] * p["ms_per_iter"] * 1e-3 for p in conv if "gflops_per_s" in p)
            rate = gflop / (ms * 1e-3) if ms > 0 else 0.0
            peak = peaks.get(k[6], {}).get("gflops_per_s")
            share = 100.0 * ms / total if total > 0 else 0.0
            passes = ", ".join(p["op"].replace("conv2d_", "").replace(" 3x3", "") for p in conv)
            eff.append(f"| {name} | {passes} | {share:.0f}% | {rate:.1f} | "
                       f"{f'{100.0 * rate / peak:.0f}%' if peak else 'n/a'} |")
        ops.append(f"**{name}** (profiled total {total:.0f} ms per iteration; wall median "
                   f"{u['median_ms']:.0f} ms)")
        ops.append("")
        ops.append("| operation | calls | ms | share | GFLOP/s |")
        ops.append("|---|---:|---:|---:|---:|")
        for p in prof:
            rate = f"{p['gflops_per_s']:.1f}" if "gflops_per_s" in p else ""
            share = 100.0 * p["ms_per_iter"] / total if total > 0 else 0.0
            ops.append(f"| {p['op']} | {p['calls_per_iter']:.0f} | {p['ms_per_iter']:.1f} | {share:.1f}% | {rate} |")
        ops.append("")

    m = machine
    peak_line = ", ".join(f"{t} thread{'s' if t != 1 else ''}: {p['gflops_per_s']:.0f} GFLOP/s"
                          for t, p in sorted(peaks.items()))
    md = ["# unetpp vs PyTorch, end-to-end U-Net", "",
          f"Machine: {m['cpu']} ({m['isa']}), {m['cores']} cores, {m['threads']} threads; {m['compiler']}; "
          f"PyTorch {m['torch']}; {m['date']}; commit {m['git']}; load average {m['load_avg_start']} at start, "
          f"{m['load_avg_end']} at end; run took {m['elapsed_s']} s ({m['profile']} profile).", "",
          f"Measured FMA peak (bench/fma_peak.cpp): {peak_line or 'not measured'}.", "",
          *main_t, "", *detail, "", FLOPS_NOTE, ""]
    if len(eff) > 2:
        md += ["## 3x3 convolutions against the FMA peak", "",
               "GFLOP/s of the 3x3 convolution passes alone (their FLOPs over the time the profiler "
               "measured for them, in separate untimed iterations), against the peak measured above "
               "at the same thread count.", "", *eff, ""]
    if ops:
        md += ["## Per-operation breakdown (unetpp)", "",
               "From unetpp's profiler (backend/profiler.hpp), per iteration. Operations not wrapped "
               "by the profiler (tensor copies, buffer resizes, the loss) are the difference "
               "between the profiled total and the wall time.", "", *ops]
    open(out_md, "w").write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
