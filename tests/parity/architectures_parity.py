#!/usr/bin/env python3
"""PyTorch side of tests/parity/test_architectures_parity.cpp: whole-network parity of the
architecture presets (B-Cir U-Net, residual multi-task U-Net, Attention U-Net, the CBR U-Net,
UNet++ and deep supervision) with their torch twins in tools/unetpp_torch.py.

Usage: architectures_parity.py IN.safetensors OUT.safetensors

IN holds one case written by the C++ test, in the format of torch_parity.py:
  metadata   "case", "module" (bcir_unet, attention_unet, residual_multitask_unet, unet_bn,
             unet_cbr, unet_plusplus or deeply_supervised, which wraps the network named by
             "inner"), the constructor arguments of the twin as strings, "train" ("1" or "0")
  x          the input image batch
  dy         upstream gradient of the output (single-output networks), or
  dseg, dcls upstream gradients of the segmentation and classification logits (multitask)
  daux<k>    upstream gradient of auxiliary output k (deeply_supervised; dy is the main one's)
  <name>     every parameter and buffer by its unetpp name, before the forward pass
  y / seg, cls / aux<k>, dx, grad.<name>, after.<name>
             unetpp's own results; ignored here

The script builds the twin, copies every parameter and buffer in by name (element counts must
match; a missing or extra name is an error), runs forward and backward in float32 and writes OUT
with torch's y (or seg and cls; or y and aux<k>), dx, grad.<param> for every parameter and after.<buffer> for
every buffer, each reshaped to unetpp's shape for it, and min_pool_gap: the smallest relative
gap between the two largest values of any max-pooling window in the forward pass (see
PoolGapRecorder). Exit status 2 with a message on mismatch.
"""

import os
import re
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import unetpp_torch  # noqa: E402
from torch_parity import ParityError, read_safetensors, write_safetensors  # noqa: E402

DATA_NAMES = {"x", "dy", "dseg", "dcls", "y", "seg", "cls", "dx"}
AUX_NAME = re.compile(r"d?aux\d+")  # auxiliary outputs and their gradients (deeply_supervised)
RESULT_PREFIXES = ("grad.", "after.")


def build_module(m):
    kind = m["module"]
    i = lambda key: int(m[key])  # noqa: E731
    f = lambda key: float(m[key])  # noqa: E731
    if kind == "bcir_unet":
        return unetpp_torch.BCirUNet(in_channels=i("in_channels"), classes=i("classes"), base=i("base"),
                                     depth=i("depth"), dropout=f("dropout"))
    if kind == "attention_unet":
        return unetpp_torch.AttentionUNet(in_channels=i("in_channels"), classes=i("classes"), base=i("base"),
                                          depth=i("depth"), kernel=i("kernel"), pad=m["pad"], norm=m["norm"])
    if kind == "residual_multitask_unet":
        return unetpp_torch.ResidualMultitaskUNet(image_size=i("image_size"), in_channels=i("in_channels"),
                                                  classes=i("classes"), base=i("base"), depth=i("depth"),
                                                  dropout=f("dropout"), hidden=i("hidden"))
    if kind == "unet_bn":
        return unetpp_torch.unet_bn(base=i("base"), depth=i("depth"), in_channels=i("in_channels"),
                                    classes=i("classes"))
    if kind == "unet_cbr":
        return unetpp_torch.unet_cbr(base=i("base"), depth=i("depth"), in_channels=i("in_channels"),
                                     classes=i("classes"))
    if kind == "unet_plusplus":
        return unetpp_torch.unet_plusplus(base=i("base"), depth=i("depth"), in_channels=i("in_channels"),
                                          classes=i("classes"))
    if kind == "deeply_supervised":
        inner = dict(m, module=m["inner"])
        return unetpp_torch.DeeplySupervised(build_module(inner))
    raise ParityError(f"unknown module {kind!r}")


def load_state(module, tensors, case):
    given = {n for n in tensors
             if n not in DATA_NAMES and not n.startswith(RESULT_PREFIXES)
             and not AUX_NAME.fullmatch(n)}
    state = module.state_dict()
    missing = sorted(set(state) - given)
    extra = sorted(given - set(state))
    if missing or extra:
        raise ParityError(f"{case}: parameter names differ from torch's state_dict; "
                          f"missing in the file: {missing}; not in torch: {extra}")
    with torch.no_grad():
        for name, target in state.items():
            src = tensors[name]
            if src.numel() != target.numel():
                raise ParityError(f"{case}: {name} has {src.numel()} elements in the file, "
                                  f"torch expects {tuple(target.shape)}")
            target.copy_(src.reshape(target.shape).to(target.dtype))


class PoolGapRecorder:
    """Records, over every F.max_pool2d call of a forward pass, the smallest gap between the
    largest and second-largest value of a pooling window, relative to max(1, |largest|).

    Max pooling routes the gradient to one winner per window. Where the top two values of a
    window lie within float32 rounding of each other, unetpp's and torch's forward passes (which
    add in different orders) may pick different winners, and every gradient upstream of that
    window then differs by far more than rounding. The C++ test redraws such a case."""

    def __init__(self):
        self.min_gap = float("inf")
        self._original = None

    def __enter__(self):
        self._original = F.max_pool2d

        def recording(x, kernel_size, stride=None, padding=0, *args, **kwargs):
            self._record(x, kernel_size, stride, padding)
            return self._original(x, kernel_size, stride, padding, *args, **kwargs)

        F.max_pool2d = recording
        return self

    def __exit__(self, *exc):
        F.max_pool2d = self._original
        return False

    def _record(self, x, kernel_size, stride, padding):
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        (kh, kw), (sh, sw) = pair(kernel_size), pair(stride if stride else kernel_size)
        if kh * kw < 2:
            return
        with torch.no_grad():
            v = x.detach()
            if any(pair(padding)):
                ph, pw = pair(padding)
                v = F.pad(v, (pw, pw, ph, ph), value=float("-inf"))
            windows = v.unfold(2, kh, sh).unfold(3, kw, sw).reshape(*v.shape[:2], -1, kh * kw)
            top = windows.topk(2, dim=-1).values
            gap = (top[..., 0] - top[..., 1]) / top[..., 0].abs().clamp(min=1.0)
            # Windows of exact zeros (after a ReLU) are exact in both frameworks, and both then
            # pick the first element: not a rounding question.
            exact_zeros = (top[..., 0] == 0) & (top[..., 1] == 0)
            gap = gap[torch.isfinite(gap) & ~exact_zeros]
            if gap.numel():
                self.min_gap = min(self.min_gap, gap.min().item())


def run_case(tensors, meta):
    case = meta.get("case", "?")
    torch.manual_seed(0)
    module = build_module(meta)
    load_state(module, tensors, case)
    train = meta.get("train", "1") == "1"
    module.train(train)
    if train and any(isinstance(mod, torch.nn.Dropout) and mod.p > 0 for mod in module.modules()):
        raise ParityError(f"{case}: training-mode parity needs dropout 0 (the masks cannot be shared)")

    x = tensors["x"].to(torch.float32).requires_grad_(True)
    with PoolGapRecorder() as pools:
        out = module(x)
    results = {}
    if isinstance(out, tuple) and isinstance(out[1], list):
        main, aux = out
        grads = [tensors["dy"].to(torch.float32)] + [tensors[f"daux{k}"].to(torch.float32) for k in range(len(aux))]
        outs = [main] + aux
        for o, g in zip(outs, grads):
            if o.numel() != g.numel():
                raise ParityError(f"{case}: torch output has shape {tuple(o.shape)}, unetpp's {tuple(g.shape)}")
        torch.autograd.backward(outs, [g.reshape(o.shape) for o, g in zip(outs, grads)])
        results["y"] = main.detach().reshape(grads[0].shape)
        for k, a in enumerate(aux):
            results[f"aux{k}"] = a.detach().reshape(grads[k + 1].shape)
    elif isinstance(out, tuple):
        seg, cls = out
        dseg, dcls = tensors["dseg"].to(torch.float32), tensors["dcls"].to(torch.float32)
        if seg.numel() != dseg.numel() or cls.numel() != dcls.numel():
            raise ParityError(f"{case}: torch outputs {tuple(seg.shape)}, {tuple(cls.shape)}; unetpp's "
                              f"{tuple(dseg.shape)}, {tuple(dcls.shape)}")
        torch.autograd.backward([seg, cls], [dseg.reshape(seg.shape), dcls.reshape(cls.shape)])
        results["seg"] = seg.detach().reshape(dseg.shape)
        results["cls"] = cls.detach().reshape(dcls.shape)
    else:
        dy = tensors["dy"].to(torch.float32)
        if out.numel() != dy.numel():
            raise ParityError(f"{case}: torch output has shape {tuple(out.shape)}, unetpp's {tuple(dy.shape)}")
        out.backward(dy.reshape(out.shape))
        results["y"] = out.detach().reshape(dy.shape)
    results["dx"] = x.grad.reshape(tensors["x"].shape)
    for name, p in module.named_parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        results["grad." + name] = g.reshape(tensors[name].shape)
    for name, buf in module.named_buffers():
        results["after." + name] = buf.detach().to(torch.float32).reshape(tensors[name].shape)
    results["min_pool_gap"] = torch.tensor([min(pools.min_gap, 1e30)], dtype=torch.float32)
    return results, case


def main(argv):
    if len(argv) != 3:
        print("usage: architectures_parity.py IN.safetensors OUT.safetensors", file=sys.stderr)
        return 2
    try:
        tensors, meta = read_safetensors(argv[1])
        out, case = run_case(tensors, meta)
        write_safetensors(argv[2], out, {"case": case, "torch": torch.__version__})
    except (ParityError, KeyError, ValueError) as e:
        print(f"architectures_parity.py: {argv[1]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
