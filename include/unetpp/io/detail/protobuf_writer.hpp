#pragma once
/// \file A minimal protocol-buffers encoder: just enough of the wire format to write ONNX models
/// without linking libprotobuf.
///
/// Wire format used here:
///   key      = varint(field_number << 3 | wire_type)
///   varint   (wire type 0): 7 bits per byte, least significant group first, high bit = "more";
///            int64 values are written as their 64-bit two's complement (so negatives take
///            10 bytes), as protobuf's int64 type requires
///   fixed32  (wire type 5): 4 bytes little-endian (float)
///   bytes    (wire type 2): varint length, then the bytes (strings, nested messages, packed
///            repeated scalars, raw tensor data)
/// A message is built into its own buffer and then written into its parent as a length-delimited
/// field; the sizes involved (a U-Net's weights) are far below protobuf's 2 GB message limit,
/// which the writer checks.

#include <bit>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io::detail {

class protobuf_writer {
public:
    enum wire_type : std::uint32_t { varint_type = 0, fixed64_type = 1, bytes_type = 2, fixed32_type = 5 };

    /// Protobuf's hard limit on one serialised message.
    static constexpr std::size_t max_message_bytes = 0x7fffffff;

    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            buf_ += static_cast<char>(static_cast<unsigned char>(v) | 0x80);
            v >>= 7;
        }
        buf_ += static_cast<char>(v);
    }
    void key(std::uint32_t field, wire_type type) {
        if (field == 0 || field > 0x1fffffff) throw std::invalid_argument("protobuf_writer: field number out of range");
        varint((static_cast<std::uint64_t>(field) << 3) | type);
    }

    /// int64 / int32 / enum / bool field (negative values as 64-bit two's complement).
    void int_field(std::uint32_t field, std::int64_t v) {
        key(field, varint_type);
        varint(static_cast<std::uint64_t>(v));
    }
    void float_field(std::uint32_t field, float v) {
        key(field, fixed32_type);
        put_le(std::bit_cast<std::uint32_t>(v), 4);
    }
    /// string / bytes field.
    void bytes_field(std::uint32_t field, std::string_view bytes) {
        if (bytes.size() > max_message_bytes)
            throw std::length_error("protobuf_writer: a field exceeds protobuf's 2 GB limit");
        key(field, bytes_type);
        varint(bytes.size());
        buf_.append(bytes);
    }
    /// Nested message field (the child's encoded bytes).
    void message_field(std::uint32_t field, const protobuf_writer& child) { bytes_field(field, child.bytes()); }

    /// Repeated int64 written unpacked (one key per element): the encoding proto2 files such as
    /// onnx.proto declare by default; parsers accept packed and unpacked alike.
    void repeated_int_field(std::uint32_t field, const std::vector<std::int64_t>& values) {
        for (auto v : values) int_field(field, v);
    }
    /// Repeated float, unpacked.
    void repeated_float_field(std::uint32_t field, const std::vector<float>& values) {
        for (auto v : values) float_field(field, v);
    }

    /// Little-endian float32 array as one bytes field (ONNX TensorProto.raw_data).
    void raw_floats_field(std::uint32_t field, const std::vector<float>& values) {
        std::string raw;
        raw.reserve(values.size() * 4);
        for (float v : values) append_le(raw, std::bit_cast<std::uint32_t>(v), 4);
        bytes_field(field, raw);
    }
    /// Little-endian int64 array as one bytes field.
    void raw_int64s_field(std::uint32_t field, const std::vector<std::int64_t>& values) {
        std::string raw;
        raw.reserve(values.size() * 8);
        for (auto v : values) append_le(raw, static_cast<std::uint64_t>(v), 8);
        bytes_field(field, raw);
    }

    [[nodiscard]] const std::string& bytes() const noexcept { return buf_; }
    [[nodiscard]] std::string take() noexcept { return std::move(buf_); }
    [[nodiscard]] std::size_t size() const noexcept { return buf_.size(); }

private:
    static void append_le(std::string& out, std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) out += static_cast<char>(static_cast<unsigned char>(v >> (8 * i)));
    }
    void put_le(std::uint64_t v, int n) { append_le(buf_, v, n); }

    std::string buf_;
};

}  // namespace unetpp::io::detail
