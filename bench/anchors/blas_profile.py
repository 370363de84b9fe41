"""Shows which BLAS a PyTorch process runs its transposed convolutions on (the check behind the
PyTorch 1.13 anchor): profiles one forward pass of unet_bn<base, 4> at size x size and prints one
JSON line with the loaded BLAS libraries, OpenBLAS's configuration and chosen core, and the
self CPU time of the top operators, aten::slow_conv_transpose2d among them.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 blas_profile.py

Debian's python3-torch 1.13 is built with BLAS_INFO=generic: it calls whatever libblas.so.3 the
dynamic linker finds, and has no MKL. With the netlib reference libblas3 (the package it pulls in
without recommends), slow_conv_transpose2d's GEMMs dominate a forward pass; with OpenBLAS they
shrink to a few percent of it.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from unetpp_torch import unet_bn  # noqa: E402
from worker import openblas_info  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = unet_bn(a.base, 4).eval()
    x = torch.randn(1, 1, a.size, a.size)
    with torch.no_grad():
        model(x)  # warm-up
        with torch.autograd.profiler.profile() as prof:
            model(x)
    ops = {}
    for e in prof.key_averages():
        ops[e.key] = e.self_cpu_time_total / 1e3  # ms
    total = sum(ops.values())
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:6]
    rec = {"torch": torch.__version__, "base": a.base, "size": a.size, "threads": a.threads,
           "forward_self_cpu_ms": round(total, 1),
           "slow_conv_transpose2d_ms": round(ops.get("aten::slow_conv_transpose2d", 0.0), 1),
           "top_ops_ms": {k: round(v, 1) for k, v in top}}
    rec.update(openblas_info())
    print(json.dumps(rec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
