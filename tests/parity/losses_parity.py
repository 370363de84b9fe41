#!/usr/bin/env python3
"""PyTorch side of the loss parity test (tests/parity/test_losses_parity.cpp).

Usage: losses_parity.py IN.txt OUT.txt

IN is plain text written by the C++ test:
  tensor NAME N C H W        followed by one line of N*C*H*W numbers (NCHW order)
  case NAME LOSS X T         a case: loss LOSS on input tensor X with target tensor T
OUT is written in the same format:
  value NAME V               the loss value of case NAME
  tensor grad.NAME N C H W   followed by d loss / d X

Every loss is computed in float64 with torch.nn.functional where torch has it
(binary_cross_entropy, binary_cross_entropy_with_logits with pos_weight and weight, cross_entropy
with weight, ignore_index and probability targets, l1_loss) and otherwise with hand-written torch
formulas taken from the sources cited in the C++ headers (Dice, IoU, Tversky, focal as in
torchvision.ops.sigmoid_focal_loss, focal on the mean BCE); gradients come from autograd.
Unknown loss names or tensors are an error (exit status 2).
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
            cases.append(parts[1:5])
        else:
            raise ValueError("unknown line: " + lines[i - 1])
    return tensors, cases


def region_sums(x, t, per_image):
    p = torch.sigmoid(x)
    dims = (1, 2, 3) if per_image else (0, 1, 2, 3)
    return (p * t).sum(dims), p.sum(dims), t.sum(dims)


def dice(x, t, smooth=1.0, per_image=False):
    # seed 004 eq. 5: 1 - (2 sum p t + s) / (sum p + sum t + s)
    tp, sp, st = region_sums(x, t, per_image)
    return (1 - (2 * tp + smooth) / (sp + st + smooth)).mean()


def iou(x, t, smooth=1.0):
    # seed 004 eq. 8 with seed 002's smoothing: 1 - (I + s) / (U + s)
    tp, sp, st = region_sums(x, t, False)
    return 1 - (tp + smooth) / (sp + st - tp + smooth)


def tversky(x, t, alpha=0.3, beta=0.7, smooth=1.0):
    # seed 004 eq. 7: alpha on FP = sum p (1 - t), beta on FN = sum (1 - p) t
    p = torch.sigmoid(x)
    tp, fp, fn = (p * t).sum(), (p * (1 - t)).sum(), ((1 - p) * t).sum()
    return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def focal_torchvision(x, t, alpha=0.8, gamma=2.0):
    # torchvision.ops.sigmoid_focal_loss(x, t, alpha, gamma, reduction="mean"), written out
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean()


def focal_mean_bce(x, t, alpha=0.8, gamma=2.0):
    b = F.binary_cross_entropy_with_logits(x, t)
    return alpha * (1 - torch.exp(-b)) ** gamma * b


def balanced_bce(x, t):
    beta = 1 - t.mean()
    return F.binary_cross_entropy_with_logits(x, t, weight=beta * t + (1 - beta) * (1 - t))


CE_WEIGHTS = torch.tensor([0.5, 1.0, 2.0])

LOSSES = {
    "bce_with_logits": lambda x, t: F.binary_cross_entropy_with_logits(x, t),
    "bce": lambda p, t: F.binary_cross_entropy(p, t),
    "weighted_bce": lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(3.0)),
    "balanced_bce": balanced_bce,
    "ce_index": lambda x, t: F.cross_entropy(x, t[:, 0].long(), ignore_index=-100),
    "ce_index_weighted": lambda x, t: F.cross_entropy(x, t[:, 0].long(), weight=CE_WEIGHTS, ignore_index=-100),
    "ce_prob": lambda x, t: F.cross_entropy(x, t),
    "ce_prob_weighted": lambda x, t: F.cross_entropy(x, t, weight=CE_WEIGHTS),
    "mae": lambda x, t: F.l1_loss(torch.sigmoid(x), t),
    "dice": lambda x, t: dice(x, t),
    "dice_per_image": lambda x, t: dice(x, t, per_image=True),
    "iou": iou,
    "tversky": tversky,
    "dice_bce": lambda x, t: F.binary_cross_entropy_with_logits(x, t) + dice(x, t),
    "focal": focal_torchvision,
    "focal_mean_bce": focal_mean_bce,
    "weighted_sum": lambda x, t: 0.5 * dice(x, t) + 0.5 * F.binary_cross_entropy_with_logits(x, t),
}


def fmt(t):
    return " ".join(repr(float(v)) for v in t.reshape(-1).tolist())


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    tensors, cases = read(sys.argv[1])
    out = []
    for name, loss, xname, tname in cases:
        if loss not in LOSSES or xname not in tensors or tname not in tensors:
            print("losses_parity.py: case %s: unknown loss %s or tensor %s / %s" % (name, loss, xname, tname),
                  file=sys.stderr)
            return 2
        x = tensors[xname].clone().requires_grad_(True)
        value = LOSSES[loss](x, tensors[tname])
        value.backward()
        shape = list(x.shape)
        out.append("value %s %r" % (name, float(value)))
        out.append("tensor grad.%s %d %d %d %d" % (name, *shape))
        out.append(fmt(x.grad))
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
