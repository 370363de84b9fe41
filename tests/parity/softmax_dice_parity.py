#!/usr/bin/env python3
"""PyTorch side of the multi-class Dice parity test (tests/parity/test_softmax_dice_parity.cpp).

Usage: softmax_dice_parity.py IN.txt OUT.txt

IN is plain text written by the C++ test:
  tensor NAME N C H W        followed by one line of N*C*H*W numbers (NCHW order)
  case NAME LOSS X T W       a case: loss LOSS on logits X with target T and pixel weights W
                             (W is "-" for none)
OUT is written in the same format:
  value NAME V               the loss value of case NAME
  tensor grad.NAME N C H W   followed by d loss / d X

The Dice term is MONAI's DiceLoss(softmax=True, to_onehot_y=True) written out in torch (MONAI is
not needed): per image and class (batch=False) or per class over the batch (batch=True),
D = (2 sum p t + s) / (sum p + sum t + s) with p = softmax(x) over channels, the loss 1 - mean D.
Pixels whose index target is ignore_index -100 or 255 (see LOSSES) and pixel weights multiply
every sum. Dice + CE adds torch.nn.functional.cross_entropy (MONAI's DiceCELoss). Everything runs
in float64 and gradients come from autograd. Unknown loss names or tensors are an error (exit 2).
"""

import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def read(path):
    tensors, cases = {}, []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        parts = lines[i].split()
        i += 1
        if not parts:
            continue
        if parts[0] == "tensor":
            name, shape = parts[1], [int(v) for v in parts[2:6]]
            values = [float(v) for v in lines[i].split()]
            i += 1
            tensors[name] = torch.tensor(values, dtype=torch.float64).reshape(shape)
        elif parts[0] == "case":
            cases.append(parts[1:6])
        else:
            raise ValueError("unknown line: " + lines[i - 1])
    return tensors, cases


def dice(x, t, w=None, include_background=True, smooth=1e-5, batch=False, ignore_index=-100):
    classes = x.shape[1]
    p = torch.softmax(x, 1)
    if t.shape[1] == 1:  # class indices: one-hot, skipping ignore_index
        valid = t != ignore_index
        labels = torch.where(valid, t, torch.zeros_like(t)).long()[:, 0]
        onehot = F.one_hot(labels, classes).permute(0, 3, 1, 2).to(x.dtype)
        mask = valid.to(x.dtype)
    else:
        onehot, mask = t, torch.ones_like(t[:, :1])
    if w is not None:
        mask = mask * w
    if not include_background:
        p, onehot = p[:, 1:], onehot[:, 1:]
    dims = (0, 2, 3) if batch else (2, 3)
    inter = (mask * p * onehot).sum(dims)
    psum = (mask * p).sum(dims)
    tsum = (mask * onehot).sum(dims)
    return (1 - (2 * inter + smooth) / (psum + tsum + smooth)).mean()


def ce(x, t, w=None, ignore_index=-100, class_weights=None):
    if t.shape[1] != 1:
        return F.cross_entropy(x, t, weight=class_weights)
    labels = t[:, 0].long()
    if w is None:
        return F.cross_entropy(x, labels, weight=class_weights, ignore_index=ignore_index)
    # pixel weights: sum_i w_i w_{y_i} l_i / sum_i w_i w_{y_i} (losses/cross_entropy.hpp)
    valid = labels != ignore_index
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    per = F.cross_entropy(x, safe, weight=class_weights, reduction="none")
    cw = class_weights[safe] if class_weights is not None else torch.ones_like(per)
    pw = w[:, 0] * valid.to(x.dtype)
    return (pw * per).sum() / (pw * cw).sum()


CLASS_WEIGHTS = torch.tensor([1.0, 2.0, 0.5, 3.0])

LOSSES = {
    "dice": lambda x, t, w: dice(x, t, w),
    "dice_no_background": lambda x, t, w: dice(x, t, w, include_background=False),
    "dice_batch": lambda x, t, w: dice(x, t, w, batch=True),
    "dice_smooth1_batch_no_background": lambda x, t, w: dice(x, t, w, include_background=False, smooth=1.0,
                                                             batch=True),
    "dice_ignore255": lambda x, t, w: dice(x, t, w, ignore_index=255),
    "dice_ce": lambda x, t, w: dice(x, t, w) + ce(x, t, w),
    "dice_ce_lambdas": lambda x, t, w: 0.3 * dice(x, t, w, include_background=False, ignore_index=255)
    + 1.7 * ce(x, t, w, ignore_index=255, class_weights=CLASS_WEIGHTS),
}


def fmt(t):
    return " ".join(repr(float(v)) for v in t.reshape(-1).tolist())


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    tensors, cases = read(sys.argv[1])
    out = []
    for name, loss, xname, tname, wname in cases:
        if loss not in LOSSES or xname not in tensors or tname not in tensors or (wname != "-" and
                                                                                  wname not in tensors):
            print("softmax_dice_parity.py: case %s: unknown loss %s or tensor %s / %s / %s"
                  % (name, loss, xname, tname, wname), file=sys.stderr)
            return 2
        x = tensors[xname].clone().requires_grad_(True)
        value = LOSSES[loss](x, tensors[tname], None if wname == "-" else tensors[wname])
        value.backward()
        out.append("value %s %r" % (name, float(value)))
        out.append("tensor grad.%s %d %d %d %d" % (name, *x.shape))
        out.append(fmt(x.grad))
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
