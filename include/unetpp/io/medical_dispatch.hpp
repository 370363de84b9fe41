#pragma once
/// \file The DICOM and NIfTI branches of io::read_image and io::decode_image, and io::count_images.
/// Included at the end of io/image.hpp; include that instead. Which reader a file goes to:
///  - .nii / .nii.gz (any case): nifticlib (a file is needed; NIfTI bytes in memory are refused);
///  - .dcm / .dicom, or the "DICM" signature: GDCM;
///  - `file#k`: frame or slice k of a DICOM or NIfTI file (medical_fwd.hpp, split_frame_ref).
/// Without unetpp::medical (UNETPP_HAS_DICOM / UNETPP_HAS_NIFTI undefined) such files are refused
/// with a message naming what to link and what to install.

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../config/abi.hpp"
#include "image.hpp"
#include "medical_fwd.hpp"

namespace unetpp::inline UNETPP_ABI::io::detail::medical {

inline std::runtime_error no_dicom(const std::string& file) {
    return std::runtime_error("read_image: " + file + " is a DICOM file, and this program was built without DICOM "
                              "support: link unetpp::medical built with GDCM (Debian: libgdcm-dev; CMake option "
                              "UNETPP_WITH_DICOM), or convert the image to PNG");
}
inline std::runtime_error no_nifti(const std::string& file) {
    return std::runtime_error("read_image: " + file + " is a NIfTI file, and this program was built without NIfTI "
                              "support: link unetpp::medical built with nifticlib (Debian: libnifti2-dev; CMake "
                              "option UNETPP_WITH_NIFTI), or convert its slices to PNG");
}

inline std::optional<image> decode_if_medical(const std::vector<unsigned char>& bytes, int want_channels,
                                              std::string_view name, const image_limits& limits) {
    std::string file(1, '\'');  // appended, not "'" + ...: g++ 12 -O3 reports a false -Wrestrict there
    file += name;
    file += '\'';
    if (looks_like_dicom(bytes)) {
#if defined(UNETPP_HAS_DICOM) && UNETPP_HAS_DICOM
        return decode_dicom(bytes, want_channels, name, medical_options{}, limits);
#else
        (void)want_channels, (void)limits;  // unused in a program without unetpp::medical
        throw no_dicom(file);
#endif
    }
    if (looks_like_nifti(bytes))
        throw std::runtime_error("read_image: " + file + " is a NIfTI file; NIfTI is read from a file, not from "
                                 "memory: use read_image(path) or io::read_nifti with a .nii or .nii.gz name");
    return std::nullopt;
}

inline std::optional<image> read_if_medical(const std::filesystem::path& path, int want_channels,
                                            const image_limits& limits) {
    (void)want_channels;  // unused in a program without unetpp::medical
    const frame_ref ref = split_frame_ref(path);
    medical_options opt;
    opt.index = ref.index;
    if (is_nifti_name(ref.file)) {
#if defined(UNETPP_HAS_NIFTI) && UNETPP_HAS_NIFTI
        return read_nifti(ref.file, want_channels, opt, limits);
#else
        throw no_nifti(quoted(ref.file));
#endif
    }
    if (ref.index < 0 && !is_dicom_name(ref.file)) return std::nullopt;  // the generic path checks the signature
    const auto bytes = read_file_bounded(ref.file, limits.max_file_bytes, "read_image");
    if (!looks_like_dicom(bytes) && !is_dicom_name(ref.file))
        throw std::runtime_error("read_image: " + quoted(path) + ": the '#k' frame suffix applies to DICOM and NIfTI "
                                 "files only, and " + quoted(ref.file) + " is neither");
#if defined(UNETPP_HAS_DICOM) && UNETPP_HAS_DICOM
    return decode_dicom(bytes, want_channels, ref.file.string(), opt, limits);
#else
    throw no_dicom(quoted(ref.file));
#endif
}

}  // namespace unetpp::io::detail::medical

namespace unetpp::inline UNETPP_ABI::io {

/// A short name for an image: the file name without its extension, without both parts of
/// ".nii.gz", and with "#k" for frame or slice k: "a.png" -> "a", "b.nii.gz#3" -> "b#3".
inline std::string image_name(const std::filesystem::path& path) {
    const detail::medical::frame_ref ref = detail::medical::split_frame_ref(path);
    std::string name = ref.file.stem().string();
    if (detail::medical::lower_name(ref.file).ends_with(".nii.gz")) name = ref.file.stem().stem().string();
    return ref.index < 0 ? name : name + "#" + std::to_string(ref.index);
}

/// How many 2-D images `path` holds: the frames of a DICOM file or the slices (along stored axis k)
/// of a NIfTI volume, each read as `path#k` (k from 0); 1 for any other image. Reads the header
/// only. A DICOM or NIfTI file in a program without unetpp::medical is refused, as by read_image.
inline int count_images(const std::filesystem::path& path, const image_limits& limits = {}) {
    if (detail::medical::is_nifti_name(path)) {
#if defined(UNETPP_HAS_NIFTI) && UNETPP_HAS_NIFTI
        return detail::medical::nifti_slice_count(path, medical_options{}, limits);
#else
        throw detail::medical::no_nifti(detail::quoted(path));
#endif
    }
    if (detail::medical::is_dicom_name(path)) {
#if defined(UNETPP_HAS_DICOM) && UNETPP_HAS_DICOM
        return detail::medical::dicom_frame_count(path, limits);
#else
        (void)limits;
        throw detail::medical::no_dicom(detail::quoted(path));
#endif
    }
    return 1;
}

}  // namespace unetpp::io
