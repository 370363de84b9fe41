#!/usr/bin/python3
"""PyTorch side of the end-to-end U-Net benchmark (the counterpart of bench/unet_bench.cpp).

Times the same cases on the module that mirrors unetpp::presets::unet_bn<base, 4>, or with
--model ronneberger2015 the unpadded network of Ronneberger et al. 2015 (2 classes, no batch norm)
at base 64 (the preset) or 32 (tools/unetpp_torch.py):

  infer  model.eval() forward under torch.no_grad()
  train  one training step: model.train() forward, F.binary_cross_entropy_with_logits against a
         fixed random 0/1 mask, backward, torch.optim.Adam step, zero_grad(set_to_none=False)

Same policy as the C++ driver: `warmup` untimed iterations, then `iters` timed ones; median and
minimum time, images/s and GFLOP/s from the median, with the same FLOP count:

  forward = N * ( sum over Conv2d           2 * cin * k * k * cout * oh * ow
                + sum over ConvTranspose2d  2 * cin * cout * k * k * h * w  (h, w = input size) )
  train   = 3 * forward

--tile S (inference only) predicts the image by overlap tiling with S x S input tiles, placed as
unetpp::infer::plan_tiles places them (tile origins a multiple of 2^depth apart, the image
mirrored at its borders), one tile per forward call: the same tiles and FLOPs as unetpp's
`--tile`.

Memory: VmHWM (peak RSS) of this process is read from /proc/self/status once torch is imported
and the model, optimiser and tensors are built (the idle baseline), and again after the run; both
and their difference are reported.

Run with /usr/bin/python3 (the interpreter that has torch). Output: one JSON line per case to
stdout or appended to --json FILE. --check-flops also counts the convolution FLOPs with forward
hooks on the real module (unetpp_torch.forward_flops) and prints both counts (then exits without
timing).
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from unetpp_torch import forward_flops, ronneberger2015, unet_bn  # noqa: E402

FLOP_FORMULA = ("conv: 2*cin*k*k*cout*oh*ow; conv_transpose: 2*cin*cout*k*k*h*w (input h,w); "
                "summed over layers, times batch; train step = 3x forward")


def proc_status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def forward_flops_per_sample(base, depth, in_channels, classes, s, valid=False):
    """Same closed form as forward_flops_per_sample() in unet_bench.cpp (valid: unpadded 3x3
    convolutions, each losing 2 rows and columns)."""
    conv = lambda cin, cout, k, oh, ow: 2.0 * cin * k * k * cout * oh * ow
    convt = lambda cin, cout, k, h, w: 2.0 * cin * cout * k * k * h * w
    shrink = 2 if valid else 0
    f = 0.0
    side = s

    def block(cin, cout):
        nonlocal f, side
        side -= shrink
        f += conv(cin, cout, 3, side, side)
        side -= shrink
        f += conv(cout, cout, 3, side, side)

    for level in range(depth):
        block(in_channels if level == 0 else base << (level - 1), base << level)
        side //= 2
    block(base << (depth - 1), base << depth)
    for level in reversed(range(depth)):
        f += convt(base << (level + 1), base << level, 2, side, side)
        side *= 2
        block(2 * (base << level), base << level)
    f += conv(base, classes, 1, side, side)
    return f


def tile_origins(extent, out_tile, align):
    """Origins of the kept output blocks along one axis (as unetpp::infer::detail::plan_axis)."""
    step = out_tile // align * align
    last = max(0, -(-(extent - out_tile) // align) * align)
    origins, o = [], 0
    while o < last:
        origins.append(o)
        o += step
    origins.append(last)
    return origins


def output_side(side, depth, valid):
    """Output side of the U-Net for an input side, computed without running it (a forward pass
    here would put its buffers into the idle memory reading): an unpadded network loses 4 pixels
    per pair of 3x3 convolutions, on the way down and on the way up."""
    if not valid:
        return side
    for _ in range(depth):
        side = (side - 4) // 2
    side -= 4
    for _ in range(depth):
        side = side * 2 - 4
    return side


def make_tiled(model, tile, size, depth, padded_overlap, valid):
    """Returns (predict(x), tile count): overlap-tile inference of a size x size image."""
    align = 1 << depth
    out = output_side(tile, depth, valid)
    if out == tile:  # padded network: keep the centre, discard `overlap` pixels per side
        margin = -(-padded_overlap // align) * align
        kept = tile - 2 * margin
        crop = margin
    else:
        margin, kept, crop = (tile - out) // 2, out, 0
    origins = tile_origins(size, kept, align)
    before = margin
    after = max(0, origins[-1] - margin + tile - size)

    def predict(x):
        xp = F.pad(x, (before, after, before, after), mode="reflect")
        y = torch.empty(x.shape[0], 2 if out != tile else 1, size, size)
        for oy in origins:
            for ox in origins:
                t = xp[:, :, oy:oy + tile, ox:ox + tile]  # image row oy - margin is padded row oy
                p = model(t)[:, :, crop:crop + kept, crop:crop + kept]
                h, w = min(kept, size - oy), min(kept, size - ox)
                y[:, :, oy:oy + h, ox:ox + w] = p[:, :, :h, :w]
        return torch.softmax(y, 1) if y.shape[1] > 1 else torch.sigmoid(y)

    return predict, len(origins) ** 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="unet_bn", choices=["unet_bn", "ronneberger2015"])
    ap.add_argument("--base", type=int, default=32, choices=[32, 64])
    ap.add_argument("--mode", default="infer", choices=["infer", "train"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2") or 2),
                    help="torch.set_num_threads (default: OMP_NUM_THREADS, else 2)")
    ap.add_argument("--tile", type=int, default=0, help="overlap-tile inference with this input tile side")
    ap.add_argument("--json", default="", help="append the JSON line to this file instead of stdout")
    ap.add_argument("--check-flops", action="store_true")
    a = ap.parse_args()
    if a.batch < 1 or a.iters < 1 or a.warmup < 0:
        ap.error("--batch and --iters must be at least 1, --warmup at least 0")
    depth = 4
    valid = a.model == "ronneberger2015"
    classes = 2 if valid else 1
    if a.tile and a.mode != "infer":
        ap.error("--tile needs --mode infer")
    if not valid and not a.tile and a.size % (1 << depth):
        ap.error(f"--size must be a multiple of {1 << depth} for a depth-{depth} padded U-Net")

    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as unetpp::flush_denormals() on the C++ side
    torch.manual_seed(0)
    model = ronneberger2015(a.base) if valid else unet_bn(a.base, depth)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(a.batch, 1, a.size, a.size, generator=g)
    out_side = output_side(a.size, depth, valid) if not a.tile else a.size
    out_shape = (1, 1, out_side, out_side)
    mask = (torch.rand(a.batch, classes, out_shape[2], out_shape[3], generator=g) < 0.5).float()

    fwd = forward_flops_per_sample(a.base, depth, 1, classes, a.size, valid) * a.batch
    tiles = 0
    if a.tile:
        # receptive radius of a padded depth-4, 3x3 U-Net: (k - 1) (3 * 2^depth - 2) + 2^depth
        tiled, tiles = make_tiled(model, a.tile, a.size, depth, 2 * (3 * (1 << depth) - 2) + (1 << depth), valid)
        fwd = forward_flops_per_sample(a.base, depth, 1, classes, a.tile, valid) * a.batch * tiles
    if a.check_flops:
        counted = forward_flops(model.eval(), x)
        print(json.dumps({"closed_form_gflop": fwd / 1e9, "hooked_gflop": counted / 1e9,
                          "equal": abs(counted - fwd) < 1e-6 * fwd}))
        return 0 if abs(counted - fwd) < 1e-6 * fwd else 1

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hwm_before = proc_status_kib("VmHWM")
    rss_before = proc_status_kib("VmRSS")

    last_loss = None
    out_sum = None
    if a.mode == "infer":
        model.eval()

        def step():
            with torch.no_grad():
                return tiled(x) if a.tile else model(x)
    else:
        model.train()

        def step():
            logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits, mask)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=False)
            return loss

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        r = step()
        times.append((time.perf_counter() - t0) * 1e3)
    if a.mode == "infer":
        out_sum = float(r.sum())
    else:
        last_loss = float(r.detach())

    hwm_after = proc_status_kib("VmHWM")
    median = statistics.median(times)
    flops = 3.0 * fwd if a.mode == "train" else fwd
    rec = {
        "impl": "pytorch", "torch": torch.__version__, "model": a.model, "base": a.base, "depth": depth,
        "mode": a.mode, "batch": a.batch, "size": a.size, "tile": a.tile, "tiles": tiles, "threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "warmup": a.warmup, "iters": a.iters,
        "median_ms": round(median, 3), "min_ms": round(min(times), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "images_per_s": round(a.batch / (median * 1e-3), 3),
        "gflop": round(flops / 1e9, 3), "gflops_per_s": round(flops / (median * 1e-3) / 1e9, 3),
        "idle_hwm_mib": round(hwm_before / 1024, 3), "idle_rss_mib": round(rss_before / 1024, 3),
        "peak_rss_mib": round(hwm_after / 1024, 3),
        "rss_increase_mib": round((hwm_after - hwm_before) / 1024, 3),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if last_loss is not None:
        rec["last_loss"] = round(last_loss, 3)
    if out_sum is not None:
        rec["output_sum"] = round(out_sum, 3)
    rec["times_ms"] = [round(t, 3) for t in times]
    rec["flop_formula"] = FLOP_FORMULA
    line = json.dumps(rec)
    if a.json:
        with open(a.json, "a") as f:
            f.write(line + "\n")
    else:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
