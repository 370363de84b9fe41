#!/bin/sh
# PyTorch <-> unetpp weight transfer through tools/unetpp_export_torch.py, driven by
# tests/parity/test_interop_torch.cpp. The tool commands are the ones docs/INTEROP.md shows.
#
#   torch_roundtrip.sh SOURCE_DIR WORK_DIR torch-to-unetpp
#       trains a UNet a few steps in PyTorch (model.pt, reference.safetensors with x and the
#       eval-mode output y) and converts model.pt to model.safetensors for unetpp
#   torch_roundtrip.sh SOURCE_DIR WORK_DIR unetpp-to-torch
#       converts unetpp's model.safetensors to model.pt and writes PyTorch's eval-mode output on
#       input.safetensors's x to torch_output.safetensors
set -eu
src=$1
work=$2
mode=$3
PATH=/usr/bin:$PATH  # the python3 that has torch
export PATH
cd "$work"
ln -sfn "$src/tools" tools
case "$mode" in
torch-to-unetpp)
    python3 "$src/tests/interop/torch_roundtrip.py" train-torch
python3 tools/unetpp_export_torch.py to-unetpp model.pt -o model.safetensors \
    --config '{"in_channels": 1, "classes": 1, "base": 8, "depth": 3}'
    ;;
unetpp-to-torch)
python3 tools/unetpp_export_torch.py to-torch model.safetensors -o model.pt
    python3 "$src/tests/interop/torch_roundtrip.py" eval-torch
    ;;
*)
    echo "usage: $0 SOURCE_DIR WORK_DIR torch-to-unetpp|unetpp-to-torch" >&2
    exit 2
    ;;
esac
