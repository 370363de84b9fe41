#pragma once
/// \file Reading and writing the safetensors format (F32 and F64 tensors).
///
/// Layout of a file:
///   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
///   bytes [8, 8 + N)    UTF-8 JSON object, possibly padded with trailing spaces:
///                         {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
///                          "__metadata__": {"key": "value"}}
///   bytes [8 + N, end)  the data section: raw little-endian elements; data_offsets are relative
///                       to its first byte, and the tensors tile it without gaps or overlaps.
///
/// Files come from outside the program, so the reader treats every byte as untrusted: a
/// truncated file, a header longer than the file or than 100 MB, malformed JSON, an unknown
/// dtype, offsets out of range, overlapping or not matching shape x element size, and duplicate
/// names all raise std::runtime_error naming the file (and the tensor, where there is one).
/// The JSON reader accepts exactly the grammar a header needs: objects, arrays, strings with
/// escapes, and integers. It runs in O(n log n) for n tensors (duplicate names are found with an
/// ordered set), without recursion, so a header at the 100 MB limit parses in seconds.
///
/// Checksums. The writer records a CRC-32C (Castagnoli) of every tensor's bytes in the metadata
/// as `unetpp.crc32c.<tensor name>` (8 lowercase hex digits) and one over the parsed header as
/// `unetpp.crc32c_header`: every metadata key and value except that one, and every tensor's
/// name, dtype, shape and offsets, in name order, each length-prefixed. A checksum per tensor
/// names the damaged tensor; the header checksum catches damage that still parses (a changed
/// digit in an epoch count, a shape, a name). The reader verifies every checksum present and
/// refuses a file whose checksum is present and wrong ("corrupt: tensor X fails its checksum");
/// files from other writers (PyTorch) carry none and load as before. Keys with the unetpp.crc32c
/// prefix given to set_metadata are replaced by the computed ones.
///
///   unetpp::io::safetensors_writer w;
///   w.add("enc1.conv1.weight", weight);            // 4-D shape by default
///   w.add("head.bias", bias, {classes});           // or an explicit shape of equal size
///   w.set_metadata("format", "pt");
///   w.save("model.safetensors");                   // written atomically, fsynced
///
///   auto f = unetpp::io::safetensors_file::load("model.safetensors");
///   unetpp::tensor<float> b = f.get<float>("head.bias");   // shape [1, 1, 1, classes]

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "atomic_file.hpp"
#include "safetensors_format.hpp"

namespace unetpp::inline UNETPP_ABI::io {

/// A safetensors file read into memory and validated.
class safetensors_file {
public:
    /// Reads and validates `path`; throws std::runtime_error naming the file on any problem.
    static safetensors_file load(const std::filesystem::path& path) {
        const std::string src = path.string();
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("safetensors: " + src + ": cannot open the file for reading");
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec) throw std::runtime_error("safetensors: " + src + ": cannot read the file size: " + ec.message());
        // Validate the header length against the file size before allocating anything large.
        if (size < 8)
            throw std::runtime_error("safetensors: " + src + ": truncated file (" + std::to_string(size) +
                                     " bytes; the 8-byte header length is missing)");
        std::string bytes;
        bytes.resize(8);
        in.read(bytes.data(), 8);
        if (!in) throw std::runtime_error("safetensors: " + src + ": read error in the header length");
        const std::uint64_t n = detail::load_le<std::uint64_t>(reinterpret_cast<const unsigned char*>(bytes.data()));
        check_header_length(n, size, src);
        bytes.resize(static_cast<std::size_t>(size));
        in.read(bytes.data() + 8, static_cast<std::streamsize>(size - 8));
        if (static_cast<std::uint64_t>(in.gcount()) != size - 8)
            throw std::runtime_error("safetensors: " + src + ": read error (file shorter than its size)");
        return parse(std::move(bytes), src);
    }

    /// Parses a whole file held in memory; `source` names it in error messages.
    static safetensors_file parse(std::string bytes, std::string source = "<memory>") {
        if (bytes.size() < 8)
            throw std::runtime_error("safetensors: " + source + ": truncated file (" + std::to_string(bytes.size()) +
                                     " bytes; the 8-byte header length is missing)");
        const std::uint64_t n = detail::load_le<std::uint64_t>(reinterpret_cast<const unsigned char*>(bytes.data()));
        check_header_length(n, bytes.size(), source);
        const auto header_len = static_cast<std::size_t>(n);
        auto parsed = detail::safetensors_header_parser(std::string_view(bytes).substr(8, header_len), source).parse();

        safetensors_file f;
        f.source_ = std::move(source);
        f.data_offset_ = 8 + header_len;
        f.metadata_ = std::move(parsed.metadata);
        const std::uint64_t data_size = bytes.size() - f.data_offset_;
        for (auto& e : parsed.entries) f.validate_entry(e, data_size);

        // The tensors must tile the data section: no overlaps, no gaps, no trailing bytes.
        std::vector<const safetensors_entry*> by_offset;
        by_offset.reserve(parsed.entries.size());
        for (const auto& e : parsed.entries) by_offset.push_back(&e);
        std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        std::uint64_t covered = 0;
        const safetensors_entry* prev = nullptr;
        for (const auto* e : by_offset) {
            if (e->begin < covered)
                throw std::runtime_error("safetensors: " + f.source_ + ": tensor \"" + e->name + "\": data_offsets [" +
                                         std::to_string(e->begin) + ", " + std::to_string(e->end) +
                                         "] overlap tensor \"" + prev->name + "\"");
            if (e->begin > covered)
                throw std::runtime_error("safetensors: " + f.source_ + ": tensor \"" + e->name + "\": data_offsets [" +
                                         std::to_string(e->begin) + ", " + std::to_string(e->end) +
                                         "] leave a gap at byte " + std::to_string(covered) + " of the data section");
            covered = e->end;
            prev = e;
        }
        if (covered != data_size)
            throw std::runtime_error("safetensors: " + f.source_ + ": the data section has " + std::to_string(data_size) +
                                     " bytes but the tensors cover " + std::to_string(covered));

        for (auto& e : parsed.entries) {
            std::string name = e.name;
            f.entries_.emplace(std::move(name), std::move(e));
        }
        f.bytes_ = std::move(bytes);
        f.verify_checksums();
        return f;
    }

    /// True when the file carries the unetpp header checksum (written by safetensors_writer);
    /// such a file has passed every checksum check on load.
    [[nodiscard]] bool has_checksums() const noexcept {
        return metadata_.find(safetensors_header_crc_key) != metadata_.end();
    }

    /// Tensor names in sorted order.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> v;
        v.reserve(entries_.size());
        for (const auto& [name, e] : entries_) v.push_back(name);
        return v;
    }
    [[nodiscard]] bool contains(std::string_view name) const { return entries_.find(name) != entries_.end(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

    /// The header description of one tensor; throws std::runtime_error when absent.
    [[nodiscard]] const safetensors_entry& entry(std::string_view name) const {
        const auto it = entries_.find(name);
        if (it == entries_.end())
            throw std::runtime_error("safetensors: " + source_ + ": no tensor named \"" + std::string(name) + "\"");
        return it->second;
    }
    [[nodiscard]] const std::vector<std::int64_t>& shape(std::string_view name) const { return entry(name).shape; }
    [[nodiscard]] const std::string& dtype(std::string_view name) const { return entry(name).dtype; }
    [[nodiscard]] const std::map<std::string, std::string, std::less<>>& metadata() const noexcept { return metadata_; }
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    /// The tensor converted to T; the stored shape is right-aligned into NCHW ([k] -> [1, 1, 1, k],
    /// [a, b] -> [1, 1, a, b], a scalar -> [1, 1, 1, 1]). More than four dimensions is an error.
    template <class T>
    [[nodiscard]] tensor<T> get(std::string_view name) const {
        static_assert(std::is_floating_point_v<T>, "safetensors_file::get: T must be float or double");
        const auto& e = entry(name);
        if (e.shape.size() > 4)
            throw std::runtime_error("safetensors: " + source_ + ": tensor \"" + e.name + "\" has " +
                                     std::to_string(e.shape.size()) + " dimensions; unetpp tensors have at most 4");
        int dims[4] = {1, 1, 1, 1};
        const std::size_t skip = 4 - e.shape.size();
        for (std::size_t i = 0; i < e.shape.size(); ++i) dims[skip + i] = static_cast<int>(e.shape[i]);
        tensor<T> t(shape4{dims[0], dims[1], dims[2], dims[3]});
        const auto* p = reinterpret_cast<const unsigned char*>(bytes_.data()) + data_offset_ + e.begin;
        if (e.dtype == "F32") {
            for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(detail::load_le<float>(p + 4 * i));
        } else {
            for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(detail::load_le<double>(p + 8 * i));
        }
        return t;
    }

private:
    safetensors_file() = default;

    static void check_header_length(std::uint64_t n, std::uint64_t file_size, const std::string& src) {
        if (n > safetensors_max_header_bytes)
            throw std::runtime_error("safetensors: " + src + ": header length " + std::to_string(n) +
                                     " exceeds the 100 MB limit");
        if (n > file_size - 8)
            throw std::runtime_error("safetensors: " + src + ": header length " + std::to_string(n) +
                                     " is larger than the rest of the file (" + std::to_string(file_size - 8) +
                                     " bytes); the file is truncated or corrupt");
        if (n < 2) throw std::runtime_error("safetensors: " + src + ": header length " + std::to_string(n) + " is too short");
    }

    [[noreturn]] void corrupt(const std::string& what) const {
        throw std::runtime_error("safetensors: " + source_ + ": corrupt: " + what +
                                 "; the file was damaged after it was written; use the previous checkpoint or "
                                 "retrain");
    }

    /// Checks the header checksum and every tensor checksum present (see the file comment).
    void verify_checksums() const {
        std::uint32_t want = 0;
        const auto h = metadata_.find(safetensors_header_crc_key);
        if (h != metadata_.end()) {
            if (!detail::parse_crc_hex(h->second, want)) corrupt("the header checksum is not 8 hex digits");
            std::vector<const safetensors_entry*> by_name;
            by_name.reserve(entries_.size());
            for (const auto& [name, e] : entries_) by_name.push_back(&e);
            if (detail::safetensors_header_crc(metadata_, by_name) != want) corrupt("the header fails its checksum");
        }
        for (auto it = metadata_.lower_bound(safetensors_crc_prefix);
             it != metadata_.end() && it->first.starts_with(safetensors_crc_prefix); ++it) {
            const std::string_view name = std::string_view(it->first).substr(safetensors_crc_prefix.size());
            const auto e = entries_.find(name);
            if (e == entries_.end())
                corrupt("the checksum \"" + it->first + "\" names a tensor the file does not hold");
            if (!detail::parse_crc_hex(it->second, want))
                corrupt("the checksum of tensor \"" + e->first + "\" is not 8 hex digits");
            const std::uint32_t got =
                crc32c(bytes_.data() + data_offset_ + e->second.begin, e->second.end - e->second.begin);
            if (got != want) corrupt("tensor \"" + e->first + "\" fails its checksum");
        }
    }

    void validate_entry(const safetensors_entry& e, std::uint64_t data_size) const {
        const auto bad = [&](const std::string& what) {
            throw std::runtime_error("safetensors: " + source_ + ": tensor \"" + e.name + "\": " + what);
        };
        if (e.name.empty()) bad("empty tensor name");
        const std::size_t elem = detail::safetensors_dtype_size(e.dtype);
        if (elem == 0) bad("unsupported dtype \"" + e.dtype + "\" (unetpp reads F32 and F64)");
        if (e.shape.size() > 4)
            bad("has " + std::to_string(e.shape.size()) + " dimensions; unetpp tensors have at most 4");
        std::uint64_t count = 1;
        for (auto d : e.shape) {
            if (d > std::numeric_limits<int>::max()) bad("dimension " + std::to_string(d) + " is too large");
            const auto ud = static_cast<std::uint64_t>(d);
            if (ud != 0 && count > std::numeric_limits<std::uint64_t>::max() / ud) bad("element count overflows");
            count *= ud;
        }
        if (e.begin > e.end)
            bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] are reversed");
        if (e.end > data_size)
            bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                "] run past the end of the data section (" + std::to_string(data_size) +
                " bytes); the file is truncated or corrupt");
        if (count > std::numeric_limits<std::uint64_t>::max() / elem || e.end - e.begin != count * elem)
            bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " +
                std::to_string(e.end - e.begin) + " bytes but the shape and dtype " + e.dtype + " need " +
                std::to_string(count) + " x " + std::to_string(elem));
        if (count > std::numeric_limits<int>::max()) bad("too many elements for a unetpp tensor");
    }

    std::string source_;
    std::string bytes_;  // the whole file
    std::size_t data_offset_ = 0;
    std::map<std::string, safetensors_entry, std::less<>> entries_;
    std::map<std::string, std::string, std::less<>> metadata_;
};

/// Collects tensors and metadata and writes them as one safetensors file.
class safetensors_writer {
public:
    /// Adds a copy of `t` under `name`. `shape` overrides the stored shape (its element count must
    /// equal t.size()); by default the 4-D NCHW shape is stored.
    template <class T>
    void add(std::string name, const tensor<T>& t, std::vector<std::int64_t> shape = {}) {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                      "safetensors_writer::add: only float (F32) and double (F64) tensors can be stored");
        if (name.empty()) throw std::invalid_argument("safetensors_writer: empty tensor name");
        if (name == "__metadata__")
            throw std::invalid_argument("safetensors_writer: \"__metadata__\" is reserved and cannot name a tensor");
        if (entries_.count(name)) throw std::invalid_argument("safetensors_writer: duplicate tensor \"" + name + "\"");
        if (shape.empty()) {
            const shape4 s = t.shape();
            shape = {s.n, s.c, s.h, s.w};
        }
        std::uint64_t count = 1;
        for (auto d : shape) {
            if (d < 0) throw std::invalid_argument("safetensors_writer: tensor \"" + name + "\": negative dimension");
            count *= static_cast<std::uint64_t>(d);
        }
        if (count != t.size())
            throw std::invalid_argument("safetensors_writer: tensor \"" + name + "\": shape has " +
                                        std::to_string(count) + " elements but the tensor has " +
                                        std::to_string(t.size()));
        item it;
        it.dtype = std::string(detail::safetensors_dtype_of<T>());
        it.shape = std::move(shape);
        it.bytes.reserve(t.size() * sizeof(T));
        for (std::size_t i = 0; i < t.size(); ++i) detail::store_le<T>(it.bytes, t[i]);
        entries_.emplace(std::move(name), std::move(it));
    }

    void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }
    [[nodiscard]] bool contains(std::string_view name) const { return entries_.find(name) != entries_.end(); }

    /// The complete file contents (tensors sorted by name, header padded to a multiple of 8, the
    /// checksums of the file comment in the metadata).
    [[nodiscard]] std::string serialize() const {
        // Offsets and checksums first: the header checksum covers the final metadata.
        std::map<std::string, std::string, std::less<>> md;
        for (const auto& [k, v] : metadata_)
            if (!detail::is_crc_key(k)) md.emplace(k, v);
        std::vector<safetensors_entry> desc;
        desc.reserve(entries_.size());
        std::uint64_t offset = 0;
        for (const auto& [name, it] : entries_) {
            desc.push_back({name, it.dtype, it.shape, offset, offset + it.bytes.size()});
            offset += it.bytes.size();
            md[std::string(safetensors_crc_prefix) + name] = detail::crc_hex(crc32c(it.bytes));
        }
        std::vector<const safetensors_entry*> by_name;
        by_name.reserve(desc.size());
        for (const auto& e : desc) by_name.push_back(&e);
        md[std::string(safetensors_header_crc_key)] = detail::crc_hex(detail::safetensors_header_crc(md, by_name));

        std::string h = "{\"__metadata__\":{";
        bool first = true;
        for (const auto& [k, v] : md) {
            if (!first) h += ',';
            first = false;
            append_json_string(h, k);
            h += ':';
            append_json_string(h, v);
        }
        h += '}';
        for (const auto& e : desc) {
            h += ',';
            append_json_string(h, e.name);
            h += ":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
            for (std::size_t i = 0; i < e.shape.size(); ++i) {
                if (i) h += ',';
                h += std::to_string(e.shape[i]);
            }
            h += "],\"data_offsets\":[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]}";
        }
        h += '}';
        while (h.size() % 8 != 0) h += ' ';

        std::string out;
        out.reserve(8 + h.size() + offset);
        detail::store_le<std::uint64_t>(out, h.size());
        out += h;
        for (const auto& [name, it] : entries_) out += it.bytes;
        return out;
    }

    /// Writes the file atomically and durably with io::write_file_atomic (a new temporary file
    /// in the same folder, fsynced, renamed over `path`, folder fsynced): `path` is either the old file or the new one.
    void save(const std::filesystem::path& path) const {
        try {
            write_file_atomic(path, serialize());
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string("safetensors: ") + e.what());
        }
    }

private:
    struct item {
        std::string dtype;
        std::vector<std::int64_t> shape;
        std::string bytes;
    };

    static void append_json_string(std::string& out, std::string_view s) {
        static constexpr char hex[] = "0123456789abcdef";
        out += '"';
        for (const char c : s) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (u < 0x20) {
                out += "\\u00";
                out += hex[u >> 4];
                out += hex[u & 0xF];
            } else {
                out += c;
            }
        }
        out += '"';
    }

    std::map<std::string, item, std::less<>> entries_;
    std::map<std::string, std::string, std::less<>> metadata_;
};

}  // namespace unetpp::io
