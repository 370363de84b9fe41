#pragma once
/// \file Declarations shared by io/image.hpp and io/medical.hpp: the options of the DICOM and NIfTI
/// readers, the `file#k` frame notation and the entry points compiled into unetpp::medical.
/// Nothing here includes GDCM or nifticlib; include <unetpp/io/medical.hpp> (the public API) or
/// <unetpp/io/image.hpp> (read_image dispatches to these readers) instead.
///
/// The readers are compiled into the static library unetpp::medical (src/medical_dicom.cpp,
/// src/medical_nifti.cpp), which defines UNETPP_HAS_DICOM=1 and/or UNETPP_HAS_NIFTI=1 for the
/// targets that link it. Without it unetpp stays header-only and read_image refuses DICOM and
/// NIfTI files with a message saying what to link.

#include <cctype>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io {

struct image;
struct image_limits;

/// A linear VOI window (DICOM PS3.3 C.11.2.1.2): values below center - width/2 map to black,
/// above center + width/2 to white.
struct voi_window {
    double center = 0.0;
    double width = 0.0;  ///< must be > 0 (DICOM requires >= 1 for LINEAR)
};

/// How the DICOM and NIfTI readers turn stored values into the 8-bit image (see io/medical.hpp).
struct medical_options {
    /// Index of the 2-D image in the file: the DICOM frame or the NIfTI slice, from 0. -1: the
    /// file must hold exactly one (a file with more is refused with a message naming the count).
    int index = -1;
    /// NIfTI: the stored axis sliced, 0 (i), 1 (j) or 2 (k, the default). See io/medical.hpp for
    /// how rows and columns map to the other two.
    int axis = 2;
    /// NIfTI 4-D (and 5-D) files: the volume (the index along dim[4] and up, flattened), from 0.
    /// -1 refuses a file with more than one volume.
    int volume = -1;
    /// A window that overrides the file's own; empty: the file's window (DICOM Window Center /
    /// Width, NIfTI cal_min / cal_max), or else the range of values in the whole file.
    std::optional<voi_window> window{};
    /// false: ignore the file's window and always use the value range.
    bool use_file_window = true;
};

namespace detail::medical {

/// `path` split into the file and a frame index written as a `#k` suffix ("vol.nii.gz#12").
/// The suffix is taken only when `path` itself is not an existing file and the part before
/// it is, so a file whose name really ends in "#3" still reads as itself. index is -1 without a suffix.
struct frame_ref {
    std::filesystem::path file;
    int index = -1;
};

inline frame_ref split_frame_ref(const std::filesystem::path& path) {
    const std::string s = path.string();
    const auto hash = s.rfind('#');
    if (hash == std::string::npos || hash + 1 >= s.size() || s.size() - hash - 1 > 9) return {path, -1};
    for (std::size_t i = hash + 1; i < s.size(); ++i)
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return {path, -1};
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return {path, -1};
    std::filesystem::path file(s.substr(0, hash));
    if (!std::filesystem::exists(file, ec)) return {path, -1};  // "no such file" names what was asked for
    return {std::move(file), std::stoi(s.substr(hash + 1))};
}

inline std::string lower_name(const std::filesystem::path& p) {
    std::string n = p.filename().string();
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n;
}

/// .nii or .nii.gz (any case).
inline bool is_nifti_name(const std::filesystem::path& p) {
    const std::string n = lower_name(p);
    return n.ends_with(".nii") || n.ends_with(".nii.gz");
}

/// .dcm or .dicom (any case). DICOM files are also recognised by their "DICM" signature.
inline bool is_dicom_name(const std::filesystem::path& p) {
    const std::string n = lower_name(p);
    return n.ends_with(".dcm") || n.ends_with(".dicom");
}

/// The DICOM Part 10 signature: "DICM" after the 128-byte preamble.
inline bool looks_like_dicom(const std::vector<unsigned char>& b) noexcept {
    return b.size() >= 132 && b[128] == 'D' && b[129] == 'I' && b[130] == 'C' && b[131] == 'M';
}

/// The NIfTI-1 or NIfTI-2 header signature ("n+1", "ni1", "n+2", "ni2" with sizeof_hdr 348 / 540).
inline bool looks_like_nifti(const std::vector<unsigned char>& b) noexcept {
    if (b.size() >= 348 && ((b[0] == 0x5c && b[1] == 0x01) || (b[3] == 0x5c && b[2] == 0x01)) &&
        (b[344] == 'n') && (b[345] == '+' || b[345] == 'i') && b[346] == '1')
        return true;
    return b.size() >= 540 && ((b[0] == 0x1c && b[1] == 0x02) || (b[3] == 0x1c && b[2] == 0x02)) && b[4] == 'n' &&
           (b[5] == '+' || b[5] == 'i') && b[6] == '2';
}

// Defined in io/medical_dispatch.hpp (included at the end of io/image.hpp): the medical branches of
// read_image and decode_image; empty when the file is none of DICOM / NIfTI.
inline std::optional<image> read_if_medical(const std::filesystem::path& path, int want_channels, const image_limits& limits);
inline std::optional<image> decode_if_medical(const std::vector<unsigned char>& bytes, int want_channels,
                                              std::string_view name, const image_limits& limits);

// Defined in unetpp::medical (src/medical_dicom.cpp, src/medical_nifti.cpp). Declared here so
// that io/image.hpp can dispatch without including the third-party headers; call them only when
// UNETPP_HAS_DICOM / UNETPP_HAS_NIFTI is defined (the library is linked).
image decode_dicom(const std::vector<unsigned char>& bytes, int want_channels, std::string_view name,
                   const medical_options& opt, const image_limits& limits);
int dicom_frame_count(const std::filesystem::path& path, const image_limits& limits);
image read_nifti(const std::filesystem::path& path, int want_channels, const medical_options& opt,
                 const image_limits& limits);
int nifti_slice_count(const std::filesystem::path& path, const medical_options& opt, const image_limits& limits);

}  // namespace detail::medical
}  // namespace unetpp::io
