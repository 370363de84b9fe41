#pragma once
/// \file DICOM and NIfTI images as 8-bit 2-D images. Link unetpp::medical to use this header
/// (CMake options UNETPP_WITH_DICOM and UNETPP_WITH_NIFTI; see docs/DATA.md, "DICOM and NIfTI").
///
///   auto img = unetpp::io::read_image("mammo.dcm", 1);               // through the generic reader
///   auto s12 = unetpp::io::read_image("brain.nii.gz#12", 1);          // slice k = 12 of a volume
///   auto ct  = unetpp::io::read_dicom("ct.dcm", 1, {.window = unetpp::io::voi_window{40, 400}});
///   auto info = unetpp::io::read_medical_info("brain.nii.gz");        // sizes, orientation, window
///
/// Libraries: DICOM through GDCM 3 (Debian libgdcm-dev), NIfTI-1 and NIfTI-2 through nifticlib
/// (Debian libnifti2-dev). Their headers stay inside the library's own sources
/// (src/medical_dicom.cpp, src/medical_nifti.cpp): this header and io/image.hpp include only
/// declarations, so a program that includes unet.hpp compiles no third-party header, and a
/// program that does not link unetpp::medical stays header-only (read_image then refuses DICOM
/// and NIfTI files, saying what to link).
///
/// One file, several 2-D images. A multi-frame DICOM holds frames 0..F-1; a NIfTI volume holds
/// slices 0..S-1 along the sliced axis (medical_options::axis, k by default). read_image takes one
/// of them as `file#k` ("scan.dcm#3", "brain.nii.gz#40", k from 0); a file with more than one and
/// no `#k` is refused with a message giving the count. The folder data set
/// (data::paired_folders) lists every frame or slice as its own sample, `<file>#k`, paired with
/// frame/slice k of the mask file (which must hold as many), so a volume of 155 slices is 155
/// training images. A file holding one image is read without the suffix.
///
/// Values -> 8 bits, in this order:
///  1. the stored value: DICOM Bits Stored bits (12 in a 16-bit word, say) at High Bit, signed when
///     Pixel Representation is 1; NIfTI's data type (integers of 8 to 64 bits, float32, float64);
///  2. the rescale to modality values: DICOM Rescale Slope / Intercept (CT: Hounsfield units),
///     NIfTI scl_slope / scl_inter (when scl_slope is finite and not 0);
///  3. the window, the first that applies: medical_options::window; the file's own (DICOM Window
///     Center / Width, the first pair, with VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID;
///     NIfTI cal_min..cal_max when cal_max > cal_min); otherwise the range of modality values in
///     the whole file (every frame, or the whole NIfTI volume), min -> 0 and max -> 255, so the
///     slices of one volume share one scale. A file whose values are all equal gives 0 where they
///     are <= 0 and 255 where they are > 0 (an all-foreground mask stays foreground). NaN -> 0;
///  4. MONOCHROME1 (DICOM: 0 is white) is inverted, so bright is always the high value;
///  5. gray -> the channels asked for (replicated).
/// A mask stored as DICOM or NIfTI with labels 0 and 1 therefore reads as 0 and 255, which the
/// data sets' mask rule (> 127) takes as background and foreground.
///
/// NIfTI orientation. Nothing is resampled or reoriented: slice k of axis a holds the voxels with
/// stored index a = k; its columns (x, left to right in the image) run along the lower of the other
/// two stored axes and its rows (y, top to bottom) along the higher one:
///   axis 2 (k, default): x = i, y = j      axis 1 (j): x = i, y = k      axis 0 (i): x = j, y = k
/// so pixel (x, y) of slice k along axis 2 is voxel (i = x, j = y, k). Which anatomical direction
/// each stored axis points to comes from the sform (when sform_code > 0), else the qform;
/// read_medical_info() reports it (e.g. "i: Left-to-Right, j: Posterior-to-Anterior, k:
/// Inferior-to-Superior"), and a mask volume read the same way lines up voxel for voxel. For a
/// RAS-stored volume (the usual output of dcm2niix and of FSL), the default gives axial slices.
///
/// Refused, with a message saying what to do: DICOM without the Part 10 header, colour DICOM (RGB, YBR, PALETTE COLOR: convert to
/// MONOCHROME2), a compressed transfer syntax GDCM cannot decode, Bits Allocated other than 8, 16
/// or 32, Bits Stored of 0 or above Bits Allocated, complex and RGB NIfTI types, 4-D NIfTI with
/// more than one volume unless medical_options::volume is set, a frame or slice index out of
/// range, and (before anything is decoded) a width, height, pixel count or decoded size above
/// io::image_limits: for DICOM width x height x frames x bytes per sample, all frames being
/// decoded at once; for NIfTI one slice, and the whole volume when its value range is needed.
/// Every DICOM element header is walked before GDCM parses the file (src/medical_dicom.cpp,
/// check_lengths: lengths inside the file, valid VRs, values GDCM asserts on). Truncated files are
/// refused before their data is read where the size is known (uncompressed
/// NIfTI; a .nii.gz whose header claims more than 1032 times its size, deflate's largest ratio).
///
/// Threads: the readers may be called from several threads at once (the data loader does).

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "image.hpp"
#include "medical_fwd.hpp"

namespace unetpp::inline UNETPP_ABI::io {

/// What a DICOM or NIfTI file holds, from its header (no pixel is decoded).
struct medical_info {
    std::string format;      ///< "DICOM", "NIfTI-1" or "NIfTI-2"
    int width = 0;           ///< columns of one 2-D image (for NIfTI: along the sliced axis' x)
    int height = 0;          ///< rows of one 2-D image
    int count = 0;           ///< frames (DICOM) or slices along medical_options::axis (NIfTI)
    int volumes = 1;         ///< NIfTI: volumes in a 4-D (or higher) file; DICOM: 1
    int bits_allocated = 0;  ///< DICOM Bits Allocated; NIfTI bits per voxel
    int bits_stored = 0;     ///< DICOM Bits Stored; NIfTI bits per voxel
    bool is_signed = false;  ///< signed integers (DICOM Pixel Representation 1, NIfTI signed types)
    bool is_float = false;   ///< NIfTI float32 / float64
    std::string photometric;  ///< DICOM Photometric Interpretation ("MONOCHROME1", ...); NIfTI ""
    std::string transfer_syntax;  ///< DICOM transfer syntax name; NIfTI ""
    double slope = 1.0, intercept = 0.0;  ///< the rescale applied (1 and 0 when none)
    std::optional<voi_window> window;     ///< the file's own window, when it has a usable one
    /// NIfTI: the anatomical direction of stored axes i, j, k ("Left-to-Right", ...) from the
    /// sform, else the qform; "unknown" when the file has neither. DICOM: empty.
    std::array<std::string, 3> axis_directions{};
    std::string orientation;  ///< one line: how x, y and the slices map to stored axes and directions
};

namespace detail::medical {
medical_info dicom_info(const std::vector<unsigned char>& bytes, std::string_view name, const image_limits& limits);
medical_info nifti_info(const std::filesystem::path& path, const medical_options& opt, const image_limits& limits);
}  // namespace detail::medical

/// Reads one 2-D image of a DICOM file (opt.index: the frame; see the file comment).
inline image read_dicom(const std::filesystem::path& path, int want_channels = 0, const medical_options& opt = {},
                        const image_limits& limits = {}) {
    detail::check_channels_arg(want_channels, "read_dicom");
    const auto bytes = detail::read_file_bounded(path, limits.max_file_bytes, "read_dicom");
    return detail::medical::decode_dicom(bytes, want_channels, path.string(), opt, limits);
}

/// Decodes one 2-D image of a DICOM file held in memory; `name` is used in messages.
inline image decode_dicom(const std::vector<unsigned char>& bytes, int want_channels = 0,
                          std::string_view name = "<memory>", const medical_options& opt = {},
                          const image_limits& limits = {}) {
    detail::check_channels_arg(want_channels, "decode_dicom");
    return detail::medical::decode_dicom(bytes, want_channels, name, opt, limits);
}

/// Reads one slice of a NIfTI file (.nii, .nii.gz, or an .hdr/.img pair; opt.index, opt.axis,
/// opt.volume: see the file comment).
inline image read_nifti(const std::filesystem::path& path, int want_channels = 0, const medical_options& opt = {},
                        const image_limits& limits = {}) {
    detail::check_channels_arg(want_channels, "read_nifti");
    return detail::medical::read_nifti(path, want_channels, opt, limits);
}

/// The header of a DICOM or NIfTI file (by extension: .nii / .nii.gz is NIfTI, anything else is
/// read as DICOM).
inline medical_info read_medical_info(const std::filesystem::path& path, const medical_options& opt = {},
                                      const image_limits& limits = {}) {
    if (detail::medical::is_nifti_name(path)) return detail::medical::nifti_info(path, opt, limits);
    const auto bytes = detail::read_file_bounded(path, limits.max_file_bytes, "read_medical_info");
    return detail::medical::dicom_info(bytes, path.string(), limits);
}

}  // namespace unetpp::io
