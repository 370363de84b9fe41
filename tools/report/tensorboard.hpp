// TensorBoard scalars without TensorFlow or protobuf: unetpp-train --tensorboard DIR writes one
// event file that TensorBoard (and tensorboard.backend.event_processing) reads.
//
// The file is a sequence of TFRecords, each
//     uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes |
//     payload (length bytes)        | uint32 masked CRC-32C of the payload
// with masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8, and every payload an Event protocol
// buffer. The messages used, by field number (tensorflow/core/util/event.proto, summary.proto):
//     Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//     Summary { repeated Value value = 1; }
//     Value   { string tag = 1; float simple_value = 2; }
// The first record is an Event with file_version "brain.Event:2"; then one Event per epoch, its
// Summary holding one Value per finite scalar. The CRC-32C is the library's (io/crc32c.hpp).
//
// Output policy (output_guard.hpp): the file gets a name no other file has
// (events.out.tfevents.<seconds>.<host>.<pid>.unetpp, created with write_file's no-replace rule),
// so a folder that already holds other runs' event files is fine and nothing in it is touched;
// afterwards only that file, which this program created, is replaced (atomically) after each
// epoch. Tests: tests/unit/report/test_tensorboard.cpp (bytes), tests/tools/report.cmake (read
// back with the tensorboard package).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include <unetpp/io/crc32c.hpp>

#include "../output_guard.hpp"

namespace report::tensorboard {

namespace fs = std::filesystem;

/// The CRC that TFRecord stores: CRC-32C, rotated right by 15 bits plus a constant.
inline std::uint32_t masked_crc32c(std::string_view bytes) noexcept {
    const std::uint32_t c = unetpp::io::crc32c(bytes);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

namespace wire {
inline void varint(std::string& o, std::uint64_t v) {
    while (v >= 0x80) {
        o += static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    o += static_cast<char>(v);
}
inline void key(std::string& o, int field, int type) { varint(o, static_cast<std::uint64_t>(field) << 3 | type); }
template <class U>
void little_endian(std::string& o, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) o += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void fixed64_double(std::string& o, int field, double v) {
    key(o, field, 1);
    std::uint64_t u;
    std::memcpy(&u, &v, 8);
    little_endian(o, u);
}
inline void fixed32_float(std::string& o, int field, float v) {
    key(o, field, 5);
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    little_endian(o, u);
}
inline void int64_field(std::string& o, int field, std::int64_t v) {
    key(o, field, 0);
    varint(o, static_cast<std::uint64_t>(v));  // negative values take 10 bytes, as protobuf's int64
}
inline void bytes_field(std::string& o, int field, std::string_view v) {
    key(o, field, 2);
    varint(o, v.size());
    o += v;
}
}  // namespace wire

/// One TFRecord around `payload`.
inline std::string tf_record(std::string_view payload) {
    std::string len;
    wire::little_endian(len, static_cast<std::uint64_t>(payload.size()));
    std::string o = len;
    wire::little_endian(o, masked_crc32c(len));
    o += payload;
    wire::little_endian(o, masked_crc32c(payload));
    return o;
}

/// The Event that opens every event file.
inline std::string file_version_event(double wall_time) {
    std::string e;
    wire::fixed64_double(e, 1, wall_time);
    wire::bytes_field(e, 3, "brain.Event:2");
    return e;
}

struct scalar {
    std::string tag;
    double value;
};

/// An Event at `step` whose Summary holds the scalars (as 32-bit floats, TensorBoard's
/// simple_value); non-finite values are left out.
inline std::string scalars_event(double wall_time, std::int64_t step, const std::vector<scalar>& values) {
    std::string summary;
    for (const auto& s : values) {
        if (!std::isfinite(s.value)) continue;
        std::string v;
        wire::bytes_field(v, 1, s.tag);
        wire::fixed32_float(v, 2, static_cast<float>(s.value));
        wire::bytes_field(summary, 1, v);
    }
    std::string e;
    wire::fixed64_double(e, 1, wall_time);
    wire::int64_field(e, 2, step);
    wire::bytes_field(e, 5, summary);
    return e;
}

/// The scalars of one epoch-log row (train::epoch_record or anything with its fields), by the
/// tags unetpp-train writes.
template <class Record>
std::vector<scalar> epoch_scalars(const Record& r) {
    return {{"train/loss", r.train_loss},
            {"val/loss", r.val_loss},
            {"val/dice", r.val_dice},
            {"val/iou", r.val_iou},
            {"val/pixel_error", r.val_pixel_error},
            {"lr", r.lr},
            {"time/epoch_seconds", r.seconds}};
}

inline double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Writes one event file into a folder (see the file comment for the policy).
class event_writer {
public:
    /// Checks and creates `dir` (a file in its place is refused), and writes the file's first
    /// record, so that an unwritable folder is reported before any training.
    event_writer(const fs::path& dir, std::string_view option) {
        std::error_code ec;
        const auto st = fs::status(dir, ec);
        if (fs::exists(st) && !fs::is_directory(st))
            throw cli::usage_error(std::string(option) + " '" + dir.string() +
                                   "' exists and is not a folder; give a folder for the event files");
        cli::prepare_folder(dir, option);
        const double t = now_seconds();
        std::string host = "localhost";
        long pid = 0;
#if defined(__unix__) || defined(__APPLE__)
        char h[256] = {};
        if (::gethostname(h, sizeof h - 1) == 0 && h[0]) host = h;
        for (char& c : host)
            if (c == '/' || c == '\\') c = '_';
        pid = static_cast<long>(::getpid());
#endif
        path_ = dir / ("events.out.tfevents." + std::to_string(static_cast<long long>(t)) + "." + host + "." +
                       std::to_string(pid) + ".unetpp");
        cli::check_output_file(path_, option, "unetpp-train", false);
        bytes_ = tf_record(file_version_event(t));
        cli::write_file(path_, bytes_, false);  // refuses a file of that name that appeared meanwhile
    }

    /// Appends one Event and replaces the file (this program's own) atomically.
    void add(std::int64_t step, const std::vector<scalar>& values, double wall_time = now_seconds()) {
        bytes_ += tf_record(scalars_event(wall_time, step, values));
        cli::write_file(path_, bytes_, true);
    }

    [[nodiscard]] const fs::path& path() const noexcept { return path_; }

private:
    fs::path path_;
    std::string bytes_;
};

}  // namespace report::tensorboard
