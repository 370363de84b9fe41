"""Reads the event file of unetpp-train --tensorboard back with the tensorboard package and checks
every tag and value against the run's log.csv (tests/tools/report.cmake).

usage: check_tensorboard.py TB_DIR LOG_CSV
Exit 0 when every epoch's scalars are there with the log's values (as 32-bit floats), 1 otherwise.
"""
import csv
import glob
import math
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

TAGS = {"train/loss": "train_loss", "val/loss": "val_loss", "val/dice": "val_dice", "val/iou": "val_iou",
        "val/pixel_error": "val_pixel_error", "lr": "lr", "time/epoch_seconds": "seconds"}


def fail(msg):
    print("check_tensorboard: " + msg)
    sys.exit(1)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    tb_dir, log_csv = sys.argv[1], sys.argv[2]
    files = glob.glob(os.path.join(tb_dir, "events.out.tfevents.*"))
    if len(files) != 1:
        fail("want one event file in %s, found %r" % (tb_dir, files))
    # the framing, checked with TensorBoard's own CRC: length, masked CRC, payload, masked CRC
    data = open(files[0], "rb").read()
    at, records = 0, 0
    while at < len(data):
        (n,) = struct.unpack("<Q", data[at:at + 8])
        (c,) = struct.unpack("<I", data[at + 8:at + 12])
        if c != masked_crc32c(data[at:at + 8]):
            fail("record %d: length checksum" % records)
        (c,) = struct.unpack("<I", data[at + 12 + n:at + 16 + n])
        if c != masked_crc32c(data[at + 12:at + 12 + n]):
            fail("record %d: payload checksum" % records)
        at += 16 + n
        records += 1
    with open(log_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if records != len(rows) + 1:
        fail("%d records, want the file_version event and %d epochs" % (records, len(rows)))
    acc = EventAccumulator(tb_dir)
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    if tags != set(TAGS):
        fail("tags %r, want %r" % (sorted(tags), sorted(TAGS)))
    for tag, column in TAGS.items():
        events = acc.Scalars(tag)
        want = [(int(r["epoch"]), float(r[column])) for r in rows if r[column] != "nan"]
        got = [(e.step, e.value) for e in events]
        if len(got) != len(want):
            fail("%s: %d values, want %d" % (tag, len(got), len(want)))
        for (gs, gv), (ws, wv) in zip(got, want):
            # log.csv holds 9 significant digits, the event a float32: equal to within one float32 step
            if gs != ws or not math.isclose(gv, f32(wv), rel_tol=2.0 ** -23, abs_tol=0):
                fail("%s: step %d value %r, want step %d value %r (log.csv)" % (tag, gs, gv, ws, f32(wv)))
        print("check_tensorboard: %s: %d values match log.csv" % (tag, len(got)))
    print("check_tensorboard: ok (%d records)" % records)


if __name__ == "__main__":
    main()
