#!/usr/bin/env python3
"""Checks the include direction of the library's headers (include/unetpp/).

The library is built in floors; a header may include headers of its own folder and of the
folders its floor lists below, never one above it (docs/DESIGN.md, "Layers of the house"):

    config                      the inline ABI namespace (config/abi.hpp); every floor includes it
    tensor                      shapes, the tensor, random numbers
    backend                     the CPU kernels and the backend types
    exec                        memory planning: workspaces, loans, the fusion rule, inference_mode
    heads                       typed outputs (logits, probabilities) and multi-head outputs
    layers                      one operation each, with its gradient
    blocks                      layers composed (double conv, residual, attention gate, ...)
    losses, metrics, optim      on tensors and typed outputs (and a few kernels)
    models                      whole networks
    io                          images, weights, checkpoints, ONNX
    data, infer                 data sets and loaders; tiling, TTA, ensembles
    dist                        data parallel: communicators, gradient exchange, sharded loaders
    train                       the trainer, checkpoints and callbacks
    testing                     tools for users' own tests (the gradient checker), on tensors only

layers, blocks, models, heads and optim include from backend only the contract
(backend/backend.hpp) and the profiler, never an implementation such as backend/cpu.hpp.

Top-level headers (unet.hpp, losses.hpp, ...) gather a folder and may include anything in
include/unetpp. Nothing in include/ may include tools/ or tests/.

Exceptions that exist today are listed in KNOWN with the reason; the check fails on any other
upward include, and also when a listed exception has gone (so that the list is trimmed).

Every header (and every source file under src/) declares the library's names in the inline ABI
namespace: a line opening `namespace unetpp` must read `namespace unetpp::inline UNETPP_ABI...`
(`UNETPP_ABI_DEVICE` for `cuda_kernels`, config/abi.hpp), so no name escapes the tag; the CPU
kernels' namespace opens its inner one too: `backend::cpu_kernels::inline UNETPP_KERNELS_ABI`.

The programs under tools/ use only public names: a qualified name through one of the library's
`detail` namespaces (`unetpp::io::atomic_detail::...`, `dist::detail::...`) fails the check
(docs/DESIGN.md, "Naming": private). The tools' own `detail` namespaces are theirs.

    scripts/check_includes.py [ROOT]      exit 0: clean; 1: violations (printed); 2: usage
"""
import os
import re
import sys

# config/ (the ABI namespace) is below every floor: any header may include it.
BASE = "config"

ALLOWED = {
    "config": set(),
    "tensor": set(),
    "detail": {"io"},  # stb's implementation unit uses io/detail/decode_alloc.hpp's allocator
    "backend": {"tensor"},
    "heads": {"backend", "tensor"},
    "exec": {"tensor"},
    "layers": {"exec", "backend", "tensor"},
    "blocks": {"layers", "exec", "backend", "tensor"},
    "losses": {"heads", "backend", "tensor"},
    "metrics": {"heads", "backend", "tensor"},
    "optim": {"backend", "tensor"},
    "models": {"blocks", "layers", "exec", "heads", "backend", "tensor"},
    "io": {"models", "blocks", "layers", "exec", "heads", "backend", "tensor", "detail"},
    "data": {"io", "backend", "tensor", "detail"},
    "infer": {"io", "models", "layers", "exec", "heads", "backend", "tensor"},
    "dist": {"data", "metrics", "layers", "exec", "backend", "tensor"},  # sharded loaders, validation, gradient listener
    "testing": {"tensor"},  # the gradient checker is generic over the layer type
    "train": {"dist", "data", "infer", "io", "models", "blocks", "layers", "exec", "heads", "losses", "metrics",
              "optim", "backend", "tensor", "detail"},
}

# Floors that are written against the backend contract only: from `backend` they may include the
# contract and the profiler, never an implementation (backend/cpu.hpp, the CPU kernels), so a
# device backend is a pure addition (docs/DESIGN.md, "Adding a backend").
CONTRACT_ONLY = {"layers", "blocks", "models", "heads", "optim"}
BACKEND_NEUTRAL = {"backend/backend.hpp", "backend/profiler.hpp"}

# (including file, included folder): why it is allowed for now.
KNOWN = {}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
NAMESPACE = re.compile(r'^\s*namespace\s+unetpp\b(.*)$')
ABI_OPEN = re.compile(r'^::inline (UNETPP_ABI|UNETPP_ABI_DEVICE)((?:::\w+)*)(::inline UNETPP_KERNELS_ABI(?:::\w+)*)? \{')


LIBRARY_NAMESPACES = ("unetpp", "io", "dist", "train", "backend", "models", "layers", "blocks", "data", "infer",
                      "losses", "metrics", "optim", "exec", "heads", "memory", "numeric", "cuda_kernels",
                      "cuda_runtime", "testing", "profiler", "presets", "cpu_kernels")
PRIVATE_USE = re.compile(r"\b(?:%s)::(?:\w+::)*?(\w*detail)\b" % "|".join(LIBRARY_NAMESPACES))


def private_use(rel, lineno, line):
    """Why a line of a tools/ file names the library's private namespaces, or None."""
    code = line.split("//", 1)[0]
    m = PRIVATE_USE.search(code)
    if not m:
        return None
    return (f"{rel}:{lineno}: uses {m.group(0)}, a private namespace of the library; tools use public names "
            f"(make what the program needs public, docs/DESIGN.md 'Naming')")


def abi_problem(rel, lineno, line):
    """Why a line that opens namespace unetpp is outside the ABI namespace, or None."""
    m = NAMESPACE.match(line)
    if not m or m.group(1).lstrip().startswith("="):  # not an opening, or an alias
        return None
    rest = m.group(1)
    a = ABI_OPEN.match(rest)
    if not a:
        return (f"{rel}:{lineno}: opens namespace unetpp outside the ABI namespace; write "
                f"`namespace unetpp::inline UNETPP_ABI{rest.split('{')[0].rstrip()} {{` (config/abi.hpp)")
    if re.match(r"^::backend::cpu_kernels(?:$|::)", a.group(2)) and not a.group(3):
        return (f"{rel}:{lineno}: namespace unetpp{a.group(2)} must open the kernels' inner namespace: "
                f"`backend::cpu_kernels::inline UNETPP_KERNELS_ABI` (config/abi.hpp)")
    device = a.group(2).startswith("::cuda_kernels")
    if device != (a.group(1) == "UNETPP_ABI_DEVICE"):
        want = "UNETPP_ABI_DEVICE" if device else "UNETPP_ABI"
        return f"{rel}:{lineno}: namespace unetpp{a.group(2)} belongs in {want} (config/abi.hpp)"
    return None


def folder_of(rel):
    """The floor of a header path relative to include/unetpp ('' for top-level headers)."""
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else ""


def target_of(header_rel, spelled, quote):
    """The path (relative to include/unetpp) an include names, or None when it is not ours."""
    if quote == "<":
        if spelled.startswith("unetpp/"):
            return spelled[len("unetpp/"):]
        return None
    base = os.path.dirname(header_rel)
    return os.path.normpath(os.path.join(base, spelled)).replace(os.sep, "/")


def check_lines(root, folder, check):
    """check(rel, lineno, line) over every source line of root/folder; the problems it reports."""
    found = []
    top = os.path.join(root, folder)
    for dirpath, _, files in os.walk(top):
        for name in sorted(files):
            if not name.endswith((".hpp", ".h", ".cuh", ".cpp", ".cu")):
                continue
            path = os.path.join(dirpath, name)
            rel = folder + "/" + os.path.relpath(path, top).replace(os.sep, "/")
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    why = check(rel, lineno, line)
                    if why:
                        found.append(why)
    return found


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    inc = os.path.join(root, "include", "unetpp")
    if not os.path.isdir(inc):
        print(f"check_includes: no include/unetpp under {root}", file=sys.stderr)
        return 2
    problems, seen_known, checked = [], set(), 0
    for dirpath, _, files in os.walk(inc):
        for name in sorted(files):
            if not name.endswith((".hpp", ".h", ".cuh")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, inc).replace(os.sep, "/")
            src = folder_of(rel)
            checked += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    why = abi_problem(rel, lineno, line)
                    if why:
                        problems.append(why)
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    quote, spelled = m.group(1), m.group(2)
                    if re.search(r"(^|/)(tools|tests)/", spelled):
                        problems.append(f"{rel}:{lineno}: includes {spelled}: the library may not include tools/ or tests/")
                        continue
                    target = target_of(rel, spelled, quote)
                    if target is None:
                        continue
                    if target.startswith("../"):
                        problems.append(f"{rel}:{lineno}: includes {spelled}, outside include/unetpp")
                        continue
                    dst = folder_of(target)
                    if src == "" or dst == src or dst == BASE:
                        continue
                    if dst == "":
                        problems.append(f"{rel}:{lineno}: includes the top-level header {target}; include the "
                                        f"folder's own header instead (top-level headers gather, they are not floors)")
                        continue
                    if src not in ALLOWED:
                        problems.append(f"{rel}:{lineno}: folder '{src}' has no floor in scripts/check_includes.py; "
                                        f"add it to ALLOWED and to docs/DESIGN.md")
                        continue
                    if dst in ALLOWED[src]:
                        if src in CONTRACT_ONLY and dst == "backend" and target not in BACKEND_NEUTRAL:
                            problems.append(f"{rel}:{lineno}: '{src}' includes {target}, a backend implementation; "
                                            f"'{src}' is written against the contract only "
                                            f"({', '.join(sorted(BACKEND_NEUTRAL))})")
                        continue
                    if (rel, dst) in KNOWN:
                        seen_known.add((rel, dst))
                        continue
                    problems.append(f"{rel}:{lineno}: '{src}' includes {target} from '{dst}', which is not below it "
                                    f"(allowed: {', '.join(sorted(ALLOWED[src])) or 'nothing'})")
    problems += check_lines(root, "src", abi_problem)
    problems += check_lines(root, "tools", private_use)
    for key, why in sorted(KNOWN.items()):
        if key not in seen_known:
            problems.append(f"the listed exception {key[0]} -> {key[1]} ({why}) no longer exists: remove it from KNOWN")
    for p in problems:
        print(p)
    print(f"check_includes: {checked} headers, {len(problems)} problem(s), {len(seen_known)} listed exception(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
