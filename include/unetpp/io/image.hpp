#pragma once
/// \file Reading and writing images (PNG, JPEG, BMP) and converting them to and from tensors.
///
///   auto img = unetpp::io::read_image("benign (1).png", 1);   // gray, 8-bit
///   unetpp::tensor<float> x = unetpp::io::to_tensor(img);      // [1, 1, H, W] in [0, 1]
///   unetpp::io::write_png("pred.png", unetpp::io::from_tensor(prob));
///
/// Pixel format: `image` always holds 8 bits per channel, channels interleaved, rows top to
/// bottom. 16-bit PNGs are decoded at 16 bits, converted to the requested channels at that
/// precision, and then rounded to 8 bits (v8 = round(v16 * 255 / 65535)); `image::source_bits`
/// records 16 so a caller can tell. 8 bits is what the network sees after /255 anyway, and one
/// pixel type keeps every consumer simple.
///
/// Channel conversion (want_channels 1, 3 or 4; 0 keeps the file's own):
///   gray -> RGB(A)  replicate;   RGB(A) -> gray  ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B;
///   alpha is dropped when not requested (not composited) and set opaque when added.
///
/// DICOM and NIfTI files are read through io/medical.hpp (GDCM, nifticlib) when the program links
/// unetpp::medical, and refused with a message saying so otherwise.
///
/// Decoding is an attack surface (stb_image 2.27 has unfixed CVEs, see DESIGN.md):
///  - PNG and BMP are decoded by stb_image, compiled with those two formats only;
///  - JPEG is decoded by libjpeg-turbo (io/detail/jpeg_decode.hpp) when unetpp is built with it
///    (UNETPP_HAS_LIBJPEG=1, set by CMake when find_package(JPEG) succeeds); without it a JPEG file
///    is refused with a message naming the package to install. JPEG never reaches stb_image;
///  - the file size is bounded before it is read, and the dimensions and the decoded size in the
///    header are checked against `image_limits` before any pixel is decoded;
///  - the decoders' own memory is capped too (image_limits::max_decoded_bytes): stb_image
///    allocates through a counting allocator with a per-thread budget (io/detail/decode_alloc.hpp),
///    libjpeg through cinfo.mem->max_memory_to_use, so a header that lies or a compressed stream
///    that inflates without end cannot exhaust memory.
/// Every failure is a std::runtime_error naming the file and what to do.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "atomic_file.hpp"
#include "../detail/stb_image_impl.hpp"
#include "../tensor/tensor.hpp"
#include "detail/decode_alloc.hpp"
#include "detail/image_format.hpp"
#include "detail/jpeg_decode.hpp"
#include "medical_fwd.hpp"  // DICOM and NIfTI, compiled into unetpp::medical (io/medical.hpp)

namespace unetpp::inline UNETPP_ABI::io {

/// An 8-bit image: `pixels[(y * width + x) * channels + c]`.
struct image {
    int width = 0;
    int height = 0;
    int channels = 0;                  ///< 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)
    int source_bits = 8;               ///< bits per channel in the file it was read from (8 or 16)
    std::vector<std::uint8_t> pixels;  ///< width * height * channels bytes

    image() = default;
    /// A black image of the given size.
    image(int w, int h, int c) : width(w), height(h), channels(c) {
        if (w < 0 || h < 0 || c < 1 || c > 4)
            throw std::invalid_argument("io::image: invalid size " + std::to_string(w) + " x " + std::to_string(h) +
                                        " x " + std::to_string(c) + " (channels must be 1 to 4)");
        pixels.assign(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * static_cast<std::size_t>(c), 0);
    }

    [[nodiscard]] bool empty() const noexcept { return pixels.empty(); }
    [[nodiscard]] std::uint8_t& at(int x, int y, int c = 0) noexcept {
        return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c];
    }
    [[nodiscard]] std::uint8_t at(int x, int y, int c = 0) const noexcept {
        return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c];
    }
};

/// Bounds checked before decoding. The defaults admit every medical image in the seeds
/// (mammograms are about 5000 x 3000) while refusing decompression bombs: a 100-byte PNG can
/// claim 100000 x 100000 pixels, and stb would try to allocate them.
struct image_limits {
    int max_side = 16384;                               ///< widest / tallest side accepted
    std::uint64_t max_pixels = std::uint64_t{1} << 28;       ///< width * height
    std::uint64_t max_file_bytes = std::uint64_t{1} << 30;  ///< 1 GiB
    /// Decoded memory, 1 GiB by default. Checked twice:
    ///  - from the header, before anything is allocated: width x height x channels x bytes per
    ///    sample as stored (a 16-bit RGBA PNG needs 8 bytes a pixel) and width x height x the
    ///    requested channels of the returned image must each be at most this;
    ///  - while decoding: the most memory the decoder may hold at once for one image (stb_image's
    ///    pixel and zlib buffers for PNG and BMP, libjpeg's working memory for JPEG, whose
    ///    progressive files keep 2 bytes per pixel and component of coefficients). The file's own
    ///    bytes and the returned image are not counted. stb needs about twice the decoded size
    ///    for a PNG (inflated rows, then pixels), so the largest PNG accepted is about half this.
    std::uint64_t max_decoded_bytes = std::uint64_t{1} << 30;
    /// Most scans in a progressive JPEG. Each scan walks the whole image, so a small file with
    /// thousands of tiny scans costs minutes of CPU (libjpeg-turbo's documented mitigation is
    /// such a limit); encoders write about 10.
    int max_jpeg_scans = 500;
};

namespace detail {
struct stb_deleter {
    void operator()(void* p) const noexcept { unetpp::detail::stb_api::image_free(p); }
};
}  // namespace detail

/// Decodes a PNG, JPEG or BMP image held in memory; `name` is used in error messages.
/// want_channels: 0 keeps the stored channels, 1 gray, 3 RGB, 4 RGBA (see the file comment).
inline image decode_image(const std::vector<unsigned char>& bytes, int want_channels, std::string_view name = "<memory>",
                          const image_limits& limits = {}) {
    namespace stb = unetpp::detail::stb_api;
    detail::check_channels_arg(want_channels, "read_image");
    const std::string file = "'" + std::string(name) + "'";
    if (bytes.empty())
        throw std::runtime_error("read_image: " + file + " is empty (0 bytes); the file was not written completely");
    if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::runtime_error("read_image: " + file + " is larger than 2 GiB; split or recompress it");
    if (auto medical = detail::medical::decode_if_medical(bytes, want_channels, name, limits))  // DICOM, NIfTI
        return std::move(*medical);
    if (const auto fmt = detail::unsupported_format(bytes); !fmt.empty())
        throw std::runtime_error("read_image: " + file + " is a " + std::string(fmt) +
                                 " file; unetpp reads only PNG, JPEG and BMP (convert it, e.g. to PNG)");
    auto too_large = [&](const std::string& size) {
        return std::runtime_error("read_image: " + file + " is " + size + ", above the limit of " +
                                  std::to_string(limits.max_side) + " pixels per side and " +
                                  std::to_string(limits.max_pixels) +
                                  " in all; downscale it first (or raise io::image_limits if it is genuine)");
    };
    auto check_size = [&](std::uint64_t w, std::uint64_t h) {
        if (w > static_cast<std::uint64_t>(limits.max_side) || h > static_cast<std::uint64_t>(limits.max_side) ||
            w * h > limits.max_pixels)
            throw too_large(std::to_string(w) + " x " + std::to_string(h) + " pixels");
    };
    // Decoded size from the header, before anything is allocated: the pixels as stored and the
    // image returned must each fit in max_decoded_bytes.
    auto check_decoded = [&](std::uint64_t w, std::uint64_t h, int channels, int bytes_per_sample, int out_channels) {
        const std::uint64_t limit = limits.max_decoded_bytes;
        const bool stored_over = detail::product_exceeds(w, h, static_cast<std::uint64_t>(channels) * bytes_per_sample, limit);
        if (stored_over || detail::product_exceeds(w, h, static_cast<std::uint64_t>(out_channels), limit)) {
            const int per_pixel = stored_over ? channels * bytes_per_sample : out_channels;
            throw std::runtime_error("read_image: " + file + " is " + std::to_string(w) + " x " + std::to_string(h) +
                                     " pixels of " + std::to_string(per_pixel) + " bytes, " +
                                     std::to_string(w * h * static_cast<std::uint64_t>(per_pixel)) +
                                     " bytes decoded, above image_limits::max_decoded_bytes = " +
                                     std::to_string(limit) +
                                     "; downscale it first (or raise the limit if it is genuine)");
        }
    };
    auto out_channels = [&](int stored) { return want_channels == 0 ? stored : want_channels; };
    // 8- or 16-bit decoded pixels -> the image returned, converted to the requested channels.
    auto to_image = [&](const void* data, int w, int h, int c, bool sixteen) {
        image img(w, h, out_channels(c));
        img.source_bits = sixteen ? 16 : 8;
        const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
        if (sixteen)
            detail::convert_channels(static_cast<const std::uint16_t*>(data), c, img.pixels.data(), img.channels, n,
                                     65535.0);
        else
            detail::convert_channels(static_cast<const std::uint8_t*>(data), c, img.pixels.data(), img.channels, n,
                                     255.0);
        return img;
    };

    if (detail::is_jpeg(bytes)) {
#if defined(UNETPP_HAS_LIBJPEG) && UNETPP_HAS_LIBJPEG
        namespace jpeg = detail::jpeg;
        const std::uint64_t memory = std::min<std::uint64_t>(limits.max_decoded_bytes, std::numeric_limits<std::size_t>::max());
        jpeg::decoder dec(bytes.data(), bytes.size(), static_cast<std::size_t>(memory), limits.max_jpeg_scans);
        auto failed = [&]() {
            const std::string why = dec.message();
            switch (dec.why()) {
                case jpeg::failure::precision:
                    return std::runtime_error("read_image: " + file + " is a " + std::to_string(dec.precision()) +
                                              "-bit JPEG; unetpp decodes 8-bit JPEG only (convert it to 8-bit, or to "
                                              "a 16-bit PNG to keep the precision)");
                case jpeg::failure::color_space:
                    return std::runtime_error("read_image: " + file + " is a JPEG with " +
                                              std::to_string(dec.components()) + " components (" + why +
                                              "); unetpp decodes gray and RGB JPEG only (convert it to RGB)");
                case jpeg::failure::memory:
                    return std::runtime_error("read_image: decoding " + file +
                                              " needs more memory than image_limits::max_decoded_bytes = " +
                                              std::to_string(limits.max_decoded_bytes) + " bytes (libjpeg-turbo: " +
                                              why + "); downscale it first (or raise the limit if it is genuine)");
                case jpeg::failure::too_many_scans:
                    return std::runtime_error("read_image: " + file + " is a progressive JPEG with more than " +
                                              std::to_string(limits.max_jpeg_scans) +
                                              " scans (image_limits::max_jpeg_scans); the file is broken or a "
                                              "decompression bomb: re-encode it");
                default:
                    return std::runtime_error("read_image: cannot decode JPEG " + file + " (libjpeg-turbo: " + why +
                                              "); the file is corrupt or truncated: re-export or re-download it");
            }
        };
        if (!dec.read_header()) throw failed();
        const std::uint64_t w = dec.width(), h = dec.height();
        check_size(w, h);
        if (w == 0 || h == 0)
            throw std::runtime_error("read_image: JPEG " + file + " has an invalid header (" + std::to_string(w) +
                                     " x " + std::to_string(h) + "); the file is corrupt");
        check_decoded(w, h, dec.channels(), 1, out_channels(dec.channels()));
        std::vector<std::uint8_t> pixels(static_cast<std::size_t>(w * h) * static_cast<std::size_t>(dec.channels()));
        if (!dec.decode(pixels.data())) throw failed();
        return to_image(pixels.data(), static_cast<int>(w), static_cast<int>(h), dec.channels(), false);
#else
        throw std::runtime_error("read_image: " + file + " is a JPEG file, and this build of unetpp has no JPEG "
                                 "decoder: install libjpeg-turbo (Debian: libjpeg62-turbo-dev, Ubuntu: "
                                 "libjpeg-turbo8-dev, Fedora: libjpeg-turbo-devel), rebuild so that CMake finds it "
                                 "(find_package(JPEG)), or convert the image to PNG");
#endif
    }

    const auto [hw, hh] = detail::header_dimensions(bytes);
    check_size(hw, hh);
    if (const auto compression = detail::bmp_compression(bytes); compression == 1 || compression == 2)
        throw std::runtime_error("read_image: " + file + " is an RLE-compressed BMP, which unetpp does not decode; "
                                 "convert it to PNG or to an uncompressed BMP");
    else if (compression != -1 && compression != 0 && compression != 3)
        // stb_image decodes an unknown compression value as uncompressed pixels, so the size
        // check below (which knows only BI_RGB and BI_BITFIELDS) would not bound it: a 90-byte
        // file would decode 23 million zero pixels (a fuzzing finding).
        throw std::runtime_error("read_image: " + file + " is a BMP with compression method " +
                                 std::to_string(compression) +
                                 ", which unetpp does not decode (only uncompressed BMPs); convert it to PNG");
    if (bytes.size() >= 18 && bytes[0] == 'B' && bytes[1] == 'M' && bytes[14] == 12 && bytes[15] == 0 &&
        bytes[16] == 0 && bytes[17] == 0)  // stb's OS/2 path misreads palettes (see bmp_palette_problem)
        throw std::runtime_error("read_image: " + file + " is an OS/2 1.x BMP (12-byte header), which unetpp does "
                                 "not decode; convert it to PNG");
    const int len = static_cast<int>(bytes.size());
    // Every allocation stb makes from here on counts against max_decoded_bytes.
    detail::decode_alloc::budget_scope budget(
        static_cast<std::size_t>(std::min<std::uint64_t>(limits.max_decoded_bytes, std::numeric_limits<std::size_t>::max())));
    int w = 0, h = 0, c = 0;
    if (!stb::info(bytes.data(), len, &w, &h, &c)) {
        const std::string reason = stb::failure_reason();
        if (reason == "too large") throw too_large("larger than stb_image decodes (2^30 bytes)");
        throw std::runtime_error("read_image: " + file + " is not a readable PNG, JPEG or BMP image (" + reason +
                                 "); the file is corrupt, truncated or of another format");
    }
    if (bytes[0] == 'B' && h < 0 && h != std::numeric_limits<int>::min()) h = -h;  // top-down BMP: stb says -height
    if (w <= 0 || h <= 0 || c < 1 || c > 4)
        throw std::runtime_error("read_image: " + file + " has an invalid header (" + std::to_string(w) + " x " +
                                 std::to_string(h) + " x " + std::to_string(c) + "); the file is corrupt");
    check_size(static_cast<std::uint64_t>(w), static_cast<std::uint64_t>(h));
    const bool sixteen = stb::is_16_bit(bytes.data(), len) != 0;
    check_decoded(static_cast<std::uint64_t>(w), static_cast<std::uint64_t>(h), c, sixteen ? 2 : 1, out_channels(c));
    if (const std::uint64_t need = detail::bmp_bytes_needed(bytes); need > bytes.size())
        throw std::runtime_error("read_image: BMP " + file + " is truncated: its header needs " + std::to_string(need) +
                                 " bytes, the file has " + std::to_string(bytes.size()) +
                                 "; re-export or re-download it");
    if (const std::string problem = detail::bmp_palette_problem(bytes); !problem.empty())
        throw std::runtime_error("read_image: BMP " + file + " " + problem);

    const std::vector<unsigned char> cleaned = detail::png_without_empty_idat(bytes);
    const std::vector<unsigned char>& src = cleaned.empty() ? bytes : cleaned;
    const int src_len = static_cast<int>(src.size());
    int dw = 0, dh = 0, dc = 0;
    std::unique_ptr<void, detail::stb_deleter> data(
        sixteen ? static_cast<void*>(stb::load_16(src.data(), src_len, &dw, &dh, &dc))
                : static_cast<void*>(stb::load_8(src.data(), src_len, &dw, &dh, &dc)));
    if (!data && budget.refused())
        throw std::runtime_error("read_image: decoding " + file + " needs more memory than "
                                 "image_limits::max_decoded_bytes = " + std::to_string(limits.max_decoded_bytes) +
                                 " bytes (the decoder asked for " + std::to_string(budget.largest_refused()) +
                                 " bytes at once); the file is corrupt or a decompression bomb (or raise the limit "
                                 "if it is genuine)");
    if (!data)
        throw std::runtime_error("read_image: cannot decode " + file + " (" + stb::failure_reason() +
                                 "); the file is corrupt or truncated: re-export or re-download it");
    if (dw != w || dh != h || dc != c)
        throw std::runtime_error("read_image: " + file + " decodes to a size other than its header states; "
                                 "the file is corrupt");
    return to_image(data.get(), w, h, c, sixteen);
}

/// Reads a PNG, JPEG or BMP file (8- or 16-bit; see the file comment for channels and depth).
/// DICOM (.dcm, or any file with the DICM signature) and NIfTI (.nii, .nii.gz) go to the readers of
/// io/medical.hpp when the program links unetpp::medical; `file#k` names frame or slice k of one
/// (io/medical_dispatch.hpp).
inline image read_image(const std::filesystem::path& path, int want_channels = 0, const image_limits& limits = {}) {
    detail::check_channels_arg(want_channels, "read_image");
    if (auto medical = detail::medical::read_if_medical(path, want_channels, limits)) return std::move(*medical);
    const auto bytes = detail::read_file_bounded(path, limits.max_file_bytes, "read_image");
    return decode_image(bytes, want_channels, path.string(), limits);
}

/// Encodes an 8-bit image with 1, 2, 3 or 4 channels as PNG bytes.
inline std::vector<unsigned char> encode_png(const image& img) {
    if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4)
        throw std::invalid_argument("encode_png: invalid image " + std::to_string(img.width) + " x " +
                                    std::to_string(img.height) + " x " + std::to_string(img.channels));
    const std::size_t need = static_cast<std::size_t>(img.width) * img.height * img.channels;
    if (img.pixels.size() != need)
        throw std::invalid_argument("encode_png: image has " + std::to_string(img.pixels.size()) + " bytes, " +
                                    std::to_string(img.width) + " x " + std::to_string(img.height) + " x " +
                                    std::to_string(img.channels) + " needs " + std::to_string(need));
    if (static_cast<std::uint64_t>(img.width) * img.channels > static_cast<std::uint64_t>(std::numeric_limits<int>::max() / 2))
        throw std::invalid_argument("encode_png: image rows are too wide for the PNG encoder");
    std::vector<unsigned char> out;
    auto sink = [](void* ctx, void* data, int size) {
        auto* v = static_cast<std::vector<unsigned char>*>(ctx);
        const auto* p = static_cast<const unsigned char*>(data);
        v->insert(v->end(), p, p + size);
    };
    if (!unetpp::detail::stb_api::write_png(sink, &out, img.width, img.height, img.channels, img.pixels.data(),
                                           img.width * img.channels))
        throw std::runtime_error("encode_png: the PNG encoder failed (out of memory?)");
    return out;
}

namespace detail {

/// Writes `bytes` to `path` through io::write_file_atomic (a new temporary file in the same
/// folder, fsynced, renamed over the target, folder fsynced), with errors that start with `what`
/// and say what to do.
inline void write_file_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& bytes,
                              std::string_view what) {
    namespace fs = std::filesystem;
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw std::runtime_error(std::string(what) + ": cannot write " + quoted(path) + ": directory " + quoted(dir) +
                                 " does not exist (create it first)");
    try {
        io::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(what) + ": cannot write " + quoted(path) + ": " + e.what() +
                                 " (check that the folder is writable and the disk has space)");
    }
}

}  // namespace detail

/// Writes an 8-bit gray (1 channel) or RGB (3 channels) image as PNG, atomically (temporary file
/// in the same directory, then rename). 2- and 4-channel images are written with their alpha.
inline void write_png(const std::filesystem::path& path, const image& img) {
    std::vector<unsigned char> bytes;
    try {
        bytes = encode_png(img);
    } catch (const std::exception& e) {
        throw std::runtime_error("write_png: cannot write " + detail::quoted(path) + ": " + e.what());
    }
    detail::write_file_atomic(path, bytes, "write_png");
}

/// Image -> tensor [1, C, H, W] with values pixel / 255.
inline tensor<float> to_tensor(const image& img) {
    if (img.pixels.size() != static_cast<std::size_t>(img.width) * img.height * img.channels)
        throw std::invalid_argument("to_tensor: image pixel buffer does not match its size");
    tensor<float> t(shape4{1, img.channels, img.height, img.width});
    const std::size_t plane = static_cast<std::size_t>(img.width) * img.height;
    for (int c = 0; c < img.channels; ++c)
        for (std::size_t i = 0; i < plane; ++i)
            t[c * plane + i] = static_cast<float>(img.pixels[i * img.channels + c]) * (1.0f / 255.0f);
    return t;
}

/// Tensor values in [0, 1] -> 8-bit image (clamped, rounded; NaN becomes 0). Takes sample
/// `sample` of the batch; `channel` < 0 keeps all channels (1 to 4), otherwise that channel
/// alone as a gray image.
inline image from_tensor(const tensor<float>& t, int sample = 0, int channel = -1) {
    const shape4 s = t.shape();
    if (sample < 0 || sample >= s.n)
        throw std::out_of_range("from_tensor: sample " + std::to_string(sample) + " outside batch of " +
                                std::to_string(s.n) + " (shape " + s.str() + ")");
    if (channel >= s.c)
        throw std::out_of_range("from_tensor: channel " + std::to_string(channel) + " outside " +
                                std::to_string(s.c) + " channels (shape " + s.str() + ")");
    if (channel < 0 && (s.c < 1 || s.c > 4))
        throw std::invalid_argument("from_tensor: an image has 1 to 4 channels, the tensor has " +
                                    std::to_string(s.c) + "; pick one with the channel argument");
    const int first = channel < 0 ? 0 : channel;
    const int count = channel < 0 ? s.c : 1;
    image img(s.w, s.h, count);
    const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
    for (int c = 0; c < count; ++c) {
        const float* src = t.data() + (static_cast<std::size_t>(sample) * s.c + first + c) * plane;
        for (std::size_t i = 0; i < plane; ++i) {
            const float v = src[i];
            const float r = v > 0.0f ? std::floor(std::min(v, 1.0f) * 255.0f + 0.5f) : 0.0f;  // NaN -> 0
            img.pixels[i * count + c] = static_cast<std::uint8_t>(r);
        }
    }
    return img;
}

/// Horizontal concatenation of gray images of equal height, separated by 2-pixel white columns.
inline image side_by_side(const std::vector<image>& parts) {
    if (parts.empty()) throw std::invalid_argument("side_by_side: no images given");
    const int h = parts.front().height;
    int w = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const image& p = parts[i];
        if (p.channels != 1)
            throw std::invalid_argument("side_by_side: image " + std::to_string(i) + " has " +
                                        std::to_string(p.channels) + " channels; only gray images are joined");
        if (p.height != h)
            throw std::invalid_argument("side_by_side: image " + std::to_string(i) + " is " +
                                        std::to_string(p.height) + " pixels high, image 0 is " + std::to_string(h));
        w += p.width + (i ? 2 : 0);
    }
    image out(w, h, 1);
    std::fill(out.pixels.begin(), out.pixels.end(), std::uint8_t{255});
    int x0 = 0;
    for (const image& p : parts) {
        for (int y = 0; y < h; ++y)
            std::copy_n(p.pixels.begin() + static_cast<std::ptrdiff_t>(y) * p.width, p.width,
                        out.pixels.begin() + static_cast<std::ptrdiff_t>(y) * w + x0);
        x0 += p.width + 2;
    }
    return out;
}
inline image side_by_side(std::initializer_list<image> parts) { return side_by_side(std::vector<image>(parts)); }

}  // namespace unetpp::io

#include "medical_dispatch.hpp"  // read_if_medical, count_images
