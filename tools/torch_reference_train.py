#!/usr/bin/env python3
"""PyTorch reference for an unetpp-train run: the same network, loss, optimiser, epochs and batch
size, trained on exactly the same tensors, so that the two frameworks can be compared on one
split (docs/RESULTS.md).

    unetpp-train ... --out RUN --export-data RUN/data.safetensors
    /usr/bin/python3 tools/torch_reference_train.py --run RUN --out RUN/torch

RUN/config.json gives the recipe (model unet_bn, base, depth, loss, optimiser adam, lr, epochs,
batch, seed); RUN/data.safetensors holds train_images, train_masks, val_images, val_masks as
written by --export-data. Writes OUT/log.csv with the columns of unetpp-train's log
(epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds) and OUT/last.pt, the
state_dict after the last epoch (torch.save; tools/unetpp_torch.unet_bn(base, depth) loads it),
the metrics computed as unetpp's trainer does:

  val_loss         the loss, averaged over validation images (batch means weighted by size)
  val_dice/_iou    per image at sigmoid(logit) >= 0.5, then averaged; an image whose
                   prediction and truth are both empty scores 1
  val_pixel_error  per image 1 - pixel accuracy, averaged

The losses are written from the formulas cited in include/unetpp/losses/ (the same ones the
loss parity test checks): bce (with logits), dice (smooth 1, over the batch), dice_bce (sum),
focal (alpha 0.8, gamma 2, mean over pixels, torchvision's form), iou (smooth 1) and tversky
(alpha 0.3 on false positives, beta 0.7 on false negatives, smooth 1).

The initial weights follow unetpp's scheme (include/unetpp/layers/layer.hpp, init_he): every
convolution, transposed convolution and dense weight uniform in +-sqrt(6 / fan_in) (He uniform;
torch's default would be +-1/sqrt(fan_in), 2.45x narrower), biases uniform in +-1/sqrt(fan_in),
batch norm weight 1 and bias 0. The draws come from torch's generator seeded with the run's
seed, and so do the batches: the two runs share data, split, recipe and initial distribution,
not their random numbers. Exit status 2 with a message on bad input.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unetpp_torch  # noqa: E402
from unetpp_export_torch import ExportError, read_safetensors  # noqa: E402


def region_sums(x, t):
    p = torch.sigmoid(x)
    return (p * t).sum(), p.sum(), t.sum()


def dice_loss(x, t, smooth=1.0):
    tp, sp, st = region_sums(x, t)
    return 1 - (2 * tp + smooth) / (sp + st + smooth)


def iou_loss(x, t, smooth=1.0):
    tp, sp, st = region_sums(x, t)
    return 1 - (tp + smooth) / (sp + st - tp + smooth)


def tversky_loss(x, t, alpha=0.3, beta=0.7, smooth=1.0):
    p = torch.sigmoid(x)
    tp, fp, fn = (p * t).sum(), (p * (1 - t)).sum(), ((1 - p) * t).sum()
    return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def focal_loss(x, t, alpha=0.8, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    return ((alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma).mean()


LOSSES = {
    "bce": F.binary_cross_entropy_with_logits,
    "dice": dice_loss,
    "dice_bce": lambda x, t: F.binary_cross_entropy_with_logits(x, t) + dice_loss(x, t),
    "focal": focal_loss,
    "iou": iou_loss,
    "tversky": tversky_loss,
}


class InputError(Exception):
    pass


def load_run(run):
    cfg_path = os.path.join(run, "config.json")
    if not os.path.isfile(cfg_path):
        raise InputError(f"{cfg_path} does not exist; pass the --out folder of an unetpp-train run")
    with open(cfg_path) as f:
        cfg = json.load(f)
    if cfg.get("model", "unet_bn") != "unet_bn":
        raise InputError(f"{cfg_path}: model {cfg['model']!r}; only unet_bn has a reference here")
    if cfg.get("optimizer", "adam") != "adam":
        raise InputError(f"{cfg_path}: optimizer {cfg['optimizer']!r}; only adam has a reference here")
    if cfg.get("schedule", "constant") != "constant":
        raise InputError(f"{cfg_path}: schedule {cfg['schedule']!r}; only constant has a reference here")
    if cfg.get("augment", "off") != "off":
        raise InputError(f"{cfg_path}: augment on; the reference trains on the exported tensors only")
    loss = cfg.get("loss", "dice_bce")
    if loss not in LOSSES:
        raise InputError(f"{cfg_path}: loss {loss!r} is not one of {', '.join(LOSSES)}")
    data_path = cfg.get("export-data", os.path.join(run, "data.safetensors"))
    if not os.path.isfile(data_path):
        raise InputError(f"{data_path} does not exist; run unetpp-train with --export-data")
    tensors, _ = read_safetensors(data_path)
    for k in ("train_images", "train_masks", "val_images", "val_masks"):
        if k not in tensors:
            raise InputError(f"{data_path} has no tensor {k!r}; write it with unetpp-train --export-data")
    return cfg, tensors


def init_like_unetpp(net):
    """unetpp's init_he: weights U(+-sqrt(6 / fan_in)), biases U(+-1 / sqrt(fan_in)), where fan_in
    is what torch computes for the weight (in * k * k for Conv2d, out * k * k for
    ConvTranspose2d, in for Linear)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(m.weight)
                torch.nn.init.uniform_(m.weight, -(6.0 / fan_in) ** 0.5, (6.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    torch.nn.init.uniform_(m.bias, -fan_in ** -0.5, fan_in ** -0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.ones_(m.weight)
                torch.nn.init.zeros_(m.bias)


def evaluate(net, loss_fn, images, masks, batch):
    net.eval()
    loss_sum, dice, iou, err = 0.0, [], [], []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            x, t = images[i:i + batch], masks[i:i + batch]
            logits = net(x)
            loss_sum += float(loss_fn(logits, t)) * x.shape[0]
            pred = (logits >= 0).float()  # sigmoid(logit) >= 0.5
            for p, m in zip(pred, t):
                tp = float((p * m).sum())
                fp = float((p * (1 - m)).sum())
                fn = float(((1 - p) * m).sum())
                both_empty = tp + fp + fn == 0
                dice.append(1.0 if both_empty else 2 * tp / (2 * tp + fp + fn))
                iou.append(1.0 if both_empty else tp / (tp + fp + fn))
                err.append((fp + fn) / m.numel())
    net.train()
    n = images.shape[0]
    return loss_sum / n, sum(dice) / n, sum(iou) / n, sum(err) / n


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the --out folder of an unetpp-train run")
    ap.add_argument("--out", required=True, help="folder for log.csv and last.pt")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    a = ap.parse_args(argv)
    try:
        cfg, tensors = load_run(a.run)
    except (InputError, ExportError, ValueError, KeyError) as e:
        print(f"torch_reference_train.py: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    seed = int(cfg.get("seed", "1"))
    torch.manual_seed(seed)
    base, depth = int(cfg.get("base", "16")), int(cfg.get("depth", "3"))
    xtr, ytr = tensors["train_images"].float(), tensors["train_masks"].float()
    xva, yva = tensors["val_images"].float(), tensors["val_masks"].float()
    net = unetpp_torch.unet_bn(base, depth, in_channels=xtr.shape[1], classes=1)
    init_like_unetpp(net)
    loss_fn = LOSSES[cfg.get("loss", "dice_bce")]
    lr = float(cfg.get("lr", "1e-3"))
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    epochs, batch = int(cfg.get("epochs", "10")), int(cfg.get("batch", "4"))
    gen = torch.Generator().manual_seed(seed)
    os.makedirs(a.out, exist_ok=True)
    rows = ["epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds"]
    net.train()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(xtr.shape[0], generator=gen)
        total, count = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x, t = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(net(x), t)
            if not torch.isfinite(loss):
                print(f"torch_reference_train.py: epoch {epoch}: the loss is {float(loss)}; stopped",
                      file=sys.stderr)
                return 3
            loss.backward()
            opt.step()
            total += float(loss) * x.shape[0]
            count += x.shape[0]
        vl, vd, vi, ve = evaluate(net, loss_fn, xva, yva, batch)
        sec = time.perf_counter() - t0
        rows.append(f"{epoch},{total / count:.9g},{vl:.9g},{vd:.9g},{vi:.9g},{ve:.9g},{lr:.9g},{sec:.9g}")
        print(f"epoch {epoch}/{epochs}  train_loss {total / count:.4f}  val_loss {vl:.4f}  "
              f"val_dice {vd:.4f}  val_pixel_error {ve:.4f}  {sec:.1f}s", flush=True)
    tmp = os.path.join(a.out, "last.pt.partial")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, os.path.join(a.out, "last.pt"))
    tmp = os.path.join(a.out, "log.csv.partial")
    with open(tmp, "w") as f:
        f.write("\n".join(rows) + "\n")
    os.replace(tmp, os.path.join(a.out, "log.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
