"""One runtime of the anchor benchmark in a process of its own (started by anchors.py).

    python worker.py RUNTIME --mode infer|train --model unet_bn|ronneberger2015 --base B
                     --batch N --size S --threads T --warmup W [--onnx FILE] [--channels-last]

RUNTIME is one of
  ort            ONNX Runtime, CPUExecutionProvider, f32, T intra-op threads, 1 inter-op thread,
                 sequential execution, all graph optimisations (--onnx FILE)
  openvino       OpenVINO CPU plugin, INFERENCE_PRECISION_HINT f32, T threads, LATENCY hint
                 (--onnx FILE)
  torch          PyTorch eager (the module of tools/unetpp_torch.py), torch.set_num_threads(T);
                 --channels-last converts model and input to channels_last
  torch-compile  the same module through torch.compile (inductor, default mode)

Works under the bench venv's Python (PyTorch 2, ONNX Runtime, OpenVINO) and under Debian's
/usr/bin/python3 with its PyTorch 1.13 (runtime torch only).

Protocol, the same as `unet_bench --serve`: the worker reads VmRSS (the runtime's library is
imported, no model yet), builds the model, runs W untimed iterations, prints one JSON line
{"ready": true, "info": {...versions and settings...}} and then reads commands on stdin: "run K"
times K iterations and prints {"times_ms": [...]}; "end" prints {"rss_before_model_mib",
"hwm_mib", "rss_increase_mib"} (VmHWM after the timed runs minus that first VmRSS) and exits.
"""

import argparse
import ctypes
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "..", "tools")


def proc_status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def openblas_info():
    """Which BLAS this process loaded, and for OpenBLAS its configuration and the core kernel it
    picked (OpenBLAS 0.3.21 takes some newer CPUs for "Prescott" unless OPENBLAS_CORETYPE is set)."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path) or "lapack" in os.path.basename(path):
                libs.add(path)
    info = {"blas_libraries": sorted(libs)}
    for path in sorted(libs):
        try:
            lib = ctypes.CDLL(path)
            get_core, get_config = lib.openblas_get_corename, lib.openblas_get_config
        except (OSError, AttributeError):
            continue
        get_core.restype = get_config.restype = ctypes.c_char_p
        info["openblas_core"] = get_core().decode()
        info["openblas_config"] = get_config().decode().strip()
        break
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "")
    return info


def onnx_runtime(a, x):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    info = {"runtime": "ONNX Runtime", "version": ort.__version__, "precision": "f32",
            "settings": f"CPUExecutionProvider, intra_op_num_threads={a.threads}, inter_op_num_threads=1, "
                        "ORT_SEQUENTIAL, ORT_ENABLE_ALL"}
    return (lambda: sess.run(None, {name: x})), info


def openvino_runtime(a, x):
    import openvino as ov

    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": str(a.threads),
           "PERFORMANCE_HINT": "LATENCY"}
    compiled = core.compile_model(a.onnx, "CPU", cfg)
    req = compiled.create_infer_request()
    got = {k: compiled.get_property(k) for k in
           ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "PERFORMANCE_HINT", "NUM_STREAMS")}
    got = {k: v.to_string() if hasattr(v, "to_string") else str(v) for k, v in got.items()}  # ov.Type -> "f32"
    info = {"runtime": "OpenVINO", "version": ov.get_version(), "precision": got["INFERENCE_PRECISION_HINT"],
            "settings": ", ".join(f"{k}={v}" for k, v in got.items())}
    return (lambda: req.infer({0: x})), info


def torch_runtime(a, x_np, compiled):
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, TOOLS)
    from unetpp_torch import ronneberger2015, unet_bn

    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as unetpp::flush_denormals()
    torch.manual_seed(0)
    valid = a.model == "ronneberger2015"
    model = ronneberger2015(a.base) if valid else unet_bn(a.base, 4)
    x = torch.from_numpy(x_np) if x_np is not None else torch.randn(a.batch, 1, a.size, a.size)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    blas = m.group(1) if m else "?"
    info = {"runtime": "PyTorch", "version": torch.__version__, "precision": "f32",
            "settings": f"set_num_threads({a.threads}), {'channels_last' if a.channels_last else 'NCHW'}, "
                        f"mkldnn {'on' if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else 'off'}, "
                        f"BLAS_INFO={blas}"}
    if blas != "mkl":
        info.update(openblas_info())
    if a.mode == "infer":
        model.eval()
        fn = model
        if compiled:
            fn = torch.compile(model)
            info["settings"] += ", torch.compile(inductor, default mode)"

        def step():
            with torch.no_grad():
                return fn(x)
        return step, info
    model.train()
    out = model(x[:1]).shape if valid else (1, 1, a.size, a.size)
    g = torch.Generator().manual_seed(7)
    mask = (torch.rand(a.batch, out[1], out[2], out[3], generator=g) < 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    fn = torch.compile(model) if compiled else model

    def step():
        loss = F.binary_cross_entropy_with_logits(fn(x), mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
        return loss
    info["settings"] += ", Adam(lr=1e-3) step included"
    return step, info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runtime", choices=["ort", "openvino", "torch", "torch-compile"])
    ap.add_argument("--mode", default="infer", choices=["infer", "train"])
    ap.add_argument("--model", default="unet_bn", choices=["unet_bn", "ronneberger2015"])
    ap.add_argument("--base", type=int, default=32)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--onnx", default="")
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    if a.runtime in ("ort", "openvino") and (not a.onnx or a.mode != "infer"):
        ap.error(f"{a.runtime} needs --onnx FILE and --mode infer")

    # The runtime's own library is imported first, so the baseline holds it but no model.
    if a.runtime == "ort":
        import onnxruntime  # noqa: F401
    elif a.runtime == "openvino":
        import openvino  # noqa: F401
    else:
        import torch  # noqa: F401
    x = None
    if a.runtime in ("ort", "openvino"):
        import numpy as np
        x = np.random.default_rng(7).standard_normal((a.batch, 1, a.size, a.size)).astype(np.float32)
    rss_before = proc_status_mib("VmRSS")

    t0 = time.perf_counter()
    if a.runtime == "ort":
        step, info = onnx_runtime(a, x)
    elif a.runtime == "openvino":
        step, info = openvino_runtime(a, x)
    else:
        step, info = torch_runtime(a, x, a.runtime == "torch-compile")
    for _ in range(a.warmup):
        step()
    info["load_and_warmup_s"] = round(time.perf_counter() - t0, 2)
    info["warmup"] = a.warmup
    info["python"] = sys.version.split()[0]
    reply({"ready": True, "info": info})

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "end":
            break
        if not cmd.startswith("run "):
            sys.exit(f"worker: unknown command {cmd!r} (expected 'run K' or 'end')")
        times = []
        for _ in range(max(1, int(cmd[4:]))):
            t = time.perf_counter()
            step()
            times.append(round((time.perf_counter() - t) * 1e3, 3))
        reply({"times_ms": times})
    hwm = proc_status_mib("VmHWM")
    reply({"rss_before_model_mib": round(rss_before, 3), "hwm_mib": round(hwm, 3),
           "rss_increase_mib": round(hwm - rss_before, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
