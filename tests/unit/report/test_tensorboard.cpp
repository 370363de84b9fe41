// The hand-written TensorBoard event encoding (tools/report/tensorboard.hpp) against bytes made by
// TensorBoard's own Python writer, and the event writer's output policy. The expected bytes were
// produced once with tensorboard 2.18.0 (the pinned test-venv version):
//   e = event_pb2.Event(wall_time=1700000000.25, step=7, summary=summary_pb2.Summary(value=[
//         summary_pb2.Summary.Value(tag="val/dice", simple_value=0.75),
//         summary_pb2.Summary.Value(tag="lr", simple_value=0.001)]))
//   RecordWriter(f).write(e.SerializeToString())          # tensorboard.summary.writer.record_writer
// tests/tools/report.cmake reads a whole training run's file back with the tensorboard package.

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "../../../tools/report/tensorboard.hpp"
#include "../../support/error_of.hpp"

namespace {
namespace tb = report::tensorboard;
namespace fs = std::filesystem;

std::string hex(const std::string& b) {
    std::string o;
    char x[3];
    for (const unsigned char c : b) std::snprintf(x, sizeof x, "%02x", c), o += x;
    return o;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A fresh, empty folder under the system's temporary folder.
fs::path scratch(const char* name) {
    const fs::path d = fs::temp_directory_path() / ("unetpp_test_tensorboard_" + std::string(name));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

/// The payloads of a file of TFRecords; fails the test on a bad length or checksum.
std::vector<std::string> records(const std::string& f) {
    std::vector<std::string> out;
    std::size_t i = 0;
    const auto le = [&](std::size_t at, int n) {
        std::uint64_t v = 0;
        for (int k = n - 1; k >= 0; --k) v = v << 8 | static_cast<unsigned char>(f[at + k]);
        return v;
    };
    while (i < f.size()) {
        REQUIRE(i + 12 <= f.size());
        const std::uint64_t n = le(i, 8);
        CHECK(le(i + 8, 4) == tb::masked_crc32c(f.substr(i, 8)));
        REQUIRE(i + 12 + n + 4 <= f.size());
        const std::string payload = f.substr(i + 12, n);
        CHECK(le(i + 12 + n, 4) == tb::masked_crc32c(payload));
        out.push_back(payload);
        i += 12 + n + 4;
    }
    return out;
}
}  // namespace

TEST_CASE("tensorboard: the Event and its TFRecord are byte for byte TensorBoard's") {
    const std::string e = tb::scalars_event(1700000000.25, 7, {{"val/dice", 0.75}, {"lr", 0.001}});
    CHECK(hex(e) == "0900001040fc54d94110072a1c0a0f0a0876616c2f64696365150000403f0a090a026c72156f12833a");
    CHECK(hex(tb::tf_record(e)) ==
          "290000000000000037ff5f00"
          "0900001040fc54d94110072a1c0a0f0a0876616c2f64696365150000403f0a090a026c72156f12833a"
          "8a6499b4");
    CHECK(hex(tb::tf_record(tb::file_version_event(1700000000.25))) ==
          "1800000000000000a37f4b220900001040fc54d9411a0d627261696e2e4576656e743a32338d2fe9");
    // TensorBoard's masked_crc32c(b"123456789")
    CHECK(tb::masked_crc32c("123456789") == 0xc78ab0e5u);
}

TEST_CASE("tensorboard: non-finite scalars are left out, negative steps take ten varint bytes") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::string only = tb::scalars_event(1.0, 1, {{"val/loss", nan}, {"lr", 0.5}});
    CHECK(only == tb::scalars_event(1.0, 1, {{"lr", 0.5}}));
    std::string v;
    tb::wire::varint(v, 300);
    CHECK(hex(v) == "ac02");
    std::string neg;
    tb::wire::int64_field(neg, 2, -1);
    CHECK(neg.size() == 11);  // key + 10 bytes
}

TEST_CASE("tensorboard: epoch_scalars names every column of the epoch log") {
    struct row {
        double train_loss = 1, val_loss = 2, val_dice = 0.5, val_iou = 0.25, val_pixel_error = 0.1, lr = 1e-3,
               seconds = 4;
    };
    const auto s = tb::epoch_scalars(row{});
    REQUIRE(s.size() == 7);
    CHECK(s[0].tag == "train/loss");
    CHECK(s[0].value == 1);
    CHECK(s[2].tag == "val/dice");
    CHECK(s[5].tag == "lr");
    CHECK(s[6].tag == "time/epoch_seconds");
    CHECK(s[6].value == 4);
}

TEST_CASE("tensorboard: the writer adds one file of its own and rewrites only that one") {
    const fs::path d = scratch("writer");
    { std::ofstream(d / "events.out.tfevents.1.other") << "another run's file"; }
    tb::event_writer w(d, "--tensorboard");
    CHECK(w.path().parent_path() == d);
    CHECK(w.path().filename().string().starts_with("events.out.tfevents."));
    auto r = records(read(w.path()));
    REQUIRE(r.size() == 1);
    CHECK(r[0].find("brain.Event:2") != std::string::npos);
    w.add(1, {{"train/loss", 0.5}}, 10.0);
    w.add(2, {{"train/loss", 0.25}}, 11.0);
    r = records(read(w.path()));
    REQUIRE(r.size() == 3);
    CHECK(r[1] == tb::scalars_event(10.0, 1, {{"train/loss", 0.5}}));
    CHECK(r[2] == tb::scalars_event(11.0, 2, {{"train/loss", 0.25}}));
    CHECK(read(d / "events.out.tfevents.1.other") == "another run's file");
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(d)) files += e.is_regular_file();
    CHECK(files == 2);  // no temporary file left behind
    fs::remove_all(d);
}

TEST_CASE("tensorboard: a file in place of the folder is refused, naming the option") {
    const fs::path d = scratch("file");
    { std::ofstream(d / "tb") << "x"; }
    const std::string m =
        unetpp::test::error_of<cli::usage_error>([&] { tb::event_writer w(d / "tb", "--tensorboard"); });
    CHECK(unetpp::test::contains(m, "--tensorboard"));
    CHECK(unetpp::test::contains(m, "is not a folder"));
    CHECK(read(d / "tb") == "x");
    fs::remove_all(d);
}
