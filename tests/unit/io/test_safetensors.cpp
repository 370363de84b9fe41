// Tests of the safetensors reader and writer: round trips in F32 and F64, metadata, shape
// mapping, and every kind of corrupt input the reader must reject with a std::runtime_error
// whose message names the file and, where there is one, the tensor.

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unetpp/io/safetensors.hpp>
#include <unetpp/tensor/rng.hpp>
#include <unetpp/tensor/tensor.hpp>

#if defined(_WIN32)
#include <process.h>
#define UNETPP_TEST_GETPID _getpid
#else
#include <unistd.h>
#define UNETPP_TEST_GETPID getpid
#endif

using namespace unetpp;
using io::safetensors_file;
using io::safetensors_writer;

namespace {

// A per-process scratch directory, removed again when the test program exits.
struct scratch_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("unetpp_safetensors_test_" + std::to_string(UNETPP_TEST_GETPID()));
    scratch_dir() { std::filesystem::create_directories(path); }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
const std::filesystem::path& scratch() {
    static scratch_dir d;
    return d.path;
}

template <class T>
tensor<T> random_tensor(shape4 s, std::uint64_t seed) {
    rng r(seed);
    tensor<T> t(s);
    for (auto& v : t) v = static_cast<T>(r.normal());
    return t;
}

// Little-endian 8-byte header length followed by the header text and the data bytes.
std::string make_file(const std::string& header, const std::string& data = {}) {
    std::string out;
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
    return out + header + data;
}

std::string write_bytes(const std::string& name, const std::string& bytes) {
    const auto p = scratch() / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
}

// Loads `bytes` from a file called `name` and returns the error message (empty when it loads).
std::string load_error(const std::string& name, const std::string& bytes) {
    const std::string path = write_bytes(name, bytes);
    try {
        (void)safetensors_file::load(path);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

// Checks that loading fails with a message that names the file and contains every fragment.
void check_rejected(const std::string& name, const std::string& bytes, std::initializer_list<std::string> fragments) {
    const std::string msg = load_error(name, bytes);
    INFO("file " << name << ", message: " << msg);
    REQUIRE_FALSE(msg.empty());
    CHECK(msg.find(name) != std::string::npos);
    for (const auto& f : fragments) {
        INFO("expected fragment: " << f);
        CHECK(msg.find(f) != std::string::npos);
    }
}

// 8 bytes of zero data, described by one F32 tensor "a" of shape [2].
const std::string two_floats(8, '\0');

}  // namespace

TEST_CASE("safetensors round trip") {
    SUBCASE("F32 with the default 4-D shape, an explicit shape and a scalar") {
        const auto w = random_tensor<float>({2, 3, 4, 5}, 1);
        const auto b = random_tensor<float>({1, 1, 1, 7}, 2);
        const auto s = random_tensor<float>({1, 1, 1, 1}, 3);
        safetensors_writer wr;
        wr.add("conv.weight", w);
        wr.add("conv.bias", b, {7});
        wr.add("scale", s, {});  // empty shape: the 4-D shape [1, 1, 1, 1]
        const auto path = scratch() / "f32.safetensors";
        wr.save(path);
        CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));

        const auto f = safetensors_file::load(path);
        CHECK(f.names() == std::vector<std::string>{"conv.bias", "conv.weight", "scale"});
        CHECK(f.dtype("conv.weight") == "F32");
        CHECK(f.shape("conv.weight") == std::vector<std::int64_t>{2, 3, 4, 5});
        CHECK(f.shape("conv.bias") == std::vector<std::int64_t>{7});
        CHECK(f.metadata().size() == 4);  // only the checksums: one per tensor and the header's
        for (const auto& [k, v] : f.metadata()) CHECK(io::detail::is_crc_key(k));
        const auto w2 = f.get<float>("conv.weight");
        const auto b2 = f.get<float>("conv.bias");
        CHECK(w2.shape() == w.shape());
        CHECK(b2.shape() == shape4{1, 1, 1, 7});
        CHECK(max_abs_diff(w, w2) == 0.0);
        CHECK(max_abs_diff(b, b2) == 0.0);
        // float -> double is exact
        CHECK(max_abs_diff(w, f.get<double>("conv.weight")) == 0.0);
    }
    SUBCASE("F64, converted to float on request") {
        const auto d = random_tensor<double>({3, 1, 2, 2}, 4);
        safetensors_writer wr;
        wr.add("d", d, {3, 4});
        const auto path = scratch() / "f64.safetensors";
        wr.save(path);
        const auto f = safetensors_file::load(path);
        CHECK(f.dtype("d") == "F64");
        const auto d2 = f.get<double>("d");
        CHECK(d2.shape() == shape4{1, 1, 3, 4});
        for (std::size_t i = 0; i < d.size(); ++i) CHECK(d2[i] == d[i]);
        const auto f2 = f.get<float>("d");
        for (std::size_t i = 0; i < d.size(); ++i) CHECK(f2[i] == static_cast<float>(d[i]));
    }
    SUBCASE("metadata with escapes and non-ASCII text") {
        safetensors_writer wr;
        wr.add("x", random_tensor<float>({1, 1, 2, 2}, 5));
        wr.set_metadata("case", "conv2d/k3 \"same\"\\\n\ttab");
        wr.set_metadata("note", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
        wr.set_metadata("empty", "");
        const auto path = scratch() / "meta.safetensors";
        wr.save(path);
        const auto f = safetensors_file::load(path);
        CHECK(f.metadata().at("case") == "conv2d/k3 \"same\"\\\n\ttab");
        CHECK(f.metadata().at("note") == "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
        CHECK(f.metadata().at("empty").empty());
    }
    SUBCASE("header is padded to a multiple of 8 and tensors are sorted by name") {
        safetensors_writer wr;
        wr.add("zeta", random_tensor<float>({1, 1, 1, 3}, 6));
        wr.add("alpha", random_tensor<float>({1, 1, 1, 1}, 7));
        const std::string bytes = wr.serialize();
        std::uint64_t n = 0;
        for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
        CHECK(n % 8 == 0);
        const std::string header = bytes.substr(8, n);
        CHECK(header.find("\"alpha\"") < header.find("\"zeta\""));
        CHECK(header.find("\"alpha\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1],\"data_offsets\":[0,4]}") !=
              std::string::npos);
        CHECK(bytes.size() == 8 + n + 16);
    }
    SUBCASE("hand-written header with whitespace, escapes and a zero-size tensor") {
        const std::string header =
            " { \"__metadata__\" : { \"k\\u00e9y\" : \"v\\/\\ud83d\\ude00\" } ,\n"
            "   \"a\" : { \"shape\" : [ 2 ] , \"dtype\" : \"F32\" , \"data_offsets\" : [ 0 , 8 ] },"
            "   \"empty\": {\"dtype\": \"F64\", \"shape\": [0, 3], \"data_offsets\": [8, 8]} }   ";
        std::string data(8, '\0');
        const float vals[2] = {1.5f, -2.25f};
        std::memcpy(data.data(), vals, 8);
        const auto f = safetensors_file::parse(make_file(header, data), "hand.safetensors");
        CHECK(f.metadata().at("k\xc3\xa9y") == "v/\xf0\x9f\x98\x80");
        const auto a = f.get<float>("a");
        CHECK(a.shape() == shape4{1, 1, 1, 2});
        CHECK(a[0] == 1.5f);
        CHECK(a[1] == -2.25f);
        CHECK(f.get<double>("empty").size() == 0);
    }
    SUBCASE("writer rejects bad input") {
        safetensors_writer wr;
        const auto t = random_tensor<float>({1, 1, 2, 3}, 8);
        wr.add("t", t);
        CHECK_THROWS_AS(wr.add("t", t), std::invalid_argument);
        CHECK_THROWS_AS(wr.add("u", t, {5}), std::invalid_argument);
        CHECK_THROWS_AS(wr.add("__metadata__", t), std::invalid_argument);
        CHECK_THROWS_AS(wr.add("", t), std::invalid_argument);
    }
}

TEST_CASE("safetensors rejects corrupt files") {
    const std::string good_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    REQUIRE(load_error("good.safetensors", make_file(good_header, two_floats)).empty());

    SUBCASE("missing file") {
        const auto path = (scratch() / "does_not_exist.safetensors").string();
        CHECK_THROWS_WITH_AS(safetensors_file::load(path), doctest::Contains("does_not_exist.safetensors"),
                             std::runtime_error);
    }
    SUBCASE("truncated before the header length") {
        check_rejected("short.safetensors", std::string(5, '\0'), {"truncated"});
        check_rejected("empty.safetensors", std::string(), {"truncated"});
    }
    SUBCASE("header length larger than the file") {
        std::string bytes = make_file(good_header, two_floats);
        bytes[0] = static_cast<char>(0xF0);  // header length grows past the end of the file
        check_rejected("long_header.safetensors", bytes, {"larger than the rest of the file"});
    }
    SUBCASE("header length above 100 MB") {
        std::string bytes = make_file(good_header, two_floats);
        for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(0xFF);
        check_rejected("huge_header.safetensors", bytes, {"100 MB"});
    }
    SUBCASE("data section truncated") {
        check_rejected("short_data.safetensors", make_file(good_header, std::string(6, '\0')), {"\"a\"", "run past"});
    }
    SUBCASE("every truncation of a valid file is rejected") {
        safetensors_writer wr;
        wr.add("w", random_tensor<float>({1, 2, 2, 2}, 9));
        wr.add("b", random_tensor<double>({1, 1, 1, 3}, 10));
        wr.set_metadata("case", "truncation");
        const std::string bytes = wr.serialize();
        for (std::size_t len = 0; len < bytes.size(); ++len) {
            INFO("truncated to " << len << " of " << bytes.size() << " bytes");
            CHECK_THROWS_AS(safetensors_file::parse(bytes.substr(0, len), "cut.safetensors"), std::runtime_error);
        }
    }
    SUBCASE("random byte corruption raises runtime_error or loads, never anything else") {
        safetensors_writer wr;
        wr.add("w", random_tensor<float>({1, 2, 2, 2}, 11));
        wr.add("b", random_tensor<double>({1, 1, 1, 3}, 12));
        wr.set_metadata("case", "corruption");
        const std::string bytes = wr.serialize();
        rng r(13);
        int rejected = 0;
        for (int trial = 0; trial < 2000; ++trial) {
            std::string b = bytes;
            const int flips = 1 + static_cast<int>(r.below(3));
            for (int k = 0; k < flips; ++k)
                b[r.below(b.size())] = static_cast<char>(r.below(256));
            try {
                const auto f = safetensors_file::parse(b, "fuzz.safetensors");
                for (const auto& n : f.names()) (void)f.get<double>(n);
            } catch (const std::runtime_error&) {
                ++rejected;
            }
        }
        CHECK(rejected > 0);
    }
    SUBCASE("malformed JSON") {
        const std::string d = two_floats;
        check_rejected("not_object.safetensors", make_file("[1, 2]  ", d), {"invalid header", "JSON object"});
        check_rejected("unclosed.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", d), {"invalid header"});
        check_rejected("trailing.safetensors", make_file(good_header + "x", d), {"after the header object"});
        check_rejected("float.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d), {"integers"});
        check_rejected("negative.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d), {"negative"});
        check_rejected("bool.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":true,"data_offsets":[0,8]}})", d), {"expected an array"});
        check_rejected("bad_escape.safetensors",
                       make_file(R"({"a\q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d), {"escape"});
        check_rejected("unterminated.safetensors", make_file(R"({"a)", d), {"unterminated string"});
        check_rejected("leading_zero.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", d), {"leading zero"});
        check_rejected("big_int.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999999]}})", d),
                       {"too large"});
        check_rejected("lone_surrogate.safetensors",
                       make_file(R"({"a\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d), {"surrogate"});
        check_rejected("bad_utf8.safetensors",
                       make_file("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d),
                       {"UTF-8"});
        check_rejected("metadata_number.safetensors",
                       make_file(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d),
                       {"must be a string"});
        check_rejected("unknown_key.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":[]}})", d),
                       {"\"a\"", "unknown key"});
        check_rejected("missing_key.safetensors", make_file(R"({"a":{"dtype":"F32","shape":[2]}})", d),
                       {"\"a\"", "data_offsets"});
        check_rejected("three_offsets.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", d),
                       {"\"a\"", "exactly two"});
    }
    SUBCASE("unknown dtype") {
        check_rejected("f16.safetensors", make_file(R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})",
                                                    two_floats),
                       {"\"h\"", "unsupported dtype \"F16\""});
    }
    SUBCASE("offsets out of range") {
        check_rejected("past_end.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", two_floats),
                       {"\"a\"", "run past the end"});
        check_rejected("reversed.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", two_floats),
                       {"\"a\"", "reversed"});
    }
    SUBCASE("offsets that do not match shape and dtype") {
        check_rejected("size_mismatch.safetensors",
                       make_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", two_floats),
                       {"\"a\"", "need 2 x 8"});
        check_rejected("overflow.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}})",
                                 two_floats),
                       {"\"a\""});
    }
    SUBCASE("overlapping tensors, gaps and unused bytes") {
        check_rejected("overlap.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 two_floats),
                       {"overlap"});
        check_rejected("gap.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", two_floats),
                       {"\"a\"", "gap"});
        check_rejected("unused.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", two_floats),
                       {"cover 4"});
    }
    SUBCASE("duplicate names") {
        check_rejected("dup.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 two_floats),
                       {"duplicate tensor name \"a\""});
        check_rejected("dup_meta.safetensors",
                       make_file(R"({"__metadata__":{},"__metadata__":{},)"
                                 R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                 two_floats),
                       {"__metadata__"});
    }
    SUBCASE("more than four dimensions") {
        check_rejected("rank5.safetensors",
                       make_file(R"({"a":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}})", two_floats),
                       {"\"a\"", "5 dimensions"});
    }
    SUBCASE("asking for a tensor that is not there") {
        const auto f = safetensors_file::parse(make_file(good_header, two_floats), "present.safetensors");
        CHECK_THROWS_WITH_AS(f.get<float>("missing"), doctest::Contains("\"missing\""), std::runtime_error);
        CHECK_THROWS_WITH_AS(f.get<float>("missing"), doctest::Contains("present.safetensors"), std::runtime_error);
    }
}

namespace {

// A header of n tensors "t<i>" (F32, shape [1]) in reverse name order, and its data section.
std::string many_tensors(long n, const std::string& duplicate = {}) {
    std::string h = "{";
    for (long i = n - 1; i >= 0; --i) {
        h += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" +
             std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
        if (i) h += ',';
    }
    if (!duplicate.empty()) h += ",\"" + duplicate + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
    h += '}';
    std::string data(static_cast<std::size_t>(4 * n), '\0');
    for (long i = 0; i < n; ++i) {
        const float v = static_cast<float>(i);
        std::memcpy(data.data() + 4 * i, &v, 4);
    }
    return make_file(h, data);
}

// Replaces the first occurrence of `from` in the header part of `bytes` by `to` (same length).
std::string patch(std::string bytes, const std::string& from, const std::string& to) {
    REQUIRE(from.size() == to.size());
    const auto at = bytes.find(from);
    REQUIRE(at != std::string::npos);
    bytes.replace(at, from.size(), to);
    return bytes;
}

}  // namespace

TEST_CASE("safetensors: 200k tensors parse, and a duplicate among them is found") {
    // The duplicate check was a linear scan per name (O(n^2): 80k names took ~20 s); it is an
    // ordered set now. The test checks the result only (no timing).
    const long n = 200'000;
    const auto f = safetensors_file::parse(many_tensors(n), "many.safetensors");
    CHECK(f.size() == static_cast<std::size_t>(n));
    CHECK(f.get<float>("t0")[0] == 0.0f);
    CHECK(f.get<float>("t123456")[0] == 123456.0f);
    CHECK(f.get<float>("t199999")[0] == 199999.0f);
    CHECK_THROWS_WITH_AS(safetensors_file::parse(many_tensors(n, "t77777"), "dup.safetensors"),
                         doctest::Contains("duplicate tensor name \"t77777\""), std::runtime_error);
}

TEST_CASE("safetensors: CRC-32C checksums written and verified") {
    SUBCASE("crc32c matches the published check value, in one call or continued") {
        CHECK(io::crc32c(std::string_view("123456789")) == 0xE3069283u);
        CHECK(io::crc32c(std::string_view("56789"), io::crc32c(std::string_view("1234"))) == 0xE3069283u);
        CHECK(io::crc32c(std::string_view("")) == 0u);
        const std::string zeros(32, '\0');
        CHECK(io::crc32c(zeros) == 0x8A9136AAu);  // RFC 3720 B.4 test vector
    }
    safetensors_writer wr;
    wr.add("w", random_tensor<float>({1, 2, 2, 2}, 21));
    wr.add("b", random_tensor<double>({1, 1, 1, 3}, 22));
    wr.set_metadata("case", "checksums");
    wr.set_metadata("unetpp.crc32c.w", "bogus");  // replaced by the computed value
    const std::string bytes = wr.serialize();

    SUBCASE("the writer records one checksum per tensor and one for the header; they verify") {
        const auto f = safetensors_file::parse(bytes, "ok.safetensors");
        CHECK(f.has_checksums());
        CHECK(f.metadata().at("unetpp.crc32c.w").size() == 8);
        CHECK(f.metadata().at("unetpp.crc32c.b").size() == 8);
        CHECK(f.metadata().count("unetpp.crc32c_header") == 1);
        CHECK(f.metadata().at("case") == "checksums");
        const auto path = scratch() / "saved.safetensors";
        wr.save(path);
        CHECK(safetensors_file::load(path).has_checksums());
        CHECK_FALSE(std::filesystem::exists(scratch() / "saved.safetensors.tmp"));
    }
    SUBCASE("a changed data byte names the tensor that fails its checksum") {
        // Tensors are stored in name order: "b" (24 bytes) first, then "w"; the last byte is w's.
        std::string bad = bytes;
        bad.back() = static_cast<char>(bad.back() ^ 0x01);
        check_rejected("flip_w.safetensors", bad, {"corrupt", "tensor \"w\" fails its checksum", "previous checkpoint"});
        std::string bad_b = bytes;
        const std::size_t data_start = bytes.size() - 24 - 32;
        bad_b[data_start + 3] = static_cast<char>(bad_b[data_start + 3] ^ 0x40);
        check_rejected("flip_b.safetensors", bad_b, {"tensor \"b\" fails its checksum"});
    }
    SUBCASE("damage to the header that still parses fails the header checksum") {
        check_rejected("meta.safetensors", patch(bytes, "\"checksums\"", "\"checksumz\""),
                       {"corrupt", "header fails its checksum"});
        // the shape [1,2,2,2] of "w" read as [2,1,2,2]: same size, so only the checksum sees it
        check_rejected("shape.safetensors", patch(bytes, "[1,2,2,2]", "[2,1,2,2]"), {"header fails its checksum"});
    }
    SUBCASE("malformed or dangling checksum entries are refused") {
        const std::string h = R"({"__metadata__":{"unetpp.crc32c.zz":"00000000"},)"
                              R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        check_rejected("dangling.safetensors", make_file(h, two_floats), {"corrupt", "\"unetpp.crc32c.zz\""});
        const std::string h2 = R"({"__metadata__":{"unetpp.crc32c.a":"xyz"},)"
                               R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        check_rejected("badhex.safetensors", make_file(h2, two_floats), {"corrupt", "8 hex digits"});
        // a correct tensor checksum without a header checksum is verified and accepted
        const std::string h3 = "{\"__metadata__\":{\"unetpp.crc32c.a\":\"" + io::detail::crc_hex(io::crc32c(two_floats)) +
                               R"("},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        const auto f = safetensors_file::parse(make_file(h3, two_floats), "tensor_only.safetensors");
        CHECK_FALSE(f.has_checksums());
    }
    SUBCASE("a file without checksums (PyTorch's writer) loads; the checksum is simply absent") {
        const auto f = safetensors_file::parse(
            make_file(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      two_floats),
            "torch.safetensors");
        CHECK_FALSE(f.has_checksums());
        CHECK(f.get<float>("a").size() == 2);
    }
    SUBCASE("every single-byte change of the data section is detected") {
        const std::size_t data_start = bytes.size() - 24 - 32;
        for (std::size_t i = data_start; i < bytes.size(); ++i) {
            std::string bad = bytes;
            bad[i] = static_cast<char>(bad[i] ^ 0x10);
            INFO("byte " << i);
            CHECK_THROWS_WITH_AS(safetensors_file::parse(bad, "x.safetensors"), doctest::Contains("fails its checksum"),
                                 std::runtime_error);
        }
    }
}
