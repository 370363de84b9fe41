#!/usr/bin/env python3
"""Lists the operations a unetpp backend must provide, read from the `backend_operations` concept
in include/unetpp/backend/backend.hpp (between the `backend-ops:begin` and `backend-ops:end`
markers), as the Markdown table docs/DESIGN.md shows under "Adding a backend".

    scripts/backend_ops.py [ROOT]            print the table
    scripts/backend_ops.py --check [ROOT]    exit 1 unless docs/DESIGN.md holds exactly this table
                                             between <!-- backend-ops:begin --> and <!-- backend-ops:end -->

The concept is the contract the compiler checks (static_assert(Backend<B>)); this script keeps the
document generated from it, so the list a backend author reads cannot drift from the one the
compiler enforces.
"""
import os
import re
import sys

CALL = re.compile(r"^\s*(\{\s*)?B::(\w+)\((.*?)\)\s*(\}\s*->\s*[\w:<>]+)?;\s*(//\s*(.*))?$")
LETTERS = {"p": "P", "c": "C", "i": "I", "ci": "CI", "n": "n", "k": "int", "s": "T", "flag": "bool", "seed": "uint64",
           "d": "double", "conv": "conv_geometry", "convt": "conv_transpose_geometry", "dw": "depthwise_geometry",
           "sgd": "sgd_step", "adam": "adam_step", "loss": "loss_geometry", "region": "region_loss_params",
           "multiclass": "multiclass_loss_params", "pointwise": "pointwise_loss_params"}


def operations(root):
    path = os.path.join(root, "include", "unetpp", "backend", "backend.hpp")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = text.index("// backend-ops:begin"), text.index("// backend-ops:end")
    ops, last = [], None
    for line in text[begin:end].splitlines():
        m = CALL.match(line)
        if m:
            args = [a.strip() for a in m.group(3).split(",") if a.strip()]
            shown = ", ".join(LETTERS.get(a, a.replace("pad_kind::zero", "pad_kind")) for a in args)
            ret = "bool" if "bool" in (m.group(4) or "") else "double" if "double" in (m.group(4) or "") else \
                "string_view" if m.group(4) else "void"
            last = [m.group(2), shown, ret, (m.group(6) or "").strip()]
            ops.append(last)
        elif last is not None and line.strip().startswith("//") and not last[3]:
            last[3] = line.strip()[2:].strip()
        elif last is not None and line.strip().startswith("//"):
            last[3] += "; " + line.strip()[2:].strip()
    return ops


def table(root):
    rows = ["| operation | arguments | returns | notes |", "|---|---|---|---|"]
    for name, args, ret, note in operations(root):
        rows.append(f"| `{name}` | {args} | {ret} | {note.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def main(argv):
    check = "--check" in argv
    rest = [a for a in argv[1:] if a != "--check"]
    root = rest[0] if rest else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    t = table(root)
    if not check:
        sys.stdout.write(t)
        return 0
    doc = os.path.join(root, "docs", "DESIGN.md")
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- backend-ops:begin -->\n(.*?)<!-- backend-ops:end -->", text, re.S)
    if not m:
        print("backend_ops: docs/DESIGN.md has no <!-- backend-ops:begin --> ... <!-- backend-ops:end --> block")
        return 1
    if m.group(1) != t:
        print("backend_ops: the operation table in docs/DESIGN.md differs from the Backend concept in "
              "include/unetpp/backend/backend.hpp; regenerate it with scripts/backend_ops.py")
        return 1
    print(f"backend_ops: docs/DESIGN.md lists the {len(operations(root))} operations of the concept")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
