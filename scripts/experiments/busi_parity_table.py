#!/usr/bin/env python3
"""The table of scripts/experiments/busi_parity.sh: unetpp against PyTorch on one BUSI fold, per
seed and as mean +- sample standard deviation over the seeds.

    /usr/bin/python3 scripts/experiments/busi_parity_table.py RUNS SEED...

RUNS/seed<S>/ holds a unetpp-train run (log.csv, last.safetensors, data.safetensors) and
RUNS/seed<S>/torch/ the PyTorch reference's (log.csv, last.pt). From the logs: the last epoch's
val_dice, val_iou and val_pixel_error (over all validation images; BUSI's normal images have
empty masks, and an empty prediction on one scores 1) and the seconds of the run (the sum of the
epochs' seconds: training and validation); in the difference table also the mean val_dice of
the last three epochs, which a constant learning rate leaves noisy from epoch to epoch.
Lesion-image Dice and IoU: both networks after the last epoch are applied (in PyTorch, eval mode:
unetpp's weights through tools/unetpp_export_torch.py) to the exported validation tensors, and
the per-image scores of the images whose mask is not empty are averaged; the same pass recomputes the all-image Dice, which
must equal the log's (it is printed as a check). Writes RUNS/per_image.csv (seed, side, image
index in the val tensors, lesion, dice, iou, pixel_error) and prints the table in Markdown.
"""

import csv
import json
import os
import statistics
import sys

import torch

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(root, "tools"))
import unetpp_export_torch as ux  # noqa: E402
import unetpp_torch  # noqa: E402


def last_row(path):
    """The last epoch's row, the run's seconds, its epochs, and the mean val_dice of the last 3 epochs."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"busi_parity_table.py: {path} has no epochs")
    tail = statistics.mean(float(r["val_dice"]) for r in rows[-3:])
    return rows[-1], sum(float(r["seconds"]) for r in rows), len(rows), tail


def unetpp_net(path):
    """unetpp's checkpoint as a unetpp_torch module in eval mode (optimiser moments left out)."""
    tensors, meta = ux.read_safetensors(path)
    config = ux.infer_config(tensors, json.loads(meta["unetpp.config"]) if "unetpp.config" in meta else None)
    net = ux.build_module(config)
    wanted = net.state_dict()
    state = {}
    for k, t in tensors.items():
        if k not in wanted:
            continue
        state[k] = t.reshape(()).round().to(torch.int64) if k.endswith("num_batches_tracked") else t.float()
    net.load_state_dict(state, strict=True)
    return net.eval()


def torch_net(path, base, depth):
    net = unetpp_torch.unet_bn(base, depth, in_channels=1, classes=1)
    net.load_state_dict(torch.load(path), strict=True)
    return net.eval()


def per_image(net, x, y, batch=16):
    """Dice, IoU and pixel error per image at sigmoid >= 0.5, as unetpp's trainer scores them."""
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            pred = (net(x[i:i + batch]) >= 0).float()
            for p, m in zip(pred, y[i:i + batch]):
                tp = float((p * m).sum())
                fp = float((p * (1 - m)).sum())
                fn = float(((1 - p) * m).sum())
                empty = tp + fp + fn == 0
                out.append({"lesion": int(float(m.sum()) > 0),
                            "dice": 1.0 if empty else 2 * tp / (2 * tp + fp + fn),
                            "iou": 1.0 if empty else tp / (tp + fp + fn),
                            "pixel_error": (fp + fn) / m.numel()})
    return out


def mean_sd(v):
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else float("nan"))


def main(argv):
    if len(argv) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    runs, seeds = argv[0], argv[1:]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    rows, detail = [], []
    for s in seeds:
        run = os.path.join(runs, f"seed{s}")
        tensors, _ = ux.read_safetensors(os.path.join(run, "data.safetensors"))
        x, y = tensors["val_images"].float(), tensors["val_masks"].float()
        with open(os.path.join(run, "config.json")) as f:
            cfg = json.load(f)
        base, depth = int(cfg["base"]), int(cfg["depth"])
        for side, log, net in (
                ("unetpp", os.path.join(run, "log.csv"), lambda: unetpp_net(os.path.join(run, "last.safetensors"))),
                ("PyTorch", os.path.join(run, "torch", "log.csv"),
                 lambda: torch_net(os.path.join(run, "torch", "last.pt"), base, depth))):
            last, seconds, epochs, tail = last_row(log)
            scores = per_image(net(), x, y)
            for i, r in enumerate(scores):
                detail.append({"seed": s, "side": side, "index": i, **r})
            lesion = [r for r in scores if r["lesion"]]
            normal = [r for r in scores if not r["lesion"]]
            rows.append({"seed": s, "side": side, "epochs": epochs, "seconds": seconds,
                         "dice": float(last["val_dice"]), "iou": float(last["val_iou"]), "dice3": tail,
                         "err": float(last["val_pixel_error"]),
                         "dice_check": statistics.mean(r["dice"] for r in scores),
                         "lesion_dice": statistics.mean(r["dice"] for r in lesion),
                         "lesion_iou": statistics.mean(r["iou"] for r in lesion),
                         "normal_empty": sum(r["dice"] == 1.0 for r in normal) / max(1, len(normal)),
                         "n": len(scores), "n_lesion": len(lesion)})
    with open(os.path.join(runs, "per_image.csv.partial"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["seed", "side", "index", "lesion", "dice", "iou", "pixel_error"])
        w.writeheader()
        for r in detail:
            w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(os.path.join(runs, "per_image.csv.partial"), os.path.join(runs, "per_image.csv"))

    n, nl = rows[0]["n"], rows[0]["n_lesion"]
    print(f"One grouped fold of BUSI: {n} validation images, {nl} with a lesion; "
          f"{rows[0]['epochs']} epochs; last epoch's scores.\n")
    print("| seed | side | val Dice (all images) | lesion-image Dice | val IoU | lesion-image IoU "
          "| pixel error | normal images predicted empty | s/run | Dice recomputed |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['seed']} | {r['side']} | {r['dice']:.3f} | {r['lesion_dice']:.3f} | {r['iou']:.3f} | "
              f"{r['lesion_iou']:.3f} | {r['err']:.4f} | {r['normal_empty']:.2f} | {r['seconds']:.0f} | "
              f"{r['dice_check']:.3f} |")
    for side in ("unetpp", "PyTorch"):
        mine = [r for r in rows if r["side"] == side]
        cells = [mean_sd([r[k] for r in mine]) for k in ("dice", "lesion_dice", "iou", "lesion_iou", "err",
                                                          "normal_empty")]
        text = " | ".join(f"{m:.{4 if i == 4 else 3}f} ± {sd:.{4 if i == 4 else 3}f}" for i, (m, sd) in enumerate(cells))
        sec = statistics.mean(r["seconds"] for r in mine)
        print(f"| mean ± sd | {side} | {text} | {sec:.0f} | |")

    print("\nDifference unetpp - PyTorch (mean over seeds), against the seeds' spread "
          "(sample standard deviation of each side, and the standard error of the difference "
          "sqrt(sd_u^2 / n + sd_t^2 / n)):\n")
    print("| metric | unetpp - PyTorch | sd unetpp | sd PyTorch | s.e. of the difference | within the larger sd |")
    print("|---|---:|---:|---:|---:|---|")
    for key, name in (("dice", "val Dice (all images)"), ("lesion_dice", "lesion-image Dice"),
                      ("iou", "val IoU"), ("err", "pixel error"),
                      ("dice3", "val Dice, mean of the last 3 epochs")):
        u = [r[key] for r in rows if r["side"] == "unetpp"]
        t = [r[key] for r in rows if r["side"] == "PyTorch"]
        (mu, su), (mt, st) = mean_sd(u), mean_sd(t)
        se = (su ** 2 / len(u) + st ** 2 / len(t)) ** 0.5
        d = mu - mt
        print(f"| {name} | {d:+.4f} | {su:.4f} | {st:.4f} | {se:.4f} | "
              f"{'yes' if abs(d) <= max(su, st) else 'no'} |")
    su = statistics.mean(r["seconds"] for r in rows if r["side"] == "unetpp")
    st = statistics.mean(r["seconds"] for r in rows if r["side"] == "PyTorch")
    print(f"\nTime per run: unetpp {su:.0f} s, PyTorch {st:.0f} s (PyTorch / unetpp = {st / su:.2f}).")
    worst = max(abs(r["dice"] - r["dice_check"]) for r in rows)
    print(f"Check: the all-image Dice recomputed from the saved weights differs from the logs' by at most {worst:.4f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
