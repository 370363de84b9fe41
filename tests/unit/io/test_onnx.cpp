// ONNX export without Python: the protobuf encoder's wire format, and the structure of exported
// models (read back with a small protobuf decoder written here): IR and opset versions, the
// operators each configuration emits, initializer names, input and output shapes. Numerical
// agreement with onnxruntime is checked in tests/parity/test_interop_onnx.cpp.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unetpp/io/onnx.hpp>
#include <unetpp/unet.hpp>

namespace {

using namespace unetpp;

/// One decoded protobuf field.
struct field {
    std::uint32_t number;
    std::uint32_t wire;
    std::uint64_t value;     // varint / fixed32
    std::string_view bytes;  // length-delimited
};

std::uint64_t read_varint(std::string_view s, std::size_t& i) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        REQUIRE(i < s.size());
        const auto b = static_cast<unsigned char>(s[i++]);
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    FAIL("varint too long");
    return 0;
}

std::vector<field> decode(std::string_view s) {
    std::vector<field> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::uint64_t k = read_varint(s, i);
        field f{static_cast<std::uint32_t>(k >> 3), static_cast<std::uint32_t>(k & 7), 0, {}};
        if (f.wire == 0) {
            f.value = read_varint(s, i);
        } else if (f.wire == 2) {
            const std::uint64_t n = read_varint(s, i);
            REQUIRE(n <= s.size() - i);
            f.bytes = s.substr(i, n);
            i += n;
        } else if (f.wire == 5) {
            REQUIRE(i + 4 <= s.size());
            std::uint32_t v = 0;
            for (int b = 0; b < 4; ++b) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + b])) << (8 * b);
            f.value = v;
            i += 4;
        } else {
            FAIL("unexpected wire type " << f.wire);
        }
        out.push_back(f);
    }
    return out;
}

std::vector<field> fields(std::string_view s, std::uint32_t number) {
    std::vector<field> r;
    for (const auto& f : decode(s))
        if (f.number == number) r.push_back(f);
    return r;
}
std::string_view one(std::string_view s, std::uint32_t number) {
    const auto f = fields(s, number);
    REQUIRE(f.size() == 1);
    return f[0].bytes;
}

struct model_summary {
    std::int64_t ir_version = 0;
    std::int64_t opset = 0;
    std::map<std::string, int> ops;               // op_type -> count
    std::vector<std::string> initializers;        // names
    std::map<std::string, std::vector<std::string>> node_inputs;  // output name -> inputs
    std::vector<std::string> input_dims, output_dims;  // "N", "1", ...
    std::map<std::string, std::string> metadata;
};

std::vector<std::string> dims_of(std::string_view value_info) {
    const auto type = one(value_info, 2);
    const auto tensor_type = one(type, 1);
    CHECK(fields(tensor_type, 1).at(0).value == 1);  // FLOAT
    std::vector<std::string> out;
    for (const auto& d : fields(one(tensor_type, 2), 1)) {
        const auto parts = decode(d.bytes);
        REQUIRE(parts.size() == 1);
        out.push_back(parts[0].number == 1 ? std::to_string(parts[0].value) : std::string(parts[0].bytes));
    }
    return out;
}

model_summary summarise(const std::string& model) {
    model_summary m;
    m.ir_version = static_cast<std::int64_t>(fields(model, 1).at(0).value);
    const auto opset = one(model, 8);
    CHECK(one(opset, 1).empty());  // the default domain
    m.opset = static_cast<std::int64_t>(fields(opset, 2).at(0).value);
    for (const auto& e : fields(model, 14)) m.metadata[std::string(one(e.bytes, 1))] = std::string(one(e.bytes, 2));
    const auto graph = one(model, 7);
    for (const auto& n : fields(graph, 1)) {
        const std::string op(one(n.bytes, 4));
        ++m.ops[op];
        std::vector<std::string> ins;
        for (const auto& in : fields(n.bytes, 1)) ins.emplace_back(in.bytes);
        m.node_inputs[std::string(one(n.bytes, 2))] = ins;
    }
    for (const auto& t : fields(graph, 5)) m.initializers.emplace_back(one(t.bytes, 8));
    m.input_dims = dims_of(one(graph, 11));
    m.output_dims = dims_of(one(graph, 12));
    return m;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("protobuf_writer encodes the wire format") {
    using io::detail::protobuf_writer;
    const auto hex = [](const std::string& s) {
        std::ostringstream o;
        for (unsigned char c : s) o << std::hex << (c < 16 ? "0" : "") << static_cast<int>(c);
        return o.str();
    };
    protobuf_writer w;
    w.int_field(1, 0);
    w.int_field(1, 1);
    w.int_field(1, 300);
    CHECK(hex(w.bytes()) == "08000801" "08ac02");
    protobuf_writer neg;
    neg.int_field(2, -1);  // 64-bit two's complement: ten bytes
    CHECK(hex(neg.bytes()) == "10ffffffffffffffffff01");
    protobuf_writer s;
    s.bytes_field(4, "Conv");
    CHECK(hex(s.bytes()) == "2204436f6e76");
    protobuf_writer f;
    f.float_field(2, 1.0f);
    CHECK(hex(f.bytes()) == "150000803f");
    protobuf_writer raw;
    raw.raw_floats_field(9, {1.0f, -2.0f});
    CHECK(hex(raw.bytes()) == "4a080000803f000000c0");
    protobuf_writer parent;
    parent.message_field(7, s);
    CHECK(hex(parent.bytes()) == "3a062204436f6e76");
    CHECK_THROWS_AS(w.int_field(0, 1), std::invalid_argument);
}

TEST_CASE("export of a batch-norm U-Net: opset 13, folded BN, dynamic sizes") {
    using net_t = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
    net_t net(1);
    const auto m = summarise(io::to_onnx(net));
    CHECK(m.ir_version == 7);
    CHECK(m.opset == 13);
    const int blocks = 2 * net_t::depth + 1;
    CHECK(m.ops.at("Conv") == 2 * blocks + 1);
    CHECK(m.ops.at("Relu") == 2 * blocks);
    CHECK(m.ops.at("MaxPool") == net_t::depth);
    CHECK(m.ops.at("ConvTranspose") == net_t::depth);
    CHECK(m.ops.at("Concat") == net_t::depth);
    CHECK(m.ops.count("BatchNormalization") == 0);
    CHECK(m.ops.count("Slice") == 0);
    CHECK(m.ops.count("Pad") == 0);
    CHECK(m.input_dims == std::vector<std::string>{"N", "1", "H", "W"});
    CHECK(m.output_dims == std::vector<std::string>{"N", "1", "H", "W"});
    CHECK(has(m.initializers, "enc1.conv1.weight"));
    CHECK(has(m.initializers, "enc1.conv1.bias"));  // the folded batch-norm shift
    CHECK_FALSE(has(m.initializers, "enc1.bn1.running_mean"));
    CHECK(m.node_inputs.at("output") == std::vector<std::string>{"dec1", "head.weight", "head.bias"});
    CHECK(m.metadata.at("unetpp.describe") == net_t::describe());
    CHECK(m.metadata.at("unetpp.batch_norm") == "folded");

    const auto unfolded = summarise(io::to_onnx(net, {.fold_batch_norm = false}));
    CHECK(unfolded.ops.at("BatchNormalization") == 2 * blocks);
    CHECK(has(unfolded.initializers, "enc1.bn1.running_var"));
    CHECK_FALSE(has(unfolded.initializers, "enc1.conv1.bias"));

    const auto fixed = summarise(io::to_onnx(net, {.final_activation = io::onnx_activation::sigmoid, .height = 32, .width = 16}));
    CHECK(fixed.input_dims == std::vector<std::string>{"N", "1", "32", "16"});
    CHECK(fixed.output_dims == std::vector<std::string>{"N", "1", "32", "16"});
    CHECK(fixed.ops.at("Sigmoid") == 1);
    CHECK(fixed.node_inputs.at("output") == std::vector<std::string>{"head"});
    const auto soft = summarise(io::to_onnx(net, {.final_activation = io::onnx_activation::softmax}));
    CHECK(soft.ops.at("Softmax") == 1);
}

TEST_CASE("export of an unpadded U-Net crops the skips with Slice") {
    using net_t = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                                .norm = norm_kind::none}>;
    net_t net(1);
    const auto m = summarise(io::to_onnx(net));
    CHECK(m.ops.at("Slice") == net_t::depth);
    CHECK(m.ops.count("BatchNormalization") == 0);
    CHECK(has(m.initializers, "enc1.conv1.bias"));
    CHECK(has(m.initializers, "skip1.crop.starts"));
    CHECK(m.output_dims == std::vector<std::string>{"N", "2", "H_out", "W_out"});
    const int side = net_t::next_valid_size(60);
    const auto fixed = summarise(io::to_onnx(net, {.height = side, .width = side}));
    CHECK(fixed.output_dims ==
          std::vector<std::string>{"N", "2", std::to_string(*net_t::output_size(side)), std::to_string(*net_t::output_size(side))});
    // A size the network cannot take is refused with the nearest valid sizes.
    CHECK_THROWS_AS(io::to_onnx(net, {.height = side + 1, .width = side}), shape_error);
    CHECK_THROWS_AS(io::to_onnx(net, {.height = side}), std::invalid_argument);
}

TEST_CASE("export of a reflect-padded bilinear U-Net uses Pad(reflect) and Resize") {
    using net_t = unet<unet_cfg{.in_channels = 3, .classes = 2, .base = 4, .depth = 2, .pad = padding::reflect,
                                .up = up_mode::bilinear}>;
    net_t net(1);
    const auto m = summarise(io::to_onnx(net));
    const int blocks = 2 * net_t::depth + 1;
    CHECK(m.ops.at("Pad") == 2 * blocks);
    CHECK(m.ops.at("Resize") == net_t::depth);
    CHECK(m.ops.count("ConvTranspose") == 0);
    CHECK(m.ops.at("Conv") == 2 * blocks + net_t::depth + 1);
    CHECK(has(m.initializers, "up1.conv.weight"));
    CHECK(has(m.initializers, "pads.reflect1"));
    CHECK(m.node_inputs.at("up1.upsample") == std::vector<std::string>{"dec2", "", "scales.up2x"});
}

TEST_CASE("export_onnx writes the file; double-precision nets are stored as float") {
    using net_t = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 1}, backend::cpu, double>;
    net_t net(3);
    const auto path = std::filesystem::temp_directory_path() / "unetpp_test_onnx_export.onnx";
    io::export_onnx(net, path);
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    CHECK(s.str() == io::to_onnx(net));
    const auto m = summarise(s.str());
    CHECK(m.ops.at("Conv") == 7);
    std::filesystem::remove(path);
    CHECK_THROWS_AS(io::export_onnx(net, "/nonexistent-dir/x.onnx"), std::runtime_error);
}

TEST_CASE("docs/INTEROP.md example: export to ONNX") {
    // Runs the snippet of docs/INTEROP.md in a temporary directory (onnxruntime runs such files
    // in tests/parity/test_interop_onnx.cpp).
    const auto old = std::filesystem::current_path();
    const auto dir = std::filesystem::temp_directory_path() / "unetpp_test_onnx_doc";
    std::filesystem::create_directories(dir);
    std::filesystem::current_path(dir);
    {
        unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3}> net;
        net.eval();
        unetpp::io::export_onnx(net, "model.onnx", {.final_activation = unetpp::io::onnx_activation::sigmoid});
        CHECK(std::filesystem::file_size("model.onnx") > 4 * decltype(net)::parameter_count);
    }
    std::filesystem::current_path(old);
    std::filesystem::remove_all(dir);
}
