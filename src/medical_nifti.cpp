// NIfTI-1 and NIfTI-2 reading through nifticlib 3 (nifti2_io, which reads both versions),
// compiled into unetpp::medical (see include/unetpp/io/medical.hpp for the slicing and
// orientation rules). nifticlib's headers stay in this file.
//
// Hostile input: nifti_image_read(path, 0) reads the header and extensions only. Before any voxel
// is read, the slice size (and the volume size when the value range is needed) is checked against
// image_limits, the slice, axis and volume indices against the dimensions, and an uncompressed
// file's size against what its header claims; a .nii.gz may claim at most 1032 times its size
// (deflate's largest ratio). Then nifti_read_collapsed_image reads just the slice into a buffer of
// the checked size that unetpp owns.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <nifti2_io.h>
#include <znzlib.h>

#include "unetpp/io/medical.hpp"
#include "unetpp/io/medical_pixels.hpp"

namespace unetpp::inline UNETPP_ABI::io::detail::medical {
namespace {

struct nifti_deleter {
    void operator()(nifti_image* p) const noexcept { nifti_image_free(p); }
};
using nifti_ptr = std::unique_ptr<nifti_image, nifti_deleter>;

std::string quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

/// The library prints its errors on stderr at debug level 1; unetpp reports failures itself.
void quiet_nifti() {
    static std::once_flag once;
    std::call_once(once, [] { nifti_set_debug_level(0); });
}

/// The header, read and checked (dimensions >= 1, a data type unetpp decodes).
nifti_ptr open_header(const std::filesystem::path& path) {
    const std::string file = quote(path);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw std::runtime_error("read_image: cannot open " + file + ": no such file (check the path)");
    quiet_nifti();
    // The header alone first, read here (nifticlib's own header check prints on stderr):
    // nifti_image_read also reads the extensions, allocating what their sizes say up to
    // vox_offset, so vox_offset must be one the file can hold.
    {
        unsigned char hdr[540] = {};
        znzFile fp = znzopen(path.c_str(), "rb", 1);
        if (znz_isnull(fp)) throw std::runtime_error("read_image: cannot open " + file + " (check its permissions)");
        const std::size_t n = znzread(hdr, 1, sizeof hdr, fp);
        znzclose(fp);
        auto get = [&](auto& out, std::size_t at, bool swap) {  // a field, in this machine's byte order
            unsigned char v[sizeof out];
            for (std::size_t i = 0; i < sizeof out; ++i) v[i] = hdr[at + (swap ? sizeof out - 1 - i : i)];
            std::memcpy(&out, v, sizeof out);
        };
        std::int32_t size_field = 0, swapped_field = 0;
        get(size_field, 0, false);
        get(swapped_field, 0, true);
        const bool swap = size_field != 348 && size_field != 540;
        const std::int32_t version_size = swap ? swapped_field : size_field;
        if (n < 348 || (version_size != 348 && version_size != 540) || (version_size == 540 && n < 540))
            throw std::runtime_error("read_image: " + file + " is not a NIfTI file (no valid 348- or 540-byte header; "
                                     "the file is corrupt, truncated or of another format)");
        long double offset = 0;
        bool single = false;
        if (version_size == 348) {
            float v = 0;
            get(v, 108, swap);
            offset = v;
            single = hdr[345] == '+';
        } else {
            std::int64_t v = 0;
            get(v, 168, swap);
            offset = static_cast<long double>(v);
            single = hdr[5] == '+';
        }
        const auto size = static_cast<long double>(std::filesystem::file_size(path, ec));
        const std::string name = lower_name(path);
        const bool gz = name.ends_with(".gz");
        if (single && (ec || !(offset >= 0) || offset > (gz ? 1032.0L * size + 4096.0L : size)))
            throw std::runtime_error("read_image: NIfTI " + file + " has its data offset (vox_offset " +
                                     std::to_string(static_cast<double>(offset)) + ") beyond the end of the file; the "
                                     "file is corrupt or truncated");
    }
    nifti_ptr nim(nifti_image_read(path.c_str(), 0));
    if (!nim)
        throw std::runtime_error("read_image: " + file + " is not a NIfTI file nifticlib can read (the header is "
                                 "corrupt or truncated); re-export or re-download it");
    for (int d = 1; d <= nim->ndim && d <= 7; ++d)
        if (nim->dim[d] < 1)
            throw std::runtime_error("read_image: NIfTI " + file + " has dimension " + std::to_string(d) + " of size " +
                                     std::to_string(nim->dim[d]) + "; the file is corrupt");
    switch (nim->datatype) {
        case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8: case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16:
        case NIFTI_TYPE_INT32: case NIFTI_TYPE_UINT32: case NIFTI_TYPE_INT64: case NIFTI_TYPE_UINT64:
        case NIFTI_TYPE_FLOAT32: case NIFTI_TYPE_FLOAT64: break;
        case NIFTI_TYPE_RGB24: case NIFTI_TYPE_RGBA32:
            throw std::runtime_error("read_image: NIfTI " + file + " holds colour voxels (" +
                                     nifti_datatype_string(nim->datatype) +
                                     "); unetpp reads scalar volumes only: convert it to greyscale");
        default:
            throw std::runtime_error("read_image: NIfTI " + file + " has data type " +
                                     nifti_datatype_string(nim->datatype) +
                                     "; unetpp reads integer and float32/float64 volumes (convert it, e.g. with "
                                     "fslmaths -odt float)");
    }
    return nim;
}

/// Dimensions of the slicing: sizes of the three spatial axes and the volumes behind them.
struct geometry {
    std::int64_t n[3] = {1, 1, 1};  ///< nx, ny, nz
    std::int64_t volumes = 1;       ///< product of dim[4..7]
    int axis = 2;
    int xa = 0, ya = 1;             ///< stored axes of image x (columns) and y (rows)
    std::int64_t width = 1, height = 1, slices = 1;
};

geometry geometry_of(const nifti_image& nim, const medical_options& opt, const std::string& file) {
    if (opt.axis < 0 || opt.axis > 2)
        throw std::invalid_argument("read_nifti: medical_options::axis must be 0 (i), 1 (j) or 2 (k), got " +
                                    std::to_string(opt.axis));
    geometry g;
    g.n[0] = nim.nx;
    g.n[1] = nim.ny;
    g.n[2] = nim.nz;
    for (int d = 4; d <= nim.ndim && d <= 7; ++d) {
        const std::int64_t v = std::max<std::int64_t>(1, nim.dim[d]);
        if (g.volumes > (std::int64_t{1} << 40) / v)
            throw std::runtime_error("read_image: NIfTI " + file + " claims more than 2^40 volumes; the file is corrupt");
        g.volumes *= v;
    }
    g.axis = opt.axis;
    g.xa = opt.axis == 0 ? 1 : 0;
    g.ya = opt.axis == 2 ? 1 : 2;
    g.width = g.n[g.xa];
    g.height = g.n[g.ya];
    g.slices = g.n[g.axis];
    return g;
}

const char* direction(int code) {
    return code == 0 ? "unknown" : nifti_orientation_string(code);
}

/// Checks sizes and indices against the limits and the file; returns the bytes one volume needs.
void check_sizes(const nifti_image& nim, const geometry& g, const std::filesystem::path& path, const std::string& file,
                 const image_limits& limits, std::int64_t volume) {
    const auto w = static_cast<std::uint64_t>(g.width), h = static_cast<std::uint64_t>(g.height);
    if (w > static_cast<std::uint64_t>(limits.max_side) || h > static_cast<std::uint64_t>(limits.max_side) ||
        w * h > limits.max_pixels)
        throw std::runtime_error("read_image: NIfTI " + file + " has slices of " + std::to_string(w) + " x " +
                                 std::to_string(h) + " voxels, above the limit of " + std::to_string(limits.max_side) +
                                 " per side and " + std::to_string(limits.max_pixels) +
                                 " in all; crop or downsample it first (or raise io::image_limits if it is genuine)");
    const auto per = static_cast<std::uint64_t>(nim.nbyper);
    if (per == 0 || w * h > limits.max_decoded_bytes / per)
        throw std::runtime_error("read_image: NIfTI " + file + " slices need " + std::to_string(w * h * per) +
                                 " bytes, above image_limits::max_decoded_bytes = " +
                                 std::to_string(limits.max_decoded_bytes) + "; crop or downsample it first");
    // Bytes from the start of the data to the end of the volume read (3 axes x the volume index + 1).
    const long double need = static_cast<long double>(g.n[0]) * g.n[1] * g.n[2] * per * (volume + 1) +
                             static_cast<long double>(std::max<std::int64_t>(0, nim.iname_offset));
    std::error_code ec;
    const auto size = std::filesystem::file_size(nim.iname ? std::filesystem::path(nim.iname) : path, ec);
    if (ec) throw std::runtime_error("read_image: cannot read the data of NIfTI " + file + ": " + ec.message());
    const bool gz = nim.iname && std::string(nim.iname).ends_with(".gz");
    if (!gz && need > static_cast<long double>(size))
        throw std::runtime_error("read_image: NIfTI " + file + " is truncated: its header needs " +
                                 std::to_string(static_cast<std::uint64_t>(std::min<long double>(need, 1e19L))) +
                                 " bytes, the file has " + std::to_string(size) + "; re-export or re-download it");
    if (gz && need > 1032.0L * static_cast<long double>(size) + 4096.0L)
        throw std::runtime_error("read_image: NIfTI " + file + " claims " +
                                 std::to_string(static_cast<std::uint64_t>(std::min<long double>(need, 1e19L))) +
                                 " bytes of data, more than a " + std::to_string(size) +
                                 "-byte gzip file can hold; the file is corrupt or truncated");
}

/// Voxel i of a buffer of the file's data type, scaled by scl_slope / scl_inter.
double voxel(const nifti_image& nim, const unsigned char* buf, std::size_t i) {
    double v = 0;
    auto get = [&](auto tag) {
        decltype(tag) x;
        std::memcpy(&x, buf + i * sizeof x, sizeof x);
        return static_cast<double>(x);
    };
    switch (nim.datatype) {
        case NIFTI_TYPE_UINT8: v = get(std::uint8_t{}); break;
        case NIFTI_TYPE_INT8: v = get(std::int8_t{}); break;
        case NIFTI_TYPE_INT16: v = get(std::int16_t{}); break;
        case NIFTI_TYPE_UINT16: v = get(std::uint16_t{}); break;
        case NIFTI_TYPE_INT32: v = get(std::int32_t{}); break;
        case NIFTI_TYPE_UINT32: v = get(std::uint32_t{}); break;
        case NIFTI_TYPE_INT64: v = get(std::int64_t{}); break;
        case NIFTI_TYPE_UINT64: v = get(std::uint64_t{}); break;
        case NIFTI_TYPE_FLOAT32: v = get(float{}); break;
        default: v = get(double{}); break;
    }
    if (std::isfinite(nim.scl_slope) && nim.scl_slope != 0.0 && std::isfinite(nim.scl_inter))
        v = v * nim.scl_slope + nim.scl_inter;
    return v;
}

/// nifti_read_collapsed_image into `out` (sized by the caller): dims[1..3] = -1 or an index, dims[4..7]
/// the volume's indices.
void read_collapsed(nifti_image& nim, std::int64_t fixed_axis, std::int64_t index, std::int64_t volume,
                    std::vector<unsigned char>& out, const std::string& file) {
    std::int64_t dims[8] = {0, -1, -1, -1, 0, 0, 0, 0};
    if (fixed_axis >= 0) dims[fixed_axis + 1] = index;
    std::int64_t rest = volume;
    for (int d = 4; d <= nim.ndim && d <= 7; ++d) {
        const std::int64_t n = std::max<std::int64_t>(1, nim.dim[d]);
        dims[d] = rest % n;
        rest /= n;
    }
    // nifticlib allocates the buffer itself (of the size checked by the caller) and frees it on
    // failure, so it must not be given memory it did not allocate.
    void* data = nullptr;
    const std::int64_t got = nifti_read_collapsed_image(&nim, dims, &data);
    const std::unique_ptr<void, decltype(&std::free)> owned(data, &std::free);
    if (got >= 0 && data && static_cast<std::uint64_t>(got) == out.size())
        std::memcpy(out.data(), data, out.size());
    else
        throw std::runtime_error("read_image: cannot read the voxels of NIfTI " + file +
                                 " (nifticlib failed: the data is truncated or corrupt); re-export or re-download it");
}

/// Value range of whole volumes, cached by file, size, time and volume: every slice of a volume
/// needs the range of all of it, and reading the volume once per slice would be quadratic.
struct range_cache {
    std::mutex mu;
    std::map<std::tuple<std::string, std::uintmax_t, std::int64_t, std::int64_t>, value_range> entries;
};
range_cache& ranges() {
    static range_cache c;
    return c;
}

value_range volume_range(nifti_image& nim, const geometry& g, const std::filesystem::path& path, const std::string& file,
                         const image_limits& limits, std::int64_t volume) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    const auto stamp = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
    const auto key = std::make_tuple(std::filesystem::absolute(path, ec).string(), size, std::int64_t(stamp), volume);
    {
        std::lock_guard<std::mutex> lock(ranges().mu);
        if (auto it = ranges().entries.find(key); it != ranges().entries.end()) return it->second;
    }
    const auto per = static_cast<std::uint64_t>(nim.nbyper);
    const auto voxels = static_cast<std::uint64_t>(g.n[0]) * static_cast<std::uint64_t>(g.n[1]) *
                        static_cast<std::uint64_t>(g.n[2]);
    if (voxels > limits.max_decoded_bytes / per)
        throw std::runtime_error("read_image: NIfTI " + file + " has no display range (cal_min/cal_max), and its "
                                 "whole volume (" + std::to_string(voxels * per) +
                                 " bytes), read to find its value range, is above image_limits::max_decoded_bytes = " +
                                 std::to_string(limits.max_decoded_bytes) +
                                 "; give a window (medical_options::window), set cal_min/cal_max, or raise the limit");
    std::vector<unsigned char> all(static_cast<std::size_t>(voxels * per));
    read_collapsed(nim, -1, 0, volume, all, file);
    value_range r;
    for (std::size_t i = 0; i < voxels; ++i) r.add(voxel(nim, all.data(), i));
    std::lock_guard<std::mutex> lock(ranges().mu);
    if (ranges().entries.size() >= 1024) ranges().entries.clear();
    ranges().entries.emplace(key, r);
    return r;
}

}  // namespace

int nifti_slice_count(const std::filesystem::path& path, const medical_options& opt, const image_limits& limits) {
    const nifti_ptr nim = open_header(path);
    const geometry g = geometry_of(*nim, opt, quote(path));
    check_sizes(*nim, g, path, quote(path), limits, std::max(0, opt.volume));
    if (g.slices > (std::int64_t{1} << 24))
        throw std::runtime_error("read_image: NIfTI " + quote(path) + " has " + std::to_string(g.slices) +
                                 " slices; the file is corrupt");
    return static_cast<int>(g.slices);
}

image read_nifti(const std::filesystem::path& path, int want_channels, const medical_options& opt,
                 const image_limits& limits) {
    const std::string file = quote(path);
    nifti_ptr nim = open_header(path);
    const geometry g = geometry_of(*nim, opt, file);
    static const char* axis_name[] = {"i", "j", "k"};
    if (g.volumes > 1 && opt.volume < 0)
        throw std::runtime_error("read_image: NIfTI " + file + " is 4-D with " + std::to_string(g.volumes) +
                                 " volumes; unetpp reads one 3-D volume: split it (e.g. fslsplit) or pass "
                                 "medical_options::volume to io::read_nifti");
    if (opt.volume >= g.volumes)
        throw std::runtime_error("read_image: NIfTI " + file + " has " + std::to_string(g.volumes) +
                                 " volume(s), so there is no volume " + std::to_string(opt.volume) + " (from 0)");
    const std::int64_t volume = std::max(0, opt.volume);
    if (opt.index < 0 && g.slices > 1)
        throw std::runtime_error("read_image: NIfTI " + file + " is a volume of " + std::to_string(g.slices) +
                                 " slices along stored axis " + axis_name[g.axis] + "; name one as '" + path.string() +
                                 "#k' with k from 0 to " + std::to_string(g.slices - 1) +
                                 " (the folder data set lists every slice as its own image)");
    const std::int64_t index = std::max(0, opt.index);
    if (index >= g.slices)
        throw std::runtime_error("read_image: NIfTI " + file + " has " + std::to_string(g.slices) +
                                 " slice(s) along stored axis " + axis_name[g.axis] + ", so there is no slice " +
                                 std::to_string(index) + " (slices count from 0)");
    check_sizes(*nim, g, path, file, limits, volume);

    intensity_map map;
    bool have_map = false;
    if (opt.window) {
        if (!window_map(voi_function::linear, opt.window->center, opt.window->width, false, map))
            throw std::invalid_argument("read_nifti: medical_options::window needs a finite center and a width of "
                                        "at least 1, got center " + std::to_string(opt.window->center) +
                                        " and width " + std::to_string(opt.window->width));
        have_map = true;
    } else if (opt.use_file_window && std::isfinite(nim->cal_min) && std::isfinite(nim->cal_max) &&
               nim->cal_max > nim->cal_min) {
        have_map = window_map(voi_function::linear_exact, nim->cal_min / 2 + nim->cal_max / 2,
                              nim->cal_max - nim->cal_min, false, map);
    }
    if (!have_map) {
        const value_range r = volume_range(*nim, g, path, file, limits, volume);
        map = range_map(r.lo, r.hi, false);
    }
    const auto plane = static_cast<std::size_t>(g.width * g.height);
    std::vector<unsigned char> buf(plane * static_cast<std::size_t>(nim->nbyper));
    read_collapsed(*nim, g.axis, index, volume, buf, file);
    image gray(static_cast<int>(g.width), static_cast<int>(g.height), 1);
    gray.source_bits = nim->nbyper * 8;
    for (std::size_t i = 0; i < plane; ++i) gray.pixels[i] = map(voxel(*nim, buf.data(), i));
    if (want_channels == 0 || want_channels == 1) return gray;
    image out(gray.width, gray.height, want_channels);
    out.source_bits = gray.source_bits;
    io::detail::convert_channels(gray.pixels.data(), 1, out.pixels.data(), want_channels, plane, 255.0);
    return out;
}

medical_info nifti_info(const std::filesystem::path& path, const medical_options& opt, const image_limits& limits) {
    const std::string file = quote(path);
    nifti_ptr nim = open_header(path);
    const geometry g = geometry_of(*nim, opt, file);
    check_sizes(*nim, g, path, file, limits, std::max(0, opt.volume));
    medical_info info;
    info.format = nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 || nim->nifti_type == NIFTI_FTYPE_NIFTI2_2 ? "NIfTI-2"
                                                                                                        : "NIfTI-1";
    info.width = static_cast<int>(g.width);
    info.height = static_cast<int>(g.height);
    info.count = static_cast<int>(std::min<std::int64_t>(g.slices, 1 << 30));
    info.volumes = static_cast<int>(std::min<std::int64_t>(g.volumes, 1 << 30));
    info.bits_allocated = info.bits_stored = nim->nbyper * 8;
    info.is_float = nim->datatype == NIFTI_TYPE_FLOAT32 || nim->datatype == NIFTI_TYPE_FLOAT64;
    info.is_signed = info.is_float || nim->datatype == NIFTI_TYPE_INT8 || nim->datatype == NIFTI_TYPE_INT16 ||
                     nim->datatype == NIFTI_TYPE_INT32 || nim->datatype == NIFTI_TYPE_INT64;
    if (std::isfinite(nim->scl_slope) && nim->scl_slope != 0.0 && std::isfinite(nim->scl_inter)) {
        info.slope = nim->scl_slope;
        info.intercept = nim->scl_inter;
    }
    if (std::isfinite(nim->cal_min) && std::isfinite(nim->cal_max) && nim->cal_max > nim->cal_min)
        info.window = voi_window{nim->cal_min / 2 + nim->cal_max / 2, nim->cal_max - nim->cal_min};
    int codes[3] = {0, 0, 0};
    if (nim->sform_code > 0) nifti_dmat44_to_orientation(nim->sto_xyz, &codes[0], &codes[1], &codes[2]);
    else if (nim->qform_code > 0) nifti_dmat44_to_orientation(nim->qto_xyz, &codes[0], &codes[1], &codes[2]);
    static const char* axis_name[] = {"i", "j", "k"};
    for (int a = 0; a < 3; ++a) info.axis_directions[static_cast<std::size_t>(a)] = direction(codes[a]);
    info.orientation = std::string("x (columns): ") + axis_name[g.xa] + " " + direction(codes[g.xa]) + "; y (rows): " +
                       axis_name[g.ya] + " " + direction(codes[g.ya]) + "; slices: " + axis_name[g.axis] + " " +
                       direction(codes[g.axis]) + " (from the " +
                       (nim->sform_code > 0 ? "sform" : nim->qform_code > 0 ? "qform" : "header: no sform or qform") +
                       ")";
    return info;
}

}  // namespace unetpp::io::detail::medical
