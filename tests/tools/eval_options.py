"""Helper of tests/tools/eval_options.cmake (standard library and numpy only).

  eval_options.py roi IMAGES_DIR OUT_DIR SUFFIX
      writes OUT_DIR/<stem><SUFFIX>.png for every image: a region mask (255 inside) covering the
      left three quarters of the columns, 8-bit grey PNG.
  eval_options.py check CSV MASKS_DIR ROI_DIR SUFFIX PROBS_DIR THRESHOLD
      loads every PROBS_DIR/<stem>_prob.npy with numpy (float32, the image's own H x W, values in
      [0, 1]), checks <stem>_prob16.png against round(p * 65535), and recomputes from the
      probabilities, the masks and the region masks the CSV's dice, iou, precision, recall,
      roc_auc, average_precision and pixels (numpy; ties averaged as scikit-learn does).
  eval_options.py same A.npy B.npy
      the two files hold the same float32 array, up to float rounding (1e-5: two programs may be
      compiled with different inlining, so contractions into FMA may differ).
Exit status 0 when every check holds, 1 with a message otherwise.
"""
import csv
import os
import struct
import sys
import zlib

import numpy as np


def fail(msg):
    print("eval_options.py: " + msg, file=sys.stderr)
    sys.exit(1)


def read_png(path):
    """Greyscale 8- or 16-bit PNG (no interlace) -> 2-D numpy array."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            fail(f"{path}: bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, colour, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if channels is None or interlace != 0 or depth not in (8, 16):
        fail(f"{path}: unsupported PNG (colour {colour}, depth {depth}, interlace {interlace})")
    bpp = channels * depth // 8
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    arr = np.frombuffer(bytes(out), dtype=">u2" if depth == 16 else np.uint8).reshape(h, w, channels)
    return arr[:, :, 0].astype(np.int64)


def write_png(path, arr):
    h, w = arr.shape
    raw = b"".join(b"\x00" + bytes(arr[y].astype(np.uint8)) for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def auc_ap(p, t):
    """Exact ROC-AUC (ties 1/2) and AP (scikit-learn's definition) of scores p, labels t."""
    pos, neg = int(t.sum()), int((~t).sum())
    uniq, inv = np.unique(p, return_inverse=True)  # ascending
    pos_at = np.bincount(inv, weights=t.astype(float), minlength=len(uniq))
    all_at = np.bincount(inv, minlength=len(uniq)).astype(float)
    neg_at = all_at - pos_at
    auc = float("nan")
    if pos and neg:
        neg_below = np.cumsum(neg_at) - neg_at
        auc = float((pos_at * (neg_below + neg_at / 2)).sum() / (pos * neg))
    ap = float("nan")
    if pos:
        tp = np.cumsum(pos_at[::-1])
        seen = np.cumsum(all_at[::-1])
        ap = float(((pos_at[::-1] / pos) * (tp / seen)).sum())
    return auc, ap


def close(a, b, tol):
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= tol


def check(csv_path, masks_dir, roi_dir, suffix, probs_dir, threshold):
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        fail(f"{csv_path}: no rows")
    for row in rows:
        stem = row["image"]
        p = np.load(os.path.join(probs_dir, stem + "_prob.npy"))
        if p.dtype != np.float32 or p.ndim != 2:
            fail(f"{stem}_prob.npy: dtype {p.dtype}, shape {p.shape}; want float32 H x W")
        if p.shape != (int(row["height"]), int(row["width"])):
            fail(f"{stem}_prob.npy: shape {p.shape}, the CSV says {row['height']} x {row['width']}")
        if not (np.all(p >= 0) and np.all(p <= 1)):
            fail(f"{stem}_prob.npy: values outside [0, 1]")
        p16 = read_png(os.path.join(probs_dir, stem + "_prob16.png"))
        if not np.array_equal(p16, np.round(p.astype(np.float64) * 65535).astype(np.int64)):
            fail(f"{stem}_prob16.png differs from round(p * 65535) of {stem}_prob.npy")
        t = read_png(os.path.join(masks_dir, stem + ".png")) > 127
        roi = read_png(os.path.join(roi_dir, stem + suffix + ".png")) > 127
        if t.shape != p.shape or roi.shape != p.shape:
            fail(f"{stem}: mask {t.shape} / region {roi.shape} / probabilities {p.shape} differ")
        pred = p[roi] >= threshold
        tr = t[roi]
        tp, fp, fn = int((pred & tr).sum()), int((pred & ~tr).sum()), int((~pred & tr).sum())
        dice = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        iou = 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)
        auc, ap = auc_ap(p[roi].astype(np.float64), tr)
        want = {"dice": dice, "iou": iou, "roc_auc": auc, "average_precision": ap}
        if tp + fp:
            want["precision"] = tp / (tp + fp)
        if tp + fn:
            want["recall"] = tp / (tp + fn)
        for k, v in want.items():
            if not close(float(row[k]), v, 2e-6):
                fail(f"{stem}: {k} is {row[k]} in the CSV, numpy gives {v}")
        if int(row["pixels"]) != int(roi.sum()):
            fail(f"{stem}: pixels {row['pixels']} in the CSV, the region holds {int(roi.sum())}")
    print(f"eval_options.py: {len(rows)} rows agree with numpy")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "roi" and len(sys.argv) == 5:
        images, out, suffix = sys.argv[2:5]
        os.makedirs(out, exist_ok=True)
        for name in sorted(os.listdir(images)):
            stem, ext = os.path.splitext(name)
            if ext.lower() != ".png":
                continue
            h, w = read_png(os.path.join(images, name)).shape
            roi = np.zeros((h, w), dtype=np.uint8)
            roi[:, : 3 * w // 4] = 255
            write_png(os.path.join(out, stem + suffix + ".png"), roi)
    elif cmd == "check" and len(sys.argv) == 8:
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], float(sys.argv[7]))
    elif cmd == "same" and len(sys.argv) == 4:
        a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
        if a.dtype != np.float32 or a.dtype != b.dtype or a.shape != b.shape:
            fail(f"{sys.argv[2]} ({a.dtype} {a.shape}) and {sys.argv[3]} ({b.dtype} {b.shape}) differ")
        diff = float(np.max(np.abs(a.astype(np.float64) - b)))
        if diff > 1e-5:
            fail(f"{sys.argv[2]} and {sys.argv[3]} differ by up to {diff}")
    else:
        fail("usage: eval_options.py roi IMAGES OUT SUFFIX | check CSV MASKS ROI SUFFIX PROBS THRESHOLD | same A B")


if __name__ == "__main__":
    main()
