#!/usr/bin/env python3
"""PyTorch side of the unetpp parity tests (tests/parity/test_torch_parity.cpp).

Usage: torch_parity.py IN.safetensors OUT.safetensors

IN holds one test case written by the C++ test:
  metadata   "case" (a name for messages), "module" (which layer or network), the module's
             configuration as strings, and "train" ("1" training mode, "0" eval mode)
  x, x2      the input(s); x2 only for two-input layers (concatenation)
  dy         the upstream gradient of the output
  <name>     every parameter and buffer by its unetpp name, before the forward pass
  y, dx, dx2, grad.<name>, after.<name>
             unetpp's own results; ignored here (kept in the file for debugging)

The script builds the equivalent torch module, copies the parameters and buffers in by name
(each reshaped to the torch tensor's shape; element counts must match), runs forward and
backward in float32, and writes OUT with torch's y, dx (dx2), grad.<param> for every parameter
and after.<buffer> for every buffer, each reshaped to the shape unetpp uses for it.

Safetensors is read and written with json + struct + torch.frombuffer, so the script needs only
torch. Any mismatch between the file and the module (a missing or extra parameter name, a wrong
element count) is an error: exit status 2 and a message on stderr.
"""

import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import unetpp_torch  # noqa: E402

# Names in IN that are not parameters or buffers.
DATA_NAMES = {"x", "x2", "dy", "y", "dx", "dx2"}
RESULT_PREFIXES = ("grad.", "after.")

DTYPES = {"F32": torch.float32, "F64": torch.float64}


class ParityError(Exception):
    pass


# ---- safetensors --------------------------------------------------------------------------------

def read_safetensors(path):
    """Returns ({name: tensor}, {metadata key: value})."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ParityError(f"{path}: truncated file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ParityError(f"{path}: header length {n} exceeds the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, desc in header.items():
        dtype = DTYPES.get(desc["dtype"])
        if dtype is None:
            raise ParityError(f"{path}: tensor {name!r} has unsupported dtype {desc['dtype']}")
        begin, end = desc["data_offsets"]
        raw = bytearray(data[base + begin:base + end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        if sys.byteorder == "big":
            t = torch.tensor(struct.unpack("<%d%s" % (t.numel(), "f" if dtype == torch.float32 else "d"), raw),
                             dtype=dtype)
        tensors[name] = t.reshape(desc["shape"]).clone()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes float32 tensors sorted by name; the header is padded to a multiple of 8."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().reshape(-1)
        raw = struct.pack("<%df" % t.numel(), *t.tolist())
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
        f.flush()
    os.replace(tmp, path)


# ---- modules ------------------------------------------------------------------------------------

def _pad(kernel, pad):
    if pad == "valid":
        return 0, "zeros"
    if pad == "same":
        return kernel // 2, "zeros"
    if pad == "reflect":
        return kernel // 2, "reflect"
    raise ParityError(f"unknown padding {pad!r}")


class FlattenDense(nn.Linear):
    """unetpp flatten followed by dense: Linear on x.flatten(1)."""

    def forward(self, x):
        return super().forward(x.flatten(1))


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


class CropConcat(nn.Module):
    """unetpp concat_channels<true>: cat([centre crop of a to b's size, b], dim=1)."""

    def forward(self, a, b):
        return torch.cat([unetpp_torch.center_crop(a, b.shape[2], b.shape[3]), b], dim=1)


def build_module(m):
    """The torch module for the metadata `m` of a case."""
    kind = m["module"]
    i = lambda key: int(m[key])  # noqa: E731
    f = lambda key: float(m[key])  # noqa: E731
    b = lambda key: m[key] == "1"  # noqa: E731
    if kind == "conv2d":
        p, mode = _pad(i("kernel"), m["pad"])
        return nn.Conv2d(i("in"), i("out"), i("kernel"), stride=i("stride"), padding=p, padding_mode=mode,
                         bias=b("bias"))
    if kind == "conv_transpose2d":
        return nn.ConvTranspose2d(i("in"), i("out"), i("kernel"), stride=i("stride"), padding=i("padding"),
                                  bias=b("bias"))
    if kind == "max_pool2d":
        return nn.MaxPool2d(i("window"), i("stride"))
    if kind == "batch_norm2d":
        return nn.BatchNorm2d(i("channels"), eps=f("eps"), momentum=f("momentum"))
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(f("slope"))
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "softmax":
        return nn.Softmax(dim=1)
    if kind == "flatten_dense":
        return FlattenDense(i("in"), i("out"), bias=b("bias"))
    if kind == "global_avg_pool":
        return GlobalAvgPool()
    if kind == "upsample_bilinear2x":
        return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    if kind == "depthwise_conv2d":
        p, mode = _pad(i("kernel"), m["pad"])
        c = i("channels")
        return nn.Conv2d(c, c, i("kernel"), stride=i("stride"), padding=p, padding_mode=mode, groups=c,
                         bias=b("bias"))
    if kind == "separable_conv2d":
        return unetpp_torch.SeparableConv2d(i("in"), i("out"), i("kernel"), m["pad"], b("bias"))
    if kind == "crop_concat":
        return CropConcat()
    if kind == "unet":
        return unetpp_torch.UNet(in_channels=i("in_channels"), classes=i("classes"), base=i("base"),
                                 depth=i("depth"), kernel=i("kernel"), pad=m["pad"], norm=m["norm"],
                                 dropout=0.0, up=m["up"])
    raise ParityError(f"unknown module {kind!r}")


# ---- the case -----------------------------------------------------------------------------------

def load_state(module, tensors, case):
    """Copies every parameter and buffer from the file into the module, by name."""
    given = {n for n in tensors if n not in DATA_NAMES and not n.startswith(RESULT_PREFIXES)}
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


def run_case(tensors, meta):
    case = meta.get("case", "?")
    torch.manual_seed(0)
    module = build_module(meta)
    load_state(module, tensors, case)
    module.train(meta.get("train", "1") == "1")

    inputs = [tensors["x"].to(torch.float32).requires_grad_(True)]
    if "x2" in tensors:
        inputs.append(tensors["x2"].to(torch.float32).requires_grad_(True))
    y = module(*inputs)
    dy = tensors["dy"].to(torch.float32)
    if y.numel() != dy.numel() or (y.dim() == dy.dim() and tuple(y.shape) != tuple(dy.shape)):
        raise ParityError(f"{case}: torch output has shape {tuple(y.shape)}, unetpp's has {tuple(dy.shape)}")
    y.backward(dy.reshape(y.shape))

    out = {"y": y.detach().reshape(dy.shape), "dx": inputs[0].grad.reshape(tensors["x"].shape)}
    if len(inputs) > 1:
        out["dx2"] = inputs[1].grad.reshape(tensors["x2"].shape)
    for name, p in module.named_parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        out["grad." + name] = g.reshape(tensors[name].shape)
    for name, buf in module.named_buffers():
        out["after." + name] = buf.detach().to(torch.float32).reshape(tensors[name].shape)
    return out, case


def main(argv):
    if len(argv) != 3:
        print("usage: torch_parity.py IN.safetensors OUT.safetensors", file=sys.stderr)
        return 2
    try:
        tensors, meta = read_safetensors(argv[1])
        out, case = run_case(tensors, meta)
        write_safetensors(argv[2], out, {"case": case, "torch": torch.__version__})
    except (ParityError, KeyError, ValueError) as e:
        print(f"torch_parity.py: {argv[1]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
