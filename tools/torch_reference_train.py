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

Patches (a run trained with --patch N, uniform: no --fg-oversample): each epoch every training
image gives one N x N crop at a uniformly random place (top and left from a torch generator of
its own, seeded with the run's seed + 1), as unetpp's loader does with its own random numbers.
Validation follows unetpp-train: images resized with --size are validated whole; images that keep
their own size (--patch without --size) are validated on one fixed N x N patch per image, the
one unetpp draws for epoch 0 (include/unetpp/data/patch.hpp: xoshiro256** seeded with
derive_seed(seed ^ patch_salt, 0, index), index = the image's place in the data set, found from
split.json's stems in natural order), so both logs score the same pixels. In that case the
reference also scores the whole validation images after the last epoch and writes
OUT/full_val.json (the same metrics), and --score-unetpp prints both scores for RUN/last.safetensors
(unetpp's final weights read into the twin network), which checks the patch places: its patch
scores must equal the last row of RUN/log.csv.
"""

import argparse
import json
import os
import re
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
    if float(cfg.get("fg-oversample", "0")) != 0:
        raise InputError(f"{cfg_path}: fg-oversample {cfg['fg-oversample']}; the reference draws uniform patches only")
    for key in ("val-data", "roi-masks", "classes", "resume"):
        if key in cfg and not (key == "classes" and cfg[key] == "1"):
            raise InputError(f"{cfg_path}: --{key} is set; the reference has no counterpart for it")
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
    patch = int(cfg.get("patch", "0"))
    if patch > 0:
        for k in ("train_images", "val_images"):
            h, w = tensors[k].shape[2], tensors[k].shape[3]
            if h < patch or w < patch:
                raise InputError(f"{data_path}: {k} are {w} x {h}, smaller than the {patch} x {patch} patch")
    return cfg, tensors


# ---- patches ------------------------------------------------------------------------------------

M64 = (1 << 64) - 1
PATCH_SALT = 0x7061746368000000  # include/unetpp/data/patch.hpp, patch_salt


def mix64(z):
    """unetpp::numeric::mix64 (splitmix64's finaliser)."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def derive_seed(seed, epoch, index):
    """unetpp::data::derive_seed (include/unetpp/data/augment.hpp)."""
    mix = lambda z: mix64(z + 0x9E3779B97F4A7C15)  # noqa: E731
    return mix(mix(mix(seed) ^ epoch) ^ index)


class Xoshiro:
    """unetpp::rng (include/unetpp/tensor/rng.hpp): xoshiro256** seeded by splitmix64."""

    def __init__(self, seed):
        self.s, z = [], seed & M64
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & M64
            self.s.append(mix64(z))

    def next_u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next_u64() >> 11) * 2.0 ** -53

    def below(self, n):
        return (self.next_u64() * n) >> 64


def unetpp_patch_place(seed, epoch, index, h, w, size):
    """(top, left) of unetpp's uniform patch of data set image `index` in `epoch`
    (data::random_patch with foreground_share 0: one uniform() draw, then top, then left)."""
    r = Xoshiro(derive_seed(seed ^ PATCH_SALT, epoch, index))
    r.uniform()  # the foreground draw, always >= the share 0
    top = r.below(h - size + 1)
    return top, r.below(w - size + 1)


def natural_key(stem):
    """data::natural_less as a sort key: digit runs by value."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", stem) if p]


def val_dataset_indices(run):
    """The data set index of every validation image, in split.json's order: the stems of all
    parts in natural order are the data set's order (ISBI 2012 and folders data)."""
    path = os.path.join(run, "split.json")
    if not os.path.isfile(path):
        raise InputError(f"{path} does not exist; the validation patches need the run's split")
    with open(path) as f:
        split = json.load(f)
    stems = [s for part in ("train", "val", "test") for s in split.get(part, [])]
    order = {s: i for i, s in enumerate(sorted(stems, key=natural_key))}
    return [order[s] for s in split["val"]]


def random_crops(images, masks, size, gen):
    """One uniformly random size x size crop of every image (top and left drawn from gen)."""
    n, _, h, w = images.shape
    tops = torch.randint(0, h - size + 1, (n,), generator=gen)
    lefts = torch.randint(0, w - size + 1, (n,), generator=gen)
    xs = [images[i, :, t:t + size, l:l + size] for i, (t, l) in enumerate(zip(tops.tolist(), lefts.tolist()))]
    ys = [masks[i, :, t:t + size, l:l + size] for i, (t, l) in enumerate(zip(tops.tolist(), lefts.tolist()))]
    return torch.stack(xs), torch.stack(ys)


def validation_patches(run, cfg, images, masks):
    """unetpp-train's validation tensors: the whole images when they were resized (--size) or
    without --patch; else each image's fixed patch of epoch 0."""
    size = int(cfg.get("patch", "0"))
    if size == 0 or cfg.get("image_size", "own") != "own":
        return images, masks
    if cfg.get("data-type", "synthetic") not in ("isbi2012", "folders"):
        raise InputError(f"data-type {cfg.get('data-type')!r}: the validation patches need the data set's order, "
                         "known here for isbi2012 and folders only")
    seed, h, w = int(cfg.get("seed", "1")), images.shape[2], images.shape[3]
    xs, ys = [], []
    for k, index in enumerate(val_dataset_indices(run)):
        t, l = unetpp_patch_place(seed, 0, index, h, w, size)
        xs.append(images[k, :, t:t + size, l:l + size])
        ys.append(masks[k, :, t:t + size, l:l + size])
    return torch.stack(xs), torch.stack(ys)


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


def load_unetpp_checkpoint(path, cfg, in_channels):
    """The twin network holding the weights of an unetpp-train checkpoint (its optimiser state,
    the "optim." tensors, is left out)."""
    tensors, _ = read_safetensors(path)
    net = unetpp_torch.unet_bn(int(cfg.get("base", "16")), int(cfg.get("depth", "3")), in_channels=in_channels,
                               classes=1)
    state = {}
    for name, t in tensors.items():
        if name.startswith("optim."):
            continue
        state[name] = t.reshape(()).round().to(torch.int64) if name.endswith("num_batches_tracked") else t.float()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InputError(f"{path} does not match unet_bn(base, depth) of the run's config: {e}") from None
    return net.eval()


def scores(net, loss_fn, images, masks, batch):
    vl, vd, vi, ve = evaluate(net, loss_fn, images, masks, batch)
    return {"images": images.shape[0], "height": images.shape[2], "width": images.shape[3],
            "val_loss": vl, "val_dice": vd, "val_iou": vi, "val_pixel_error": ve}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the --out folder of an unetpp-train run")
    ap.add_argument("--out", required=True, help="folder for log.csv and last.pt")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--score-unetpp", action="store_true",
                    help="train nothing: print the validation scores of RUN/last.safetensors (JSON)")
    a = ap.parse_args(argv)
    try:
        cfg, tensors = load_run(a.run)
        xva_full, yva_full = tensors["val_images"].float(), tensors["val_masks"].float()
        xva, yva = validation_patches(a.run, cfg, xva_full, yva_full)
        if a.score_unetpp:
            weights = os.path.join(a.run, "last.safetensors")
            if not os.path.isfile(weights):
                raise InputError(f"{weights} does not exist; --score-unetpp needs a finished run")
            net = load_unetpp_checkpoint(weights, cfg, xva_full.shape[1])
    except (InputError, ExportError, ValueError, KeyError) as e:
        print(f"torch_reference_train.py: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    loss_fn = LOSSES[cfg.get("loss", "dice_bce")]
    batch = int(cfg.get("batch", "4"))
    if a.score_unetpp:
        print(json.dumps({"val": scores(net, loss_fn, xva, yva, batch),
                          "full_val": scores(net, loss_fn, xva_full, yva_full, batch)}))
        return 0
    seed = int(cfg.get("seed", "1"))
    torch.manual_seed(seed)
    base, depth = int(cfg.get("base", "16")), int(cfg.get("depth", "3"))
    xtr, ytr = tensors["train_images"].float(), tensors["train_masks"].float()
    patch = int(cfg.get("patch", "0"))
    crop_gen = torch.Generator().manual_seed(seed + 1)  # the patches' own stream
    net = unetpp_torch.unet_bn(base, depth, in_channels=xtr.shape[1], classes=1)
    init_like_unetpp(net)
    lr = float(cfg.get("lr", "1e-3"))
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    epochs = int(cfg.get("epochs", "10"))
    gen = torch.Generator().manual_seed(seed)
    os.makedirs(a.out, exist_ok=True)
    rows = ["epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds"]
    net.train()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(xtr.shape[0], generator=gen)
        xep, yep = random_crops(xtr, ytr, patch, crop_gen) if patch > 0 else (xtr, ytr)
        total, count = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x, t = xep[idx], yep[idx]
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
    if xva.shape != xva_full.shape:  # validated on patches: also score the whole images
        tmp = os.path.join(a.out, "full_val.json.partial")
        with open(tmp, "w") as f:
            json.dump(scores(net, loss_fn, xva_full, yva_full, batch), f)
            f.write("\n")
        os.replace(tmp, os.path.join(a.out, "full_val.json"))
    tmp = os.path.join(a.out, "log.csv.partial")
    with open(tmp, "w") as f:
        f.write("\n".join(rows) + "\n")
    os.replace(tmp, os.path.join(a.out, "log.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
