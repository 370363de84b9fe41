"""Helper of tests/tools/ensemble.cmake (standard library and numpy only; PNGs through eval_options.py).

  ensemble.py mean ENS_DIR DIR_A DIR_B [...]
      every <stem>_prob.npy of ENS_DIR is the mean of the same file in DIR_A, DIR_B, ... (float32,
      same shape, up to float rounding), and the folders hold the same stems.
  ensemble.py dihedral IMAGES_DIR OUT_DIR
      writes the 8 flips and rotations of every 8-bit grey PNG of IMAGES_DIR as
      OUT_DIR/<stem>_d<k>.png (k = 0..7; d0 the image itself, d1 its left-right mirror).
  ensemble.py tta PROBS_DIR TTA_DIR K
      for every <stem>_d0_prob.npy of PROBS_DIR (the probabilities of the transformed images,
      predicted alone), maps the first K transforms' probabilities back onto the image's grid,
      averages them and compares with TTA_DIR/<stem>_prob.npy (the program's test-time
      augmentation); K = 8: all flips and rotations, K = 2: the image and its left-right mirror.
  ensemble.py differ A.npy B.npy
      the two arrays differ somewhere by more than 1e-6 (a transform that changes nothing is no test).
Exit status 0 when every check holds, 1 with a message otherwise.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_options import read_png, write_png  # noqa: E402


def fail(msg):
    print("ensemble.py: " + msg, file=sys.stderr)
    sys.exit(1)


TRANSFORMS = [
    (lambda x: x, lambda y: y),
    (lambda x: np.fliplr(x), lambda y: np.fliplr(y)),
    (lambda x: np.flipud(x), lambda y: np.flipud(y)),
    (lambda x: np.rot90(x, 2), lambda y: np.rot90(y, -2)),
    (lambda x: x.T, lambda y: y.T),
    (lambda x: np.rot90(x, 1), lambda y: np.rot90(y, -1)),
    (lambda x: np.rot90(x, -1), lambda y: np.rot90(y, 1)),
    (lambda x: np.rot90(x, 2).T, lambda y: np.rot90(y, 2).T),  # the anti-diagonal mirror, its own inverse
]


def load(path):
    a = np.load(path)
    if a.dtype != np.float32:
        fail(f"{path}: dtype {a.dtype}, want float32")
    return a


def stems(folder):
    return sorted(f[: -len("_prob.npy")] for f in os.listdir(folder) if f.endswith("_prob.npy"))


def mean(ens, members):
    want = stems(ens)
    if not want:
        fail(f"{ens}: no <stem>_prob.npy files")
    for m in members:
        if stems(m) != want:
            fail(f"{m} holds {stems(m)}, the ensemble's folder {ens} holds {want}")
    worst = 0.0
    for s in want:
        e = load(os.path.join(ens, s + "_prob.npy")).astype(np.float64)
        parts = [load(os.path.join(m, s + "_prob.npy")).astype(np.float64) for m in members]
        if any(p.shape != e.shape for p in parts):
            fail(f"{s}: shapes {[p.shape for p in parts]} against the ensemble's {e.shape}")
        worst = max(worst, float(np.max(np.abs(e - sum(parts) / len(parts)))))
    if worst > 1e-6:
        fail(f"the ensemble's probabilities differ from the members' mean by up to {worst}")
    print(f"ensemble.py: {len(want)} maps are the mean of {len(members)} members (within {worst:.3g})")


def dihedral(images, out):
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(images)):
        stem, ext = os.path.splitext(name)
        if ext.lower() != ".png":
            continue
        x = read_png(os.path.join(images, name))
        for k, (fwd, _) in enumerate(TRANSFORMS):
            write_png(os.path.join(out, f"{stem}_d{k}.png"), np.ascontiguousarray(fwd(x)))


def tta(probs, tta_dir, count):
    done = 0
    worst = 0.0
    for f in sorted(os.listdir(probs)):
        if not f.endswith("_d0_prob.npy"):
            continue
        stem = f[: -len("_d0_prob.npy")]
        maps = [TRANSFORMS[k][1](load(os.path.join(probs, f"{stem}_d{k}_prob.npy")).astype(np.float64))
                for k in range(count)]
        want = sum(maps) / count
        got = load(os.path.join(tta_dir, stem + "_prob.npy")).astype(np.float64)
        if got.shape != want.shape:
            fail(f"{stem}: TTA map {got.shape}, the transforms' mean {want.shape}")
        worst = max(worst, float(np.max(np.abs(got - want))))
        done += 1
    if not done:
        fail(f"{probs}: no <stem>_d0_prob.npy files")
    if worst > 1e-5:
        fail(f"the programs' TTA differs from the mean of the {count} transformed predictions by up to {worst}")
    print(f"ensemble.py: {done} TTA maps are the mean of {count} transformed predictions (within {worst:.3g})")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "mean" and len(sys.argv) >= 5:
        mean(sys.argv[2], sys.argv[3:])
    elif cmd == "dihedral" and len(sys.argv) == 4:
        dihedral(sys.argv[2], sys.argv[3])
    elif cmd == "tta" and len(sys.argv) == 5:
        tta(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "differ" and len(sys.argv) == 4:
        a, b = load(sys.argv[2]), load(sys.argv[3])
        if a.shape == b.shape and float(np.max(np.abs(a.astype(np.float64) - b))) <= 1e-6:
            fail(f"{sys.argv[2]} and {sys.argv[3]} are the same; the option changed nothing")
    else:
        fail("usage: ensemble.py mean ENS A B... | dihedral IMAGES OUT | tta PROBS TTA_DIR K | differ A B")


if __name__ == "__main__":
    main()
