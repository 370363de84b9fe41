"""Writes the DICOM and NIfTI files of tests/unit/io/test_medical.cpp with pydicom and nibabel
(pinned in the test venv by scripts/install_deps.sh), independently of GDCM and nifticlib.

    python make_medical_files.py OUT_DIR

For every good file NAME it also writes NAME.expected: the 8-bit image unetpp must return, row
by row, computed here from the rules stated in include/unetpp/io/medical.hpp (an oracle written
without the C++ code). Bad files have no .expected; the C++ test checks their messages.
"""
import math
import os
import sys

import nibabel as nib
import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

OUT = sys.argv[1]
CT = "1.2.840.10008.5.1.4.1.1.2"
MF = "1.2.840.10008.5.1.4.1.1.7.3"  # multi-frame greyscale word secondary capture


def q(y):
    """[0, 1] -> 8 bits, rounded half up."""
    return int(math.floor(min(max(y, 0.0), 1.0) * 255.0 + 0.5))


def linear(v, c, w):  # DICOM PS3.3 C.11.2.1.2.1
    if v <= c - 0.5 - (w - 1) / 2:
        return 0
    if v > c - 0.5 + (w - 1) / 2:
        return 255
    return q((v - (c - 0.5)) / (w - 1) + 0.5)


def linear_exact(v, c, w):
    if v <= c - w / 2:
        return 0
    if v > c + w / 2:
        return 255
    return q((v - c) / w + 0.5)


def by_range(values, lo, hi):
    return [linear_exact(v, (lo + hi) / 2, hi - lo) for v in values]


def expected(name, rows):
    with open(os.path.join(OUT, name + ".expected"), "wb") as f:
        f.write(bytes(rows))


def dicom(name, rows, cols, data, bits_alloc, bits_stored, signed, pi="MONOCHROME2", frames=1, spp=1,
          sop=CT, **extra):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT" if sop == CT else "OT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = pi
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_alloc, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if spp == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for k, v in extra.items():
        setattr(ds, k, v)
    ds.PixelData = data
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(os.path.join(OUT, name), write_like_original=False)


# 12-bit unsigned in 16-bit words, with junk in the 4 unused high bits; no window: value range.
v12 = [0, 1, 2048, 4095, 100, 4000, 7, 3000, 1234, 2047, 2049, 4094]
junk = [(v | (0xA000 if i % 2 else 0x5000)) for i, v in enumerate(v12)]
dicom("u12.dcm", 3, 4, np.array(junk, "<u2").tobytes(), 16, 12, False)
expected("u12.dcm", by_range(v12, 0, 4095))

# 16-bit signed, Rescale Slope 2 / Intercept -1000, window 40 / 400 (a CT soft-tissue window).
s16 = [-32768, -500, 0, 300, 520, 540, 560, 32767, -1, 1, 600, 700]
dicom("s16.dcm", 2, 6, np.array(s16, "<i2").tobytes(), 16, 16, True, RescaleSlope="2", RescaleIntercept="-1000",
      WindowCenter="40", WindowWidth="400")
expected("s16.dcm", [linear(v * 2 - 1000, 40, 400) for v in s16])

# 12-bit signed (two's complement in 12 bits), LINEAR_EXACT window.
s12 = [-2048, -1, 0, 1, 2047, -100]
raw12 = [(v & 0xFFF) | 0xF000 * (i % 2) for i, v in enumerate(s12)]
dicom("s12.dcm", 2, 3, np.array(raw12, "<u2").tobytes(), 16, 12, True, WindowCenter="0", WindowWidth="200",
      VOILUTFunction="LINEAR_EXACT")
expected("s12.dcm", [linear_exact(v, 0, 200) for v in s12])

# MONOCHROME1, 8-bit, no window: range then inverted (0 is white).
m1 = [0, 10, 20, 30, 40, 50]
dicom("mono1.dcm", 2, 3, bytes(m1), 8, 8, False, pi="MONOCHROME1")
expected("mono1.dcm", [255 - x for x in by_range(m1, 0, 50)])

# Multi-frame: 3 frames of 2 x 2, 16-bit unsigned, no window: one range over all frames.
frames = [[0, 100, 200, 300], [400, 500, 600, 700], [800, 900, 1000, 1100]]
dicom("multi.dcm", 2, 2, np.array(sum(frames, []), "<u2").tobytes(), 16, 16, False, frames=3, sop=MF)
for k, f in enumerate(frames):
    expected("multi.dcm#%d" % k, by_range(f, 0, 1100))

# Bad DICOM files.
dicom("rgb.dcm", 2, 2, bytes(range(12)), 8, 8, False, pi="RGB", spp=3)
dicom("bits12.dcm", 2, 2, bytes(6), 12, 12, False)
dicom("huge.dcm", 2, 2, np.zeros(4, "<u2").tobytes(), 16, 16, False)
with open(os.path.join(OUT, "huge.dcm"), "rb") as f:
    b = bytearray(f.read())
# Rows and Columns (US, explicit VR: tag, 'US', length 2, value) patched to 60000 x 60000.
for tag in (b"\x28\x00\x10\x00US\x02\x00", b"\x28\x00\x11\x00US\x02\x00"):
    i = b.index(tag) + len(tag)
    b[i:i + 2] = (60000).to_bytes(2, "little")
with open(os.path.join(OUT, "huge.dcm"), "wb") as f:
    f.write(b)
with open(os.path.join(OUT, "s16.dcm"), "rb") as f:
    whole = f.read()
with open(os.path.join(OUT, "truncated.dcm"), "wb") as f:
    f.write(whole[:-10])

# NIfTI: value i + 10 j + 100 k at voxel (i, j, k) of a 5 x 4 x 3 int16 volume, RAS affine.
shape = (5, 4, 3)
vol = np.fromfunction(lambda i, j, k: i + 10 * j + 100 * k, shape, dtype=np.int64).astype(np.int16)
img = nib.Nifti1Image(vol, np.diag([0.5, 0.5, 2.0, 1.0]))
img.set_qform(np.diag([0.5, 0.5, 2.0, 1.0]), code=1)
img.set_sform(np.diag([0.5, 0.5, 2.0, 1.0]), code=1)
nib.save(img, os.path.join(OUT, "vol.nii.gz"))
lo, hi = float(vol.min()), float(vol.max())
for k in range(3):  # axis k: x = i, y = j
    expected("vol.nii.gz#%d" % k, by_range([vol[x, y, k] for y in range(4) for x in range(5)], lo, hi))
for i in range(5):  # axis i: x = j, y = k
    expected("vol.nii.gz.axis0#%d" % i, by_range([vol[i, x, y] for y in range(3) for x in range(4)], lo, hi))

# Flipped axes (LPS-like storage): i points right-to-left, j anterior-to-posterior.
flip = nib.Nifti1Image(vol, np.diag([-1.0, -1.0, 1.0, 1.0]))
flip.set_sform(np.diag([-1.0, -1.0, 1.0, 1.0]), code=2)
nib.save(flip, os.path.join(OUT, "flip.nii"))

# float32 with scl_slope / scl_inter and cal_min / cal_max (a display window); 2-D (one slice).
f2 = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, np.nan]], np.float32).T  # nibabel order: [i, j]
fimg = nib.Nifti1Image(f2[:, :, None], np.eye(4))
fimg.header.set_slope_inter(10.0, -5.0)
fimg.header["cal_min"], fimg.header["cal_max"] = 0.0, 40.0
nib.save(fimg, os.path.join(OUT, "float.nii"))
vals = [f2[x, y] * 10 - 5 for y in range(2) for x in range(3)]
expected("float.nii", [0 if math.isnan(v) else linear_exact(v, 20.0, 40.0) for v in vals])

# A label mask: uint8 0/1 -> 0/255.
lab = (vol % 2).astype(np.uint8)
nib.save(nib.Nifti1Image(lab, np.eye(4)), os.path.join(OUT, "labels.nii.gz"))
for k in range(3):
    expected("labels.nii.gz#%d" % k, [255 * int(lab[x, y, k]) for y in range(4) for x in range(5)])

# Bad NIfTI files.
nib.save(nib.Nifti1Image(np.zeros((4, 4, 2, 3), np.int16), np.eye(4)), os.path.join(OUT, "four_d.nii"))
rgb = np.zeros((2, 2, 1), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
nib.save(nib.Nifti1Image(rgb, np.eye(4)), os.path.join(OUT, "rgb.nii"))
with open(os.path.join(OUT, "flip.nii"), "rb") as f:
    whole = f.read()
with open(os.path.join(OUT, "truncated.nii"), "wb") as f:
    f.write(whole[:-7])
big = bytearray(whole[:352]) + bytes(64)
big[42:48] = np.array([30000, 30000, 1], "<i2").tobytes()  # dim[1..3]
with open(os.path.join(OUT, "huge.nii"), "wb") as f:
    f.write(bytes(big))
