"""Driver of the anchor benchmark (bench/anchors/run.sh runs it with the bench venv's Python).

For each case it exports the PyTorch twin to ONNX (opset 17, batch norm folded, f32), starts one
process per runtime (unetpp's `unet_bench --serve`, ONNX Runtime, OpenVINO, PyTorch 2 eager and
torch.compile, PyTorch 1.13 with OpenBLAS), lets each load and warm up, then runs alternating
rounds: in round r every runtime runs K timed iterations, one runtime after the other, the order
rotated by one each round, so that load from other jobs on the machine hits every runtime alike.
Then it asks each process for its memory readings and ends it.

Reported per case and runtime: img/s from the median round (a round's time is the mean of its K
iterations) and from the fastest round, effective GFLOP/s (direct-convolution FLOPs over the
median time) and its share of the FMA peak measured at the start, and the peak RSS increase
(VmHWM after the timed runs minus VmRSS before the model was built, in the runtime's own process).
Writes anchors.json and anchors.md into a new results folder; never overwrites a file. Each case's
results are also appended to cases.jsonl as soon as the case ends (and the host facts go to
run.json at the start), so `anchors.py --report-only FOLDER` can write the report of a run that
was stopped part-way.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from report import write_reports  # noqa: E402

RUNTIMES = {  # name: (label, modes)
    "unetpp": ("unetpp", ("infer", "train")),
    "ort": ("ONNX Runtime f32", ("infer",)),
    "openvino": ("OpenVINO f32", ("infer",)),
    "torch2-cl": ("PyTorch 2 eager channels_last", ("infer",)),
    "torch2-compile": ("PyTorch 2 torch.compile", ("infer",)),
    "torch2": ("PyTorch 2 eager NCHW", ("train",)),
    "torch113": ("PyTorch 1.13 + OpenBLAS", ("infer", "train")),
}

# Cheapest first, so that a run cut short (see --report-only) has covered the most cases.
SUITE = ["unet_bn:32:infer:1:256", "ronneberger2015:32:infer:1:572", "unet_bn:32:infer:1:512",
         "unet_bn:64:infer:1:256", "unet_bn:32:train:4:256", "ronneberger2015:64:infer:1:572",
         "unet_bn:64:infer:1:512", "unet_bn:32:infer:8:256", "unet_bn:64:train:4:256", "unet_bn:64:infer:8:256"]
QUICK = ["unet_bn:32:infer:1:256", "unet_bn:32:train:4:256"]


def parse_case(text):
    f = text.split(":")
    if len(f) != 5 or f[0] not in ("unet_bn", "ronneberger2015") or f[2] not in ("infer", "train"):
        raise SystemExit(f"anchors: bad case {text!r}: expected model:base:mode:batch:size, "
                         "model unet_bn or ronneberger2015, mode infer or train")
    return {"model": f[0], "base": int(f[1]), "mode": f[2], "batch": int(f[3]), "size": int(f[4])}


def case_name(c):
    what = "infer" if c["mode"] == "infer" else "train"
    return f"{c['model']}<{c['base']},4> {what} b{c['batch']} {c['size']}²"


def case_flops(c):
    from torch_unet_bench import forward_flops_per_sample
    valid = c["model"] == "ronneberger2015"
    f = forward_flops_per_sample(c["base"], 4, 1, 2 if valid else 1, c["size"], valid) * c["batch"]
    return 3.0 * f if c["mode"] == "train" else f


def export_onnx(c, path):
    """The PyTorch twin in eval mode with every BatchNorm folded into the convolution before it,
    exported at the case's fixed shape with opset 17, then checked: no BatchNormalization node,
    all initialisers f32, and ONNX Runtime's output on a random input equal to the unfolded
    module's (batch-norm statistics randomised first, so the folding is really exercised)."""
    import onnx
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from unetpp_torch import DoubleConv, ronneberger2015, unet_bn

    torch.manual_seed(0)
    model = ronneberger2015(c["base"]) if c["model"] == "ronneberger2015" else unet_bn(c["base"], 4)
    with torch.no_grad():  # non-trivial statistics, so a wrong fold would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    model.eval()
    x = torch.randn(c["batch"], 1, c["size"], c["size"])
    with torch.no_grad():
        expected = model(x).numpy()
    for m in model.modules():
        if isinstance(m, DoubleConv):
            for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
                if getattr(m, bn) is not None:
                    setattr(m, conv, fuse_conv_bn_eval(getattr(m, conv), getattr(m, bn)))
                    setattr(m, bn, None)
    kwargs = {"opset_version": 17, "input_names": ["x"], "output_names": ["logits"], "do_constant_folding": True}
    try:
        torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
    except TypeError:  # a PyTorch without the dynamo switch
        torch.onnx.export(model, (x,), path, **kwargs)
    g = onnx.load(path)
    ops = sorted({n.op_type for n in g.graph.node})
    if "BatchNormalization" in ops:
        raise RuntimeError(f"{path}: batch norm was not folded (ops: {ops})")
    if any(t.data_type != onnx.TensorProto.FLOAT for t in g.graph.initializer):
        raise RuntimeError(f"{path}: an initialiser is not f32")
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    got = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    err = float(abs(got - expected).max() / max(1e-30, float(abs(expected).max())))
    if not err < 1e-3:
        raise RuntimeError(f"{path}: ONNX Runtime's output differs from the PyTorch module's by {err:.2e} (relative)")
    return {"opset": 17, "ops": ops, "bytes": os.path.getsize(path), "max_rel_diff_vs_torch": err}


class Worker:
    def __init__(self, name, cmd, env, log):
        self.name, self.cmd = name, cmd
        self.log = open(log, "x")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     env=env, text=True, bufsize=1)
        self.info, self.error, self.rounds, self.memory = {}, None, [], None

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def read(self):
        out = self.proc.stdout.readline()
        if not out:
            self.proc.wait()
            self.log.flush()
            tail = open(self.log.name).read().strip().splitlines()[-6:]
            raise RuntimeError(f"exited with code {self.proc.returncode}: " + " | ".join(tail))
        return json.loads(out)

    def fail(self, e):
        self.error = str(e)[-600:]
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def finish(self):
        if self.error is None:
            try:
                self.memory = self.ask("end")
                self.proc.wait(timeout=120)
            except Exception as e:  # noqa: BLE001 - record and go on with the other runtimes
                self.fail(e)
        self.log.close()


def worker_command(rt, c, a, onnx_path):
    common = ["--mode", c["mode"], "--model", c["model"], "--base", str(c["base"]), "--batch", str(c["batch"]),
              "--size", str(c["size"]), "--threads", str(a.threads), "--warmup", str(a.warmup_for(c))]
    py = [sys.executable, os.path.join(HERE, "worker.py")]
    env = dict(os.environ)
    if rt == "unetpp":
        cmd = [a.unet_bench, "--serve", "--model", c["model"], "--base", str(c["base"]), "--mode", c["mode"],
               "--batch", str(c["batch"]), "--size", str(c["size"]), "--warmup", str(a.warmup_for(c))]
        return cmd, env
    if rt in ("ort", "openvino"):
        return py + [rt] + common + ["--onnx", onnx_path], env
    if rt == "torch2-cl":
        return py + ["torch"] + common + ["--channels-last"], env
    if rt == "torch2":
        return py + ["torch"] + common, env
    if rt == "torch2-compile":
        return py + ["torch-compile"] + common + ["--channels-last"], env
    if rt == "torch113":
        env.update(a.torch113_env)
        return [a.torch113_python, os.path.join(HERE, "worker.py"), "torch"] + common, env  # NCHW
    raise ValueError(rt)


def run_case(c, a, outdir, log):
    name = case_name(c)
    rts = [r for r in a.runtimes if c["mode"] in RUNTIMES[r][1]]
    res = {"case": c, "name": name, "gflop": case_flops(c) / 1e9, "runtimes": {}}
    onnx_path = None
    if any(r in ("ort", "openvino") for r in rts):
        onnx_path = os.path.join(outdir, "models", f"{c['model']}_{c['base']}_b{c['batch']}_{c['size']}.onnx")
        try:
            res["onnx"] = export_onnx(c, onnx_path)
        except Exception as e:  # noqa: BLE001
            log(f"{name}: ONNX export failed: {e}")
            res["onnx_error"] = str(e)
            rts = [r for r in rts if r not in ("ort", "openvino")]
    k = a.iters_per_round(c)
    workers = []
    for rt in rts:  # one at a time: a loading runtime does not slow another's warm-up
        cmd, env = worker_command(rt, c, a, onnx_path)
        w = Worker(rt, cmd, env, os.path.join(outdir, "logs", f"{c['model']}_{c['base']}_{c['mode']}_b{c['batch']}_"
                                              f"{c['size']}_{rt}.log"))
        log(f"{name}: starting {RUNTIMES[rt][0]}")
        try:
            ready = w.read()
            w.info = ready.get("info", {"threads": ready.get("threads")})
        except Exception as e:  # noqa: BLE001
            w.fail(e)
            log(f"{name}: {RUNTIMES[rt][0]} failed to start: {w.error}")
        workers.append(w)
    live = [w for w in workers if w.error is None]
    for r in range(a.rounds):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for w in order:
            if w.error is not None:
                continue
            try:
                w.rounds.append(w.ask(f"run {k}")["times_ms"])
            except Exception as e:  # noqa: BLE001
                w.fail(e)
                log(f"{name}: {RUNTIMES[w.name][0]} failed in round {r}: {w.error}")
            time.sleep(0.2)  # let the previous runtime's spinning threads go to sleep
        log(f"{name}: round {r + 1}/{a.rounds} done")
    for w in workers:
        w.finish()
        res["runtimes"][w.name] = {"label": RUNTIMES[w.name][0], "command": w.cmd, "info": w.info,
                                   "rounds_ms": w.rounds, "memory": w.memory, "error": w.error}
        rounds = [statistics.fmean(x) for x in w.rounds]
        if rounds and w.error is None:
            med, best = statistics.median(rounds), min(rounds)
            res["runtimes"][w.name].update({
                "median_ms": round(med, 3), "min_ms": round(best, 3),
                "images_per_s": c["batch"] / (med * 1e-3), "images_per_s_best": c["batch"] / (best * 1e-3),
                "gflops_per_s": res["gflop"] / (med * 1e-3)})
    if onnx_path and os.path.exists(onnx_path) and not a.keep_models:
        os.remove(onnx_path)  # created by this run
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 cases, 2 rounds of 1 iteration, 1 warm-up")
    ap.add_argument("--cases", default="", help="space-separated model:base:mode:batch:size list")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated subset of " + ",".join(RUNTIMES))
    ap.add_argument("--rounds", type=int, default=0, help="rounds per case (default 5, --quick 2)")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed iterations per runtime (default 2 for the smallest cases, else 1; --quick 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--unet-bench")
    ap.add_argument("--fma-peak")
    ap.add_argument("--torch113-python", default="/usr/bin/python3")
    ap.add_argument("--torch113-env", default="{}", help="JSON object of environment variables for PyTorch 1.13")
    ap.add_argument("--host", default="{}", help="JSON object of host facts from run.sh")
    ap.add_argument("--out", help="results folder (made if missing; its files must not exist)")
    ap.add_argument("--report-only", metavar="FOLDER",
                    help="write anchors.md/json from FOLDER's run.json and cases.jsonl (a run stopped part-way)")
    ap.add_argument("--keep-models", action="store_true")
    a = ap.parse_args()
    if a.report_only:
        run = json.load(open(os.path.join(a.report_only, "run.json")))
        results = [json.loads(x) for x in open(os.path.join(a.report_only, "cases.jsonl")) if x.strip()]
        run["host"].setdefault("uptime_end", "(run stopped part-way)")
        run["host"].setdefault("elapsed_s", "?")
        run["settings"]["stopped_after_cases"] = len(results)
        md, js = write_reports(a.report_only, run["host"], run["settings"], results)
        print(f"anchors: wrote {md} and {js} ({len(results)} cases)", file=sys.stderr)
        return 0
    if not (a.unet_bench and a.fma_peak and a.out):
        ap.error("--unet-bench, --fma-peak and --out are needed (or --report-only FOLDER)")
    a.runtimes = [r for r in a.runtimes.split(",") if r]
    bad = [r for r in a.runtimes if r not in RUNTIMES]
    if bad:
        ap.error(f"unknown runtime(s) {bad}; known: {', '.join(RUNTIMES)}")
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.torch113_env = json.loads(a.torch113_env)
    cases = [parse_case(t) for t in (a.cases.split() if a.cases else (QUICK if a.quick else SUITE))]

    def iters_per_round(c):  # about a second or more per round and runtime
        work = c["batch"] * c["size"] ** 2 / 65536 * (c["base"] / 32) ** 2 * (3 if c["mode"] == "train" else 1)
        return 1 if a.quick or work > 1 else 3
    a.iters_per_round = iters_per_round
    a.warmup_for = lambda c: a.warmup or (1 if a.quick or iters_per_round(c) == 1 else 2)

    os.makedirs(a.out, exist_ok=True)  # run.sh creates it (for the binaries); the files below are new
    os.mkdir(os.path.join(a.out, "models"))
    os.mkdir(os.path.join(a.out, "logs"))
    progress = open(os.path.join(a.out, "progress.log"), "x")
    t_start = time.time()

    def log(msg):
        line = f"[{time.time() - t_start:6.0f}s] {msg}"
        print("anchors: " + line, file=sys.stderr, flush=True)
        progress.write(line + "\n")
        progress.flush()

    host = json.loads(a.host)
    host["uptime_start"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    host["python"] = platform.python_version()
    log("measuring the FMA peak")
    peak = json.loads(subprocess.run([a.fma_peak, "--seconds", "2"], capture_output=True, text=True, check=True,
                                     env=dict(os.environ, OMP_NUM_THREADS=str(a.threads))).stdout)
    host["fma_peak"] = peak
    settings = {"threads": a.threads, "rounds": a.rounds, "warmup": a.warmup or "2 (smallest cases), else 1",
                "quick": a.quick, "runtimes": a.runtimes, "torch113_env": a.torch113_env,
                "cases": [case_name(c) for c in cases]}
    with open(os.path.join(a.out, "run.json"), "x") as f:
        json.dump({"host": host, "settings": settings}, f)
    results = []
    with open(os.path.join(a.out, "cases.jsonl"), "x") as f:
        for c in cases:
            results.append(run_case(c, a, a.out, log))
            f.write(json.dumps(results[-1]) + "\n")
            f.flush()
    host["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    host["elapsed_s"] = round(time.time() - t_start)
    if not os.listdir(os.path.join(a.out, "models")):
        os.rmdir(os.path.join(a.out, "models"))
    md, js = write_reports(a.out, host, settings, results)
    log(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
