// Saving and loading a unet's weights as safetensors: round trips, dtype conversion, the
// metadata, and every kind of bad file (truncated, bad header, wrong dtype, missing, extra and
// mis-shaped tensors, another architecture), which must raise std::runtime_error naming the
// tensor and never crash. Also checks that the code snippets of docs/INTEROP.md appear verbatim
// in the tests that run them.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

namespace {

using namespace unetpp;

using bn_net = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
using bn_net_wide = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 2}>;
using plain_net = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                                .norm = norm_kind::none}>;
using reflect_net = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2, .pad = padding::reflect}>;

std::filesystem::path tmp_path(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("unetpp_test_weights_" + name);
}

std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
void write_bytes(const std::filesystem::path& p, const std::string& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

/// Gives batch-norm statistics non-trivial values (a fresh net has mean 0, var 1).
template <class Net>
void randomise(Net& net, std::uint64_t seed) {
    rng r(seed);
    net.visit_buffers([&](std::string_view, auto& t) {
        for (auto& v : t) v = static_cast<typename Net::value_type>(r.uniform(0.5, 1.5));
    });
    net.visit_parameters([&](std::string_view, auto& t, auto&) {
        for (auto& v : t) v = static_cast<typename Net::value_type>(r.uniform(-0.5, 0.5));
    });
}

template <class Net>
tensor<typename Net::value_type> eval_output(Net& net, int side) {
    tensor<typename Net::value_type> x(shape4{2, Net::cfg.in_channels, side, side});
    rng r(7);
    for (auto& v : x) v = static_cast<typename Net::value_type>(r.normal());
    net.eval();
    return net.forward(x);
}

/// Runs f and returns the std::runtime_error message it must throw.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    FAIL("expected std::runtime_error");
    return {};
}

/// Builds a safetensors file by hand: header JSON text + data bytes.
std::string make_file(const std::string& header, const std::string& data) {
    std::string out;
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
    return out + header + data;
}

}  // namespace

TEST_CASE("save_weights / load_weights round trip reproduces eval outputs exactly") {
    bn_net a(1);
    randomise(a, 11);
    const auto path = tmp_path("roundtrip.safetensors");
    io::save_weights(a, path);
    bn_net b(2);
    io::load_weights(b, path);
    const auto ya = eval_output(a, 16);
    const auto yb = eval_output(b, 16);
    REQUIRE(ya.size() == yb.size());
    for (std::size_t i = 0; i < ya.size(); ++i) CHECK(ya[i] == yb[i]);

    // Every parameter and buffer is stored under its name, with PyTorch's shapes.
    const auto f = io::safetensors_file::load(path);
    CHECK(f.shape("enc1.conv1.weight") == std::vector<std::int64_t>{4, 1, 3, 3});
    CHECK(f.shape("enc1.bn1.weight") == std::vector<std::int64_t>{4});
    CHECK(f.shape("enc1.bn1.running_var") == std::vector<std::int64_t>{4});
    CHECK(f.shape("enc1.bn1.num_batches_tracked") == std::vector<std::int64_t>{1});
    CHECK(f.shape("up1.weight") == std::vector<std::int64_t>{8, 4, 2, 2});
    CHECK(f.shape("up1.bias") == std::vector<std::int64_t>{4});
    CHECK(f.shape("head.weight") == std::vector<std::int64_t>{1, 4, 1, 1});
    CHECK_FALSE(f.contains("enc1.conv1.bias"));  // no bias before a batch norm
    std::size_t count = 0;
    a.visit_parameters([&](std::string_view, auto&, auto&) { ++count; });
    a.visit_buffers([&](std::string_view, auto&) { ++count; });
    CHECK(f.size() == count);

    // The architecture's identity is in the metadata.
    const auto& md = f.metadata();
    CHECK(md.at("format") == "pt");
    CHECK(md.at("unetpp.describe") == bn_net::describe());
    CHECK(md.at("unetpp.config") ==
          R"({"in_channels":1,"classes":1,"base":4,"depth":2,"kernel":3,"pad":"same","norm":"batch","dropout":0,"up":"transposed"})");
    CHECK(md.at("unetpp.parameters").find("enc1.conv1.weight=4x1x3x3;") == 0);
    CHECK(md.at("unetpp.buffers").find("enc1.bn1.running_mean=4;") == 0);
    std::filesystem::remove(path);
}

TEST_CASE("load_weights converts F64 files into float nets and F32 files into double nets") {
    using net64 = unet<bn_net::cfg, backend::cpu, double>;
    net64 d(3);
    randomise(d, 5);
    const auto path = tmp_path("f64.safetensors");
    io::save_weights(d, path);
    CHECK(io::safetensors_file::load(path).dtype("head.weight") == "F64");
    bn_net f(4);
    io::load_weights(f, path);
    f.visit_parameters([&](std::string_view name, auto& v, auto&) {
        d.visit_parameters([&](std::string_view n2, auto& v2, auto&) {
            if (n2 == name)
                for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == static_cast<float>(v2[i]));
        });
    });
    io::save_weights(f, path);
    net64 back(9);
    io::load_weights(back, path);
    const auto y1 = eval_output(f, 8);
    const auto y2 = eval_output(back, 8);
    for (std::size_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == doctest::Approx(y2[i]).epsilon(1e-4));
    std::filesystem::remove(path);
}

TEST_CASE("load_weights reports bad files by name and leaves the network unchanged") {
    bn_net a(1);
    randomise(a, 3);
    const auto good = tmp_path("good.safetensors");
    io::save_weights(a, good);
    const std::string bytes = read_bytes(good);
    const auto bad = tmp_path("bad.safetensors");
    bn_net b(1);
    const auto before = eval_output(b, 8);
    const auto unchanged = [&] {
        const auto after = eval_output(b, 8);
        for (std::size_t i = 0; i < after.size(); ++i) REQUIRE(after[i] == before[i]);
    };

    SUBCASE("truncated file") {
        for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{8}, std::size_t{40}, bytes.size() - 1}) {
            write_bytes(bad, bytes.substr(0, cut));
            const auto msg = error_of([&] { io::load_weights(b, bad); });
            CAPTURE(msg);
            CHECK(msg.find(bad.string()) != std::string::npos);
        }
        unchanged();
    }
    SUBCASE("bad header") {
        write_bytes(bad, make_file("{\"head.bias\": [1, 2]}", ""));
        CHECK(error_of([&] { io::load_weights(b, bad); }).find("head.bias") != std::string::npos);
        write_bytes(bad, make_file("{not json", ""));
        CHECK(error_of([&] { io::load_weights(b, bad); }).find("invalid header") != std::string::npos);
        std::string huge = bytes;
        huge[0] = '\xff';
        huge[1] = '\xff';
        write_bytes(bad, huge);
        CHECK(error_of([&] { io::load_weights(b, bad); }).find("header length") != std::string::npos);
        unchanged();
    }
    SUBCASE("wrong dtype") {
        write_bytes(bad, make_file(R"({"head.bias":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                                   std::string(8, '\0')));
        const auto msg = error_of([&] { io::load_weights(b, bad); });
        CHECK(msg.find("head.bias") != std::string::npos);
        CHECK(msg.find("I64") != std::string::npos);
        write_bytes(bad, make_file(R"({"head.bias":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})",
                                   std::string(2, '\0')));
        CHECK(error_of([&] { io::load_weights(b, bad); }).find("head.bias") != std::string::npos);
        unchanged();
    }
    SUBCASE("missing tensor") {
        auto w = io::weights_writer(a);
        io::safetensors_writer partial;
        const auto f = io::safetensors_file::load(good);
        for (const auto& n : f.names())
            if (n != "dec1.bn2.running_var") partial.add(n, f.get<float>(n), f.shape(n));
        partial.save(bad);
        const auto msg = error_of([&] { io::load_weights(b, bad); });
        CHECK(msg.find("missing tensor \"dec1.bn2.running_var\"") != std::string::npos);
        unchanged();
    }
    SUBCASE("missing num_batches_tracked is accepted") {
        io::safetensors_writer partial;
        const auto f = io::safetensors_file::load(good);
        for (const auto& n : f.names())
            if (!n.ends_with("num_batches_tracked")) partial.add(n, f.get<float>(n), f.shape(n));
        partial.save(bad);
        io::load_weights(b, bad);
        const auto ya = eval_output(a, 8), yb = eval_output(b, 8);
        for (std::size_t i = 0; i < ya.size(); ++i) CHECK(ya[i] == yb[i]);
        CHECK_THROWS_AS(io::load_weights(b, bad, {.allow_missing_num_batches_tracked = false}), std::runtime_error);
    }
    SUBCASE("extra tensor") {
        auto w = io::weights_writer(a);
        w.add("enc9.conv1.weight", tensor<float>(shape4{1, 1, 3, 3}));
        w.save(bad);
        const auto msg = error_of([&] { io::load_weights(b, bad); });
        CHECK(msg.find("unexpected tensor \"enc9.conv1.weight\"") != std::string::npos);
        unchanged();
    }
    SUBCASE("wrong shape with the right element count") {
        io::safetensors_writer w;
        const auto f = io::safetensors_file::load(good);
        for (const auto& n : f.names())
            w.add(n, f.get<float>(n), n == "enc2.conv1.weight" ? std::vector<std::int64_t>{4, 8, 3, 3} : f.shape(n));
        w.save(bad);
        const auto msg = error_of([&] { io::load_weights(b, bad); });
        CHECK(msg.find("\"enc2.conv1.weight\" has shape [4, 8, 3, 3]") != std::string::npos);
        unchanged();
    }
    SUBCASE("another architecture: the first mismatching tensor is named") {
        bn_net_wide wide(1);
        io::save_weights(wide, bad);
        const auto msg = error_of([&] { io::load_weights(b, bad); });
        CAPTURE(msg);
        CHECK(msg.find("\"enc1.conv1.weight\" has shape [8, 1, 3, 3] (72 elements)") != std::string::npos);
        CHECK(msg.find("expects [4, 1, 3, 3] (36 elements)") != std::string::npos);
        CHECK(msg.find("saved from " + bn_net_wide::describe()) != std::string::npos);
        // Unpadded, no-norm net: other names entirely.
        plain_net p(1);
        io::save_weights(p, bad);
        CHECK(error_of([&] { io::load_weights(b, bad); }).find("missing tensor \"enc1.bn1.weight\"") !=
              std::string::npos);
        unchanged();
    }
    SUBCASE("same tensors, other architecture in the metadata") {
        reflect_net r(1);
        io::save_weights(r, bad);
        const auto msg = error_of([&] { io::load_weights(b, bad); });
        CHECK(msg.find("pad=\"reflect\"") == std::string::npos);
        CHECK(msg.find("pad=reflect but") != std::string::npos);
        io::load_weights(b, bad, {.check_config = false});  // allowed when asked
    }
    SUBCASE("malformed config metadata") {
        auto w = io::weights_writer(a);
        w.set_metadata("unetpp.config", "{\"base\":");
        w.save(bad);
        CHECK(error_of([&] { io::load_weights(b, bad); }).find("unetpp.config") != std::string::npos);
        unchanged();
    }
    std::filesystem::remove(good);
    std::filesystem::remove(bad);
}

TEST_CASE("load_weights survives random corruption (never crashes, only runtime_error)") {
    using tiny = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 1, .depth = 1}>;
    tiny a(1);
    const std::string bytes = io::weights_writer(a).serialize();
    rng r(2024);
    int errors = 0, loaded = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        std::string b = bytes;
        const int kind = trial % 3;
        if (kind == 0) {
            b.resize(r.below(b.size()));
        } else {
            const int flips = 1 + static_cast<int>(r.below(4));
            for (int k = 0; k < flips; ++k) {
                // Aim at the header most of the time: that is where the parser lives.
                const std::size_t limit = kind == 1 ? std::min<std::size_t>(b.size(), 8 + 2048) : b.size();
                b[r.below(limit)] = static_cast<char>(r.below(256));
            }
        }
        tiny t(1);
        try {
            io::load_weights(t, io::safetensors_file::parse(b, "fuzz"));
            ++loaded;
        } catch (const std::runtime_error&) {
            ++errors;
        }
    }
    MESSAGE("corrupted files: " << errors << " rejected, " << loaded << " still valid (data bytes changed)");
    CHECK(errors > 1000);
}

TEST_CASE("docs/INTEROP.md example: save and load a network's weights") {
    // Runs the snippet of docs/INTEROP.md in a temporary directory.
    const auto old = std::filesystem::current_path();
    const auto dir = tmp_path("doc_example");
    std::filesystem::create_directories(dir);
    std::filesystem::current_path(dir);
    {
        unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3}> net;
        unetpp::io::save_weights(net, "model.safetensors");
        unetpp::io::load_weights(net, "model.safetensors");  // throws std::runtime_error naming the first bad tensor
        CHECK(std::filesystem::exists("model.safetensors"));
    }
    std::filesystem::current_path(old);
    std::filesystem::remove_all(dir);
}

namespace {
/// The text with every line's leading whitespace removed (snippets are compared by this).
std::string unindent(const std::string& s) {
    std::string out;
    bool line_start = true;
    for (char c : s) {
        if (line_start && (c == ' ' || c == '\t')) continue;
        line_start = c == '\n';
        out += c;
    }
    return out;
}
}  // namespace

TEST_CASE("docs/INTEROP.md snippets appear verbatim in the tests that run them") {
    // Every block in INTEROP.md preceded by <!-- snippet: path --> must be a substring of that
    // file (a test source or script the test suite runs), up to indentation, so the documented
    // code is tested code.
    const std::filesystem::path root = UNETPP_SOURCE_DIR;
    const std::string doc = read_bytes(root / "docs/INTEROP.md");
    REQUIRE_FALSE(doc.empty());
    int checked = 0;
    for (std::size_t pos = 0; (pos = doc.find("<!-- snippet: ", pos)) != std::string::npos;) {
        const std::size_t name_begin = pos + 14;
        const std::size_t name_end = doc.find(" -->", name_begin);
        REQUIRE(name_end != std::string::npos);
        const std::string file = doc.substr(name_begin, name_end - name_begin);
        const std::size_t fence = doc.find("```", name_end);
        const std::size_t body = doc.find('\n', fence) + 1;
        const std::size_t close = doc.find("\n```", body);
        REQUIRE(close != std::string::npos);
        const std::string snippet = unindent(doc.substr(body, close - body + 1));
        const std::string source = unindent(read_bytes(root / file));
        CAPTURE(file);
        CAPTURE(snippet);
        CHECK(source.find(snippet) != std::string::npos);
        ++checked;
        pos = close;
    }
    MESSAGE("INTEROP.md snippets checked: " << checked);
    CHECK(checked >= 4);
}

TEST_CASE("save_weights writes atomically with checksums; a damaged weight is refused, the network unchanged") {
    bn_net a(1);
    randomise(a, 12);
    const auto path = tmp_path("checksummed.safetensors");
    io::save_weights(a, path);
    CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
    const auto f = io::safetensors_file::load(path);
    CHECK(f.has_checksums());
    CHECK(f.metadata().count("unetpp.crc32c.enc1.conv1.weight") == 1);

    // One bit of the last tensor's data (tensors are stored in name order) changes on disk.
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        bytes = s.str();
    }
    bytes[bytes.size() - 2] = static_cast<char>(bytes[bytes.size() - 2] ^ 0x04);
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bn_net b(2);
    const auto before = eval_output(b, 16);
    CHECK_THROWS_WITH_AS(io::load_weights(b, path), doctest::Contains("fails its checksum"), std::runtime_error);
    const auto after = eval_output(b, 16);
    REQUIRE(before.size() == after.size());
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(before[i] == after[i]);
    std::filesystem::remove(path);
    CHECK_THROWS_AS(io::save_weights(a, "/nonexistent-dir/w.safetensors"), std::runtime_error);
}
