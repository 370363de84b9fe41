"""Writes anchors.json and anchors.md for anchors.py (never over an existing file)."""

import json
import os

ORDER = ["unetpp", "ort", "openvino", "torch2-compile", "torch2-cl", "torch2", "torch113"]


def _ok(r):
    return r is not None and r.get("error") is None and "images_per_s" in r


def _fmt(v):
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def ratio(res):
    """unetpp's median img/s over the best other runtime's median img/s, and that runtime."""
    rts = res["runtimes"]
    if not _ok(rts.get("unetpp")):
        return None, None
    others = [(r["images_per_s"], n) for n, r in rts.items() if n != "unetpp" and _ok(r)]
    if not others:
        return None, None
    best, who = max(others)
    return rts["unetpp"]["images_per_s"] / best, who


def memory_lowest(res):
    """unetpp's RSS increase against the lowest of the other runtimes (None if unknown)."""
    rts = res["runtimes"]
    mem = {n: r["memory"]["rss_increase_mib"] for n, r in rts.items() if r.get("memory")}
    if "unetpp" not in mem or len(mem) < 2:
        return None, None
    lowest, who = min((v, n) for n, v in mem.items() if n != "unetpp")
    return mem["unetpp"] / lowest, who


def write_reports(outdir, host, settings, results):
    used = [n for n in ORDER if any(n in r["runtimes"] for r in results)]
    labels = {}
    for res in results:
        for n, r in res["runtimes"].items():
            labels[n] = r["label"]
    peak = host["fma_peak"]["gflops_per_s"]
    doc = {"host": host, "settings": settings, "cases": results}
    for res in results:
        q, who = ratio(res)
        res["unetpp_over_best"] = q
        res["best_other"] = who
        m, mwho = memory_lowest(res)
        res["unetpp_memory_over_lowest"] = m
        res["lowest_memory_other"] = mwho
    js = os.path.join(outdir, "anchors.json")
    with open(js, "x") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    L = []
    L.append("# unetpp against the runtimes users deploy with\n")
    L.append(f"- host: {host.get('cpu', '?')}, {host.get('isa', '?')}, {host.get('cores', '?')} cores; "
             f"{settings['threads']} threads everywhere")
    L.append(f"- unetpp {host.get('git', '?')}, {host.get('compiler', '?')}, flags `{host.get('cxxflags', '?')}`")
    L.append(f"- FMA peak ({host['fma_peak'].get('isa', '?')}, {host['fma_peak']['lanes']} lanes x "
             f"{host['fma_peak']['chains']} chains, {host['fma_peak']['threads']} threads): {peak:.1f} GFLOP/s")
    L.append(f"- load at start: `{host['uptime_start']}`")
    L.append(f"- load at end: `{host['uptime_end']}`")
    L.append(f"- {settings['rounds']} alternating rounds per case after {settings['warmup']} warm-up iterations; "
             f"elapsed {host['elapsed_s']} s; PyTorch 1.13 environment: {settings['torch113_env']}")
    if "stopped_after_cases" in settings:
        L.append(f"- **stopped part-way**: {settings['stopped_after_cases']} of {len(settings.get('cases', []))} cases ran")
    L.append(f"- ISA flags: {' '.join(host.get('isa_flags', []))}")
    prof = host.get("torch113_blas_profile")
    if prof:
        L.append(f"- PyTorch 1.13 BLAS check (profile of one unet_bn<{prof['base']},4> forward at {prof['size']}²): "
                 f"aten::slow_conv_transpose2d {prof['slow_conv_transpose2d_ms']} ms of "
                 f"{prof['forward_self_cpu_ms']} ms; OpenBLAS core {prof.get('openblas_core', 'none')}; "
                 f"BLAS libraries {', '.join(os.path.basename(x) for x in prof['blas_libraries'])}")
    L.append("")
    L.append("## Anchors\n")
    L.append("| runtime | version | precision | settings |")
    L.append("|---|---|---|---|")
    for n in used:
        info = next((r["runtimes"][n]["info"] for r in results if n in r["runtimes"] and r["runtimes"][n]["info"]), {})
        ver = info.get("version", host.get("git", "") if n == "unetpp" else "?")
        if n == "unetpp" and "prebuilt" in str(host.get("cxxflags", "")):
            ver += " (HEAD at the run; the binary was prebuilt, possibly from older sources)"
        setting = info.get("settings", f"OMP_NUM_THREADS={settings['threads']}" if n == "unetpp" else "")
        if info.get("openblas_config"):
            setting += f"; {info['openblas_config']} (core {info['openblas_core']})"
        L.append(f"| {labels[n]} | {ver} | {info.get('precision', 'f32')} | {setting} |")
    L.append("")
    L.append("## Speed: images/s, median round (fastest round)\n")
    L.append("| case | " + " | ".join(labels[n] for n in used) + " | unetpp / best |")
    L.append("|---|" + "---:|" * (len(used) + 1))
    for res in results:
        cells = []
        for n in used:
            r = res["runtimes"].get(n)
            if r is None:
                cells.append("")
            elif _ok(r):
                cells.append(f"{_fmt(r['images_per_s'])} ({_fmt(r['images_per_s_best'])})")
            else:
                cells.append("failed")
        q = res["unetpp_over_best"]
        qs = f"**{q:.2f}** ({labels[res['best_other']]})" if q else "—"
        L.append(f"| {res['name']} | " + " | ".join(cells) + f" | {qs} |")
    L.append("")
    L.append(f"## Effective GFLOP/s (direct-convolution FLOPs / median time) and % of the {peak:.0f} GFLOP/s peak\n")
    L.append("| case | GFLOP | " + " | ".join(labels[n] for n in used) + " |")
    L.append("|---|---:|" + "---:|" * len(used))
    for res in results:
        cells = []
        for n in used:
            r = res["runtimes"].get(n)
            cells.append(f"{r['gflops_per_s']:.0f} ({100 * r['gflops_per_s'] / peak:.0f}%)" if _ok(r) else "")
        L.append(f"| {res['name']} | {res['gflop']:.1f} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## Peak RSS increase, MiB (VmHWM after the timed runs minus VmRSS before the model)\n")
    L.append("| case | " + " | ".join(labels[n] for n in used) + " | unetpp / lowest |")
    L.append("|---|" + "---:|" * (len(used) + 1))
    for res in results:
        cells = []
        for n in used:
            r = res["runtimes"].get(n)
            cells.append(f"{r['memory']['rss_increase_mib']:.0f}" if r and r.get("memory") else "")
        m = res["unetpp_memory_over_lowest"]
        ms = f"{m:.2f} ({labels[res['lowest_memory_other']]})" if m else "—"
        L.append(f"| {res['name']} | " + " | ".join(cells) + f" | {ms} |")
    errors = [(res["name"], r["label"], r["error"]) for res in results for r in res["runtimes"].values() if r["error"]]
    errors += [(res["name"], "ONNX export", res["onnx_error"]) for res in results if res.get("onnx_error")]
    if errors:
        L.append("\n## Failures\n")
        for name, label, err in errors:
            L.append(f"- {name}, {label}: `{err.strip()}`")
    L.append("\nA round is K iterations of one runtime (K = 3 for the smallest cases, else 1); runtimes take "
             "turns within a round, the order rotated each round. img/s comes from the mean time of a round; "
             "the median over rounds is reported, the fastest round in brackets. FLOPs: forward = batch x "
             "(sum over convolutions of 2*cin*k*k*cout*oh*ow + sum over transposed convolutions of "
             "2*cin*cout*k*k*h*w); a training step counts 3x the forward. Each runtime runs in a process of its own.")
    md = os.path.join(outdir, "anchors.md")
    with open(md, "x") as f:
        f.write("\n".join(L) + "\n")
    return md, js
