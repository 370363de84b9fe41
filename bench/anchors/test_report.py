"""Test of bench/anchors/report.py on made-up results (standard library only; registered in
bench/CMakeLists.txt as bench_anchors_report): the ratio against the best runtime, the memory
ratio against the lowest, failed runtimes, and that an existing report is never overwritten."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import write_reports  # noqa: E402


def runtime(label, ms, mem, batch=1, gflop=24.0, error=None):
    r = {"label": label, "command": [], "info": {"version": "1", "settings": "s"}, "rounds_ms": [[ms]],
         "memory": {"rss_increase_mib": mem} if mem is not None else None, "error": error}
    if error is None:
        r.update({"median_ms": ms, "min_ms": ms * 0.9, "images_per_s": batch / (ms * 1e-3),
                  "images_per_s_best": batch / (ms * 0.9e-3), "gflops_per_s": gflop / (ms * 1e-3)})
    return r


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def main():
    host = {"cpu": "test cpu", "isa": "AVX2", "cores": 2, "git": "abc", "compiler": "g++", "cxxflags": "-O3",
            "fma_peak": {"isa": "AVX2+FMA", "lanes": 8, "chains": 12, "threads": 2, "gflops_per_s": 100.0},
            "uptime_start": "load 1", "uptime_end": "load 2", "elapsed_s": 5}
    settings = {"threads": 2, "rounds": 3, "warmup": 1, "torch113_env": {}}
    case = {"model": "unet_bn", "base": 32, "mode": "infer", "batch": 1, "size": 256}
    results = [{"case": case, "name": "unet_bn<32,4> infer b1 256²", "gflop": 24.0, "runtimes": {
        "unetpp": runtime("unetpp", 400.0, 80.0),        # 2.5 img/s
        "ort": runtime("ONNX Runtime f32", 200.0, 100.0),  # 5 img/s: the best
        "openvino": runtime("OpenVINO f32", 250.0, 60.0),  # the lowest memory
        "torch2-compile": runtime("PyTorch 2 torch.compile", 0, None, error="compile failed: no compiler"),
    }}]
    with tempfile.TemporaryDirectory() as d:
        md, js = write_reports(d, host, settings, results)
        doc = json.load(open(js))
        text = open(md).read()
        res = doc["cases"][0]
        check(abs(res["unetpp_over_best"] - 0.5) < 1e-9, f"ratio {res['unetpp_over_best']} != 0.5")
        check(res["best_other"] == "ort", "best runtime should be ort")
        check(abs(res["unetpp_memory_over_lowest"] - 80.0 / 60.0) < 1e-9, "memory ratio")
        check(res["lowest_memory_other"] == "openvino", "lowest memory runtime should be openvino")
        check("**0.50** (ONNX Runtime f32)" in text, "ratio cell in the markdown")
        check("compile failed: no compiler" in text, "the failure is reported")
        check("| failed |" in text, "failed cell")
        check("| 60 (60%) |" in text and "| 96 (96%) |" in text, "efficiency cells (unetpp 60, OpenVINO 96 GFLOP/s of 100)")
        try:
            write_reports(d, host, settings, results)
            check(False, "a second report into the same folder must not overwrite the first")
        except FileExistsError:
            pass
    print("test_report: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
