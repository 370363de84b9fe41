#!/usr/bin/env python3
"""Moves U-Net weights between PyTorch and unetpp through safetensors files.

PyTorch -> unetpp (a state_dict of tools/unetpp_torch.UNet, or a whole pickled UNet module):

    python3 tools/unetpp_export_torch.py to-unetpp model.pt -o model.safetensors \\
        --config '{"in_channels": 1, "classes": 1, "base": 8, "depth": 3}'

unetpp -> PyTorch (the architecture is read from the file's unetpp.config metadata):

    python3 tools/unetpp_export_torch.py to-torch model.safetensors -o model.pt

Show what a file holds:

    python3 tools/unetpp_export_torch.py info model.safetensors

Tensor names are the state_dict keys of unetpp_torch.UNet, which are unetpp's parameter and
buffer names, and shapes are PyTorch's, except num_batches_tracked: PyTorch keeps it as an int64
scalar, unetpp as a one-element float tensor; this tool converts it both ways. The config keys
are UNet's keyword arguments (in_channels, classes, base, depth, kernel, pad, norm, dropout, up);
keys missing from --config are inferred from the state_dict's shapes, except pad, which shapes
cannot tell apart ("same" unless given).

From Python:

    import unetpp_export_torch as ux
    ux.export_module(model, config, "model.safetensors")      # torch module -> unetpp file
    model = ux.load_unetpp("model.safetensors")               # unetpp file -> torch module (eval)
"""

import argparse
import json
import os
import struct
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unetpp_torch  # noqa: E402

CONFIG_KEYS = ("in_channels", "classes", "base", "depth", "kernel", "pad", "norm", "dropout", "up")
DEFAULTS = {"in_channels": 1, "classes": 1, "base": 64, "depth": 4, "kernel": 3, "pad": "same",
            "norm": "batch", "dropout": 0.0, "up": "transposed"}
READ_DTYPES = {"F32": (torch.float32, 4, "f"), "F64": (torch.float64, 8, "d"), "I64": (torch.int64, 8, "q"),
               "F16": (torch.float16, 2, "e"), "BF16": (torch.bfloat16, 2, None)}
WRITE_DTYPES = {"F32": (torch.float32, "f"), "F64": (torch.float64, "d")}


class ExportError(Exception):
    pass


# ---- safetensors --------------------------------------------------------------------------------

def read_safetensors(path):
    """Returns ({name: tensor}, {metadata key: value}); reads F32, F64, I64, F16 and BF16."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ExportError(f"{path}: truncated file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ExportError(f"{path}: header length {n} exceeds the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(f"{path}: invalid header: {e}") from None
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, desc in header.items():
        if desc.get("dtype") not in READ_DTYPES:
            raise ExportError(f"{path}: tensor {name!r} has unsupported dtype {desc.get('dtype')!r}")
        dtype, size, code = READ_DTYPES[desc["dtype"]]
        begin, end = desc["data_offsets"]
        count = 1
        for d in desc["shape"]:
            count *= d
        if end - begin != count * size or base + end > len(data):
            raise ExportError(f"{path}: tensor {name!r}: data_offsets do not match its shape")
        raw = bytearray(data[base + begin:base + end])
        if sys.byteorder == "big" and code is not None:
            t = torch.tensor(struct.unpack("<%d%s" % (count, code), raw), dtype=dtype)
        else:
            t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(desc["shape"]).clone()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None, dtype="F32"):
    """Writes tensors (converted to F32 or F64) sorted by name; header padded to 8 bytes."""
    tdtype, code = WRITE_DTYPES[dtype]
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(tdtype).contiguous().reshape(-1)
        raw = struct.pack("<%d%s" % (t.numel(), code), *t.tolist())
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


# ---- configuration ------------------------------------------------------------------------------

def config_json(config):
    """The config as unetpp writes it in the unetpp.config metadata (same keys, same order)."""
    return json.dumps({k: config[k] for k in CONFIG_KEYS}, separators=(",", ":"))


def describe(config):
    """unetpp's unet::describe() for this config."""
    pad = {"valid": "unpadded", "same": "zero-padded", "reflect": "reflect-padded"}[config["pad"]]
    return (f"unet<in={config['in_channels']}, classes={config['classes']}, base={config['base']}, "
            f"depth={config['depth']}, kernel={config['kernel']}, {pad}>")


def infer_config(state_dict, given=None):
    """Completes `given` (a dict of UNet keyword arguments) from the state_dict's shapes."""
    given = dict(given or {})
    unknown = set(given) - set(CONFIG_KEYS)
    if unknown:
        raise ExportError(f"unknown config keys {sorted(unknown)} (known: {', '.join(CONFIG_KEYS)})")
    inferred = {}
    w = state_dict.get("enc1.conv1.weight")
    if w is not None and w.dim() == 4:
        inferred.update(base=w.shape[0], in_channels=w.shape[1], kernel=w.shape[-1])
    h = state_dict.get("head.weight")
    if h is not None:
        inferred["classes"] = h.shape[0]
    depth = 0
    while f"enc{depth + 1}.conv1.weight" in state_dict:
        depth += 1
    if depth:
        inferred["depth"] = depth
    inferred["norm"] = "batch" if "enc1.bn1.weight" in state_dict else "none"
    inferred["up"] = "bilinear" if "up1.conv.weight" in state_dict else "transposed"
    config = dict(DEFAULTS)
    config.update(inferred)
    config.update(given)
    for k in ("in_channels", "classes", "base", "depth", "kernel"):
        config[k] = int(config[k])
    config["dropout"] = float(config["dropout"])
    return config


def build_module(config):
    return unetpp_torch.UNet(**{k: config[k] for k in CONFIG_KEYS})


def _plain_state_dict(obj):
    """A state_dict from a state_dict, a module, or a checkpoint dict holding one."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ExportError(f"expected a state_dict or a module, got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not torch.is_tensor(v):
            raise ExportError(f"state_dict entry {k!r} is not a tensor")
        out[k[len("module."):] if k.startswith("module.") else k] = v  # DataParallel prefix
    return out


def check_state_dict(module, state_dict, what):
    """Raises ExportError naming the FIRST tensor (in the module's order) that is missing or has
    another number of elements or shape, then any unexpected one."""
    expected = module.state_dict()
    for name, t in expected.items():
        if name not in state_dict:
            raise ExportError(f"missing tensor {name!r} ({what} expects shape {list(t.shape)})")
        have = state_dict[name]
        if have.numel() != t.numel() or (have.dim() > 0 and t.dim() > 0 and list(have.shape) != list(t.shape)):
            raise ExportError(f"tensor {name!r} has shape {list(have.shape)} ({have.numel()} elements) but {what} "
                              f"expects {list(t.shape)} ({t.numel()} elements)")
    for name in state_dict:
        if name not in expected:
            raise ExportError(f"unexpected tensor {name!r}: {what} has no parameter or buffer of that name")


# ---- PyTorch -> unetpp --------------------------------------------------------------------------

def export_state_dict(state_dict, config, path, dtype="F32"):
    """Checks `state_dict` against UNet(**config) (strict) and writes it for unetpp::io::load_weights."""
    state_dict = _plain_state_dict(state_dict)
    config = infer_config(state_dict, config)
    module = build_module(config)
    check_state_dict(module, state_dict, describe(config))
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ExportError(f"the state_dict does not match {describe(config)}: {e}") from None
    tensors, params, buffers = {}, [], []
    param_names = {n for n, _ in module.named_parameters()}
    for name, t in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            t = t.reshape(1).to(torch.float64)  # unetpp keeps the counter as a [1] float tensor
        tensors[name] = t
        shape = "x".join(str(d) for d in t.shape)
        (params if name in param_names else buffers).append(f"{name}={shape}")
    metadata = {"format": "pt", "unetpp.describe": describe(config), "unetpp.config": config_json(config),
                "unetpp.parameters": ";".join(params), "unetpp.buffers": ";".join(buffers)}
    write_safetensors(path, tensors, metadata, dtype)
    return config


def export_module(module, config, path, dtype="F32"):
    """Writes a unetpp_torch.UNet (or any module with the same state_dict) for unetpp."""
    return export_state_dict(module.state_dict(), config, path, dtype)


# ---- unetpp -> PyTorch --------------------------------------------------------------------------

def unetpp_to_state_dict(path, config=None):
    """Reads a unetpp safetensors file; returns (state_dict in PyTorch dtypes and shapes, config)."""
    tensors, metadata = read_safetensors(path)
    if config is None and "unetpp.config" in metadata:
        config = json.loads(metadata["unetpp.config"])
    config = infer_config(tensors, config)
    state = {}
    for name, t in tensors.items():
        if name.endswith("num_batches_tracked"):
            state[name] = t.reshape(()).round().to(torch.int64)
        else:
            state[name] = t.to(torch.float32)
    return state, config


def load_unetpp(path, config=None):
    """A unetpp_torch.UNet in eval mode holding the weights of a unetpp safetensors file."""
    state, config = unetpp_to_state_dict(path, config)
    module = build_module(config)
    check_state_dict(module, state, describe(config))
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ExportError(f"{path} does not match {describe(config)}: {e}") from None
    return module.eval()


# ---- command line -------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-unetpp", help="PyTorch state_dict (.pt) -> unetpp safetensors")
    a.add_argument("state_dict", help="file written by torch.save(model.state_dict()) or torch.save(model)")
    a.add_argument("-o", "--output", required=True, help="safetensors file to write")
    a.add_argument("--config", default=None, help="JSON object of UNet keyword arguments, or @file.json")
    a.add_argument("--dtype", choices=sorted(WRITE_DTYPES), default="F32")
    b = sub.add_parser("to-torch", help="unetpp safetensors -> PyTorch state_dict (.pt)")
    b.add_argument("weights", help="file written by unetpp::io::save_weights")
    b.add_argument("-o", "--output", default=None, help=".pt file for torch.load (optional: else only checked)")
    b.add_argument("--config", default=None, help="JSON config when the file has no unetpp.config metadata")
    c = sub.add_parser("info", help="print a safetensors file's metadata and tensors")
    c.add_argument("weights")
    args = ap.parse_args(argv)

    def parse_config(text):
        if text is None:
            return None
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        return json.loads(text)

    try:
        if args.command == "to-unetpp":
            obj = torch.load(args.state_dict, map_location="cpu")
            config = export_state_dict(obj, parse_config(args.config), args.output, args.dtype)
            print(f"wrote {args.output}: {describe(config)}")
        elif args.command == "to-torch":
            module = load_unetpp(args.weights, parse_config(args.config))
            if args.output:
                torch.save(module.state_dict(), args.output)
                print(f"wrote {args.output}: {len(module.state_dict())} tensors")
            else:
                print(f"{args.weights}: loads into unetpp_torch.UNet ({len(module.state_dict())} tensors)")
        else:
            tensors, metadata = read_safetensors(args.weights)
            for k, v in sorted(metadata.items()):
                print(f"{k}: {v if len(v) < 200 else v[:200] + '...'}")
            for name in sorted(tensors):
                print(f"{name} {str(tensors[name].dtype).replace('torch.', '')} {list(tensors[name].shape)}")
    except (ExportError, json.JSONDecodeError, OSError) as e:
        print(f"unetpp_export_torch: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
