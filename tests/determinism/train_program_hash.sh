#!/usr/bin/env bash
# A stand-in for determinism_train_hash that runs the real command-line program: trains with
# unetpp-train (path in $UNETPP_TRAIN) on its built-in synthetic data into a new temporary
# folder and prints "hash <16 hex digits>" of the tensors of the last checkpoint (weights and
# optimiser moments; the metadata is left out). run_under_load.sh runs it three ways.
#
# Usage: UNETPP_TRAIN=<unetpp-train> train_program_hash.sh --threads N
set -u
train=${UNETPP_TRAIN:-}
if [[ -z "$train" || ! -x "$train" ]]; then
    echo "train_program_hash.sh: set UNETPP_TRAIN to the unetpp-train program ('$train' is not one)" >&2
    exit 2
fi
threads=2
if [[ "${1:-}" == "--threads" ]]; then threads=${2:-2}; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/unetpp_det.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
if ! "$train" --data-type synthetic --synthetic-count 16 --size 32 --base 8 --depth 3 --epochs 2 --batch 4 \
        --seed 7 --threads "$threads" --quiet --out "$work/run" >"$work/train.log" 2>&1; then
    cat "$work/train.log" >&2
    echo "train_program_hash.sh: unetpp-train failed" >&2
    exit 1
fi
ckpt="$work/run/last.safetensors"
# safetensors: 8-byte little-endian header length, the JSON header, then the tensor data.
header_len=$(od -An -t u8 -N 8 "$ckpt" | tr -d ' ')
digest=$(tail -c +"$((8 + header_len + 1))" "$ckpt" | sha256sum | cut -c1-16)
echo "hash $digest"
