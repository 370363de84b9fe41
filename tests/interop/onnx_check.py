"""ONNX side of tests/parity/test_interop_onnx.cpp; runs in the test venv that
scripts/install_deps.sh creates (onnx, onnxruntime, numpy; no torch needed).

    python onnx_check.py MODEL.onnx INPUT.safetensors OUTPUT.safetensors

Checks the model with onnx.checker.check_model(full_check=True) (which also runs strict shape
inference), runs it with onnxruntime on the tensor "x" of INPUT, and writes the first output as
"y" to OUTPUT. A model with several outputs (the multi-task U-Net's "segmentation" and
"classification") also has every output written under its graph name. Exits non-zero with the
checker's or the runtime's message on failure.
"""

import json
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, d in header.items():
        dtype = {"F32": "<f4", "F64": "<f8"}[d["dtype"]]
        b, e = d["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=dtype).reshape(d["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main(model_path, input_path, output_path):
    x = read_safetensors(input_path)["x"].astype(np.float32)

    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    print(f"check_model(full_check=True) passed: opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes")

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    y = session.run(None, {session.get_inputs()[0].name: x})[0]

    results = {"y": y}
    outputs = session.get_outputs()
    if len(outputs) > 1:
        values = session.run(None, {session.get_inputs()[0].name: x})
        for meta, value in zip(outputs, values):
            results[meta.name] = value
            print(f"output {meta.name}: shape {list(value.shape)}")
    write_safetensors(output_path, results)


if __name__ == "__main__":
    main(*sys.argv[1:4])
