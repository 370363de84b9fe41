#pragma once
/// \file ONNX export of a trained U-Net for inference, with no dependency beyond the standard
/// library (a small protocol-buffers encoder in detail/protobuf_writer.hpp writes the file).
///
///   net.eval();  // (the export always describes inference; eval() is for running unetpp itself)
///   unetpp::io::export_onnx(net, "model.onnx", {.final_activation = unetpp::io::onnx_activation::sigmoid});
///
/// The graph (operator set 13, IR version 7) is built from the unet_cfg with the default
/// policies, and its initializers are taken by name from visit_parameters / visit_buffers:
///   double_conv      [Pad(reflect)] -> Conv -> [BatchNormalization] -> Relu, twice
///                    (zero padding as Conv pads; reflect padding as a Pad node before a
///                    pads-free Conv; batch norm folded into the Conv by default)
///   down             MaxPool 2x2 stride 2
///   up (transposed)  ConvTranspose 2x2 stride 2
///   up (bilinear)    Resize x2 (mode linear, half_pixel = PyTorch align_corners=False) -> Conv 1x1
///   skip             [Slice: centre crop of the skip for unpadded nets] -> Concat(axis 1)
///   head             Conv 1x1 -> [Sigmoid | Softmax(axis 1)]
/// Dropout is the identity at inference and emits nothing.
///
/// Inputs and outputs: "input" [N, in_channels, H, W], "output" [N, classes, H', W'] (names
/// configurable). N is always symbolic. H and W are symbolic ("H", "W"; outputs "H", "W" for
/// padded nets and "H_out", "W_out" for unpadded ones) unless onnx_options fixes them. A symbolic
/// size must still be one the network can take (see unet::is_valid_size); the centre-crop
/// offsets of unpadded nets do not depend on the input size, so one graph serves all sizes.
///
/// Batch-norm folding: in eval mode y = gamma (conv(x) - mean) / sqrt(var + eps) + beta, which is
/// conv'(x) with W' = W * s and b' = beta - mean * s (+ b * s), s = gamma / sqrt(var + eps) per
/// output channel. Computed in double and stored as float32; it removes one node and one pass
/// over memory per convolution. fold_batch_norm = false emits BatchNormalization nodes instead.

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../config/abi.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../models/unet.hpp"
#include "atomic_file.hpp"
#include "detail/protobuf_writer.hpp"

namespace unetpp::inline UNETPP_ABI::io {

enum class onnx_activation {
    none,     ///< the graph outputs logits (as unet::forward)
    sigmoid,  ///< per-pixel probabilities (binary / multi-label)
    softmax,  ///< probabilities over the class channel (axis 1)
};

struct onnx_options {
    onnx_activation final_activation = onnx_activation::none;
    bool fold_batch_norm = true;  ///< fold eval-mode batch norm into the preceding convolution
    int height = 0;               ///< fixed input height, or 0 for a symbolic "H"
    int width = 0;                ///< fixed input width, or 0 for a symbolic "W"
    std::string input_name = "input";
    std::string output_name = "output";
    std::string graph_name = "unetpp";
};

/// The operator set the exporter targets: the first in which Softmax normalises over a single
/// axis (older sets flatten everything from `axis` on, which is wrong for [N, C, H, W]), and in
/// which Slice, Pad and Resize take their parameters as inputs and Resize's roi is optional.
inline constexpr std::int64_t onnx_opset = 13;
/// The IR version that goes with operator set 13 (ONNX 1.8).
inline constexpr std::int64_t onnx_ir_version = 7;

namespace detail {

/// ONNX enum values and field numbers (onnx.proto).
namespace onnx_pb {
inline constexpr std::int64_t float_type = 1, int64_type = 7;                   // TensorProto.DataType
inline constexpr std::int64_t attr_float = 1, attr_int = 2, attr_string = 3, attr_ints = 7;  // AttributeType
}  // namespace onnx_pb

struct onnx_attribute {
    std::string name;
    std::int64_t type = 0;
    std::int64_t i = 0;
    float f = 0;
    std::string s;
    std::vector<std::int64_t> ints;

    static onnx_attribute integer(std::string n, std::int64_t v) { return {std::move(n), onnx_pb::attr_int, v, 0, {}, {}}; }
    static onnx_attribute real(std::string n, float v) { return {std::move(n), onnx_pb::attr_float, 0, v, {}, {}}; }
    static onnx_attribute text(std::string n, std::string v) {
        return {std::move(n), onnx_pb::attr_string, 0, 0, std::move(v), {}};
    }
    static onnx_attribute integers(std::string n, std::vector<std::int64_t> v) {
        return {std::move(n), onnx_pb::attr_ints, 0, 0, {}, std::move(v)};
    }

    [[nodiscard]] protobuf_writer encode() const {
        protobuf_writer w;
        w.bytes_field(1, name);
        switch (type) {
            case onnx_pb::attr_float: w.float_field(2, f); break;
            case onnx_pb::attr_int: w.int_field(3, i); break;
            case onnx_pb::attr_string: w.bytes_field(4, s); break;
            case onnx_pb::attr_ints: w.repeated_int_field(8, ints); break;
            default: throw std::logic_error("onnx: unknown attribute type");
        }
        w.int_field(20, type);
        return w;
    }
};

/// One dimension of a graph input or output: a size or a symbolic name.
using onnx_dim = std::variant<std::int64_t, std::string>;

/// Accumulates the nodes, initializers, inputs and outputs of one GraphProto.
class onnx_graph_builder {
public:
    /// Adds a node with one output; returns the output's name.
    std::string node(std::string op, std::vector<std::string> inputs, std::string output,
                     std::vector<onnx_attribute> attrs = {}) {
        protobuf_writer w;
        for (const auto& in : inputs) w.bytes_field(1, in);
        w.bytes_field(2, output);
        w.bytes_field(3, output);  // node name = its output's name (unique)
        w.bytes_field(4, op);
        for (const auto& a : attrs) w.message_field(5, a.encode());
        nodes_.push_back(w.take());
        ops_.push_back(std::move(op));
        return output;
    }

    void initializer(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
        protobuf_writer w = tensor_header(name, dims, onnx_pb::float_type, v.size());
        w.raw_floats_field(9, v);
        initializers_.push_back(w.take());
    }
    void initializer(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& v) {
        protobuf_writer w = tensor_header(name, dims, onnx_pb::int64_type, v.size());
        w.raw_int64s_field(9, v);
        initializers_.push_back(w.take());
    }
    [[nodiscard]] bool has_initializer(const std::string& name) const { return init_names_.count(name) != 0; }

    void input(const std::string& name, const std::vector<onnx_dim>& dims) { inputs_.push_back(value_info(name, dims)); }
    void output(const std::string& name, const std::vector<onnx_dim>& dims) { outputs_.push_back(value_info(name, dims)); }

    [[nodiscard]] protobuf_writer encode(const std::string& name, const std::string& doc) const {
        protobuf_writer g;
        for (const auto& n : nodes_) g.bytes_field(1, n);
        g.bytes_field(2, name);
        for (const auto& t : initializers_) g.bytes_field(5, t);
        if (!doc.empty()) g.bytes_field(10, doc);
        for (const auto& v : inputs_) g.bytes_field(11, v);
        for (const auto& v : outputs_) g.bytes_field(12, v);
        return g;
    }
    [[nodiscard]] const std::vector<std::string>& op_types() const noexcept { return ops_; }

private:
    protobuf_writer tensor_header(const std::string& name, const std::vector<std::int64_t>& dims, std::int64_t type,
                                  std::size_t count) {
        std::int64_t n = 1;
        for (auto d : dims) n *= d;
        if (static_cast<std::size_t>(n) != count)
            throw std::logic_error("onnx: initializer \"" + name + "\" has " + std::to_string(count) +
                                   " values for dims of " + std::to_string(n));
        if (!init_names_.emplace(name, true).second)
            throw std::logic_error("onnx: duplicate initializer \"" + name + "\"");
        protobuf_writer w;
        w.repeated_int_field(1, dims);
        w.int_field(2, type);
        w.bytes_field(8, name);
        return w;
    }

    static std::string value_info(const std::string& name, const std::vector<onnx_dim>& dims) {
        protobuf_writer shape;
        for (const auto& d : dims) {
            protobuf_writer dim;
            if (const auto* v = std::get_if<std::int64_t>(&d))
                dim.int_field(1, *v);
            else
                dim.bytes_field(2, std::get<std::string>(d));
            shape.message_field(1, dim);
        }
        protobuf_writer tensor_type;
        tensor_type.int_field(1, onnx_pb::float_type);
        tensor_type.message_field(2, shape);
        protobuf_writer type;
        type.message_field(1, tensor_type);
        protobuf_writer vi;
        vi.bytes_field(1, name);
        vi.message_field(2, type);
        return vi.take();
    }

    std::vector<std::string> nodes_, initializers_, inputs_, outputs_, ops_;
    std::map<std::string, bool> init_names_;
};

/// Encoder-output and upsampled shapes of every level for one input shape (nullopt if invalid).
template <class Net>
struct unet_level_shapes {
    static constexpr std::size_t depth = static_cast<std::size_t>(Net::depth);
    std::array<shape4, depth> enc{}, up{};

    template <std::size_t L>
    std::optional<shape4> level(shape4 in) {
        const auto e = Net::template encoder_t<L>::try_output_shape(in);
        if (!e || e->h % 2 != 0 || e->w % 2 != 0) return std::nullopt;
        const auto d = Net::template down_t<L>::try_output_shape(*e);
        if (!d) return std::nullopt;
        std::optional<shape4> below;
        if constexpr (L + 1 < depth)
            below = level<L + 1>(*d);
        else
            below = Net::bottleneck_t::try_output_shape(*d);
        if (!below) return std::nullopt;
        const auto u = Net::template up_t<L>::try_output_shape(*below);
        if (!u) return std::nullopt;
        const auto m = Net::template skip_t<L>::try_output_shape(*e, *u);
        if (!m) return std::nullopt;
        enc[L] = *e;
        up[L] = *u;
        return Net::template decoder_t<L>::try_output_shape(*m);
    }
    bool compute(shape4 in) { return level<0>(in).has_value(); }
};

template <class Net>
class onnx_exporter {
public:
    using T = typename Net::value_type;
    static constexpr unet_cfg C = Net::cfg;
    static_assert(C.in_channels > 0 && C.classes > 0,
                  "export_onnx: a network with runtime_channels is not exported directly; load its weights into the "
                  "same unet type with the channel counts fixed (e.g. .in_channels = 3, .classes = 4: the parameter "
                  "names and shapes are the same) and export that");

    onnx_exporter(Net& net, const onnx_options& opt) : opt_(opt) {
        net.visit_parameters([&](std::string_view n, tensor<T>& v, tensor<T>&) { tensors_[std::string(n)] = &v; });
        net.visit_buffers([&](std::string_view n, tensor<T>& v) { tensors_[std::string(n)] = &v; });
    }

    std::string run() {
        if ((opt_.height == 0) != (opt_.width == 0))
            throw std::invalid_argument("export_onnx: give both onnx_options::height and width, or neither");
        if (opt_.height < 0 || opt_.width < 0)
            throw std::invalid_argument("export_onnx: negative height or width in onnx_options");
        if (opt_.input_name.empty() || opt_.output_name.empty() || opt_.input_name == opt_.output_name)
            throw std::invalid_argument("export_onnx: input and output names must be non-empty and distinct");
        compute_crops();

        std::vector<onnx_dim> in_dims{std::string("N"), std::int64_t{C.in_channels}};
        std::vector<onnx_dim> out_dims{std::string("N"), std::int64_t{C.classes}};
        if (opt_.height > 0) {
            const shape4 in{1, C.in_channels, opt_.height, opt_.width};
            if (!Net::try_output_shape(in)) Net::validate(in);  // throws shape_error with nearby sizes
            const shape4 out = *Net::try_output_shape(in);
            in_dims.insert(in_dims.end(), {std::int64_t{opt_.height}, std::int64_t{opt_.width}});
            out_dims.insert(out_dims.end(), {std::int64_t{out.h}, std::int64_t{out.w}});
        } else {
            const bool same_size = C.pad != padding::valid;
            in_dims.insert(in_dims.end(), {std::string("H"), std::string("W")});
            out_dims.insert(out_dims.end(),
                            {std::string(same_size ? "H" : "H_out"), std::string(same_size ? "W" : "W_out")});
        }
        g_.input(opt_.input_name, in_dims);
        g_.output(opt_.output_name, out_dims);

        std::string x = level(0, opt_.input_name);
        const bool act = opt_.final_activation != onnx_activation::none;
        x = conv("head", x, 1, padding::valid, "", false, act ? "head" : opt_.output_name);
        if (opt_.final_activation == onnx_activation::sigmoid) g_.node("Sigmoid", {x}, opt_.output_name);
        if (opt_.final_activation == onnx_activation::softmax)
            g_.node("Softmax", {x}, opt_.output_name, {onnx_attribute::integer("axis", 1)});

        protobuf_writer model;
        model.int_field(1, onnx_ir_version);
        model.bytes_field(2, "unetpp");
        model.bytes_field(3, "0.1");
        model.bytes_field(6, Net::describe());
        model.message_field(7, g_.encode(opt_.graph_name, Net::describe() + " exported by unetpp for inference"));
        protobuf_writer opset;
        opset.bytes_field(1, "");
        opset.int_field(2, onnx_opset);
        model.message_field(8, opset);
        add_metadata(model, "unetpp.describe", Net::describe());
        add_metadata(model, "unetpp.config", config_text());
        add_metadata(model, "unetpp.batch_norm", C.norm == norm_kind::batch
                                                     ? (opt_.fold_batch_norm ? "folded" : "BatchNormalization")
                                                     : "none");
        return model.take();
    }

    [[nodiscard]] const std::vector<std::string>& op_types() const noexcept { return g_.op_types(); }

private:
    static void add_metadata(protobuf_writer& model, const std::string& k, const std::string& v) {
        protobuf_writer e;
        e.bytes_field(1, k);
        e.bytes_field(2, v);
        model.message_field(14, e);
    }
    static std::string config_text() {
        const char* pad = C.pad == padding::valid ? "valid" : C.pad == padding::same ? "same" : "reflect";
        return "in_channels=" + std::to_string(C.in_channels) + " classes=" + std::to_string(C.classes) +
               " base=" + std::to_string(C.base) + " depth=" + std::to_string(C.depth) +
               " kernel=" + std::to_string(C.kernel) + " pad=" + pad +
               " norm=" + (C.norm == norm_kind::batch ? "batch" : "none") +
               " up=" + (C.up == up_mode::bilinear ? "bilinear" : "transposed");
    }

    const tensor<T>& param(const std::string& name) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end())
            throw std::logic_error("export_onnx: " + Net::describe() + " has no tensor \"" + name +
                                   "\" (the exporter supports unet with default_policies only)");
        return *it->second;
    }
    static std::vector<float> to_float(const tensor<T>& t) {
        std::vector<float> v(t.size());
        for (std::size_t i = 0; i < t.size(); ++i) v[i] = static_cast<float>(t[i]);
        return v;
    }
    static std::vector<std::int64_t> dims(const tensor<T>& t) {
        const shape4 s = t.shape();
        return {s.n, s.c, s.h, s.w};
    }

    /// Conv (prefix.weight [, prefix.bias]) with same / reflect / valid padding, then the
    /// batch norm `bn` (folded or emitted) and a ReLU when asked.
    std::string conv(const std::string& prefix, const std::string& x_in, int k, padding pad, const std::string& bn,
                     bool relu, const std::string& out_name = {}) {
        const tensor<T>& w = param(prefix + ".weight");
        const std::int64_t cout = w.shape().n;
        const auto per_out = static_cast<std::size_t>(w.size() / static_cast<std::size_t>(cout));
        const bool has_bias = tensors_.count(prefix + ".bias") != 0;
        std::string x = x_in;
        const std::int64_t p = pad == padding::valid ? 0 : k / 2;
        if (pad == padding::reflect && p > 0) {
            const std::string pads = "pads.reflect" + std::to_string(p);
            if (!g_.has_initializer(pads))
                g_.initializer(pads, {8}, std::vector<std::int64_t>{0, 0, p, p, 0, 0, p, p});
            x = g_.node("Pad", {x, pads}, prefix + ".pad", {onnx_attribute::text("mode", "reflect")});
        }
        std::vector<onnx_attribute> attrs{onnx_attribute::integers("kernel_shape", {k, k}),
                                          onnx_attribute::integers("strides", {1, 1})};
        if (pad == padding::same) attrs.push_back(onnx_attribute::integers("pads", {p, p, p, p}));

        const bool fold = !bn.empty() && opt_.fold_batch_norm;
        std::vector<std::string> inputs{x, prefix + ".weight"};
        if (fold) {
            const auto& gamma = param(bn + ".weight");
            const auto& beta = param(bn + ".bias");
            const auto& mean = param(bn + ".running_mean");
            const auto& var = param(bn + ".running_var");
            const double eps = batch_norm2d_cfg{}.eps;  // double_conv's batch norms use the default
            std::vector<float> wf(w.size()), bf(static_cast<std::size_t>(cout));
            for (std::int64_t o = 0; o < cout; ++o) {
                const auto uo = static_cast<std::size_t>(o);
                const double s = static_cast<double>(gamma[uo]) / std::sqrt(static_cast<double>(var[uo]) + eps);
                for (std::size_t i = 0; i < per_out; ++i)
                    wf[uo * per_out + i] = static_cast<float>(static_cast<double>(w[uo * per_out + i]) * s);
                const double b0 = has_bias ? static_cast<double>(param(prefix + ".bias")[uo]) : 0.0;
                bf[uo] = static_cast<float>(static_cast<double>(beta[uo]) + (b0 - static_cast<double>(mean[uo])) * s);
            }
            g_.initializer(prefix + ".weight", dims(w), wf);
            g_.initializer(prefix + ".bias", {cout}, bf);
            inputs.push_back(prefix + ".bias");
        } else {
            g_.initializer(prefix + ".weight", dims(w), to_float(w));
            if (has_bias) {
                g_.initializer(prefix + ".bias", {cout}, to_float(param(prefix + ".bias")));
                inputs.push_back(prefix + ".bias");
            }
        }
        const std::string conv_out = (!relu && (bn.empty() || fold) && !out_name.empty()) ? out_name : prefix;
        x = g_.node("Conv", inputs, conv_out, attrs);
        if (!bn.empty() && !fold) {
            for (const char* leaf : {".weight", ".bias", ".running_mean", ".running_var"})
                g_.initializer(bn + leaf, {cout}, to_float(param(bn + leaf)));
            x = g_.node("BatchNormalization",
                        {x, bn + ".weight", bn + ".bias", bn + ".running_mean", bn + ".running_var"}, bn,
                        {onnx_attribute::real("epsilon", static_cast<float>(batch_norm2d_cfg{}.eps))});
        }
        if (relu) x = g_.node("Relu", {x}, out_name.empty() ? prefix + ".relu" : out_name);
        return x;
    }

    std::string double_conv_block(const std::string& name, const std::string& x) {
        const bool bn = C.norm == norm_kind::batch;
        std::string y = conv(name + ".conv1", x, C.kernel, C.pad, bn ? name + ".bn1" : "", true, name + ".relu1");
        return conv(name + ".conv2", y, C.kernel, C.pad, bn ? name + ".bn2" : "", true, name);
    }

    std::string level(int l, const std::string& x) {
        const std::string n = std::to_string(l + 1);
        const std::string e = double_conv_block("enc" + n, x);
        const std::string d = g_.node("MaxPool", {e}, "down" + n,
                                      {onnx_attribute::integers("kernel_shape", {2, 2}),
                                       onnx_attribute::integers("strides", {2, 2})});
        const std::string below = l + 1 < C.depth ? level(l + 1, d) : double_conv_block("bottleneck", d);
        std::string u;
        if constexpr (C.up == up_mode::transposed) {
            const std::string p = "up" + n;
            const tensor<T>& w = param(p + ".weight");
            g_.initializer(p + ".weight", dims(w), to_float(w));
            g_.initializer(p + ".bias", {w.shape().c}, to_float(param(p + ".bias")));
            u = g_.node("ConvTranspose", {below, p + ".weight", p + ".bias"}, p,
                        {onnx_attribute::integers("kernel_shape", {2, 2}), onnx_attribute::integers("strides", {2, 2})});
        } else {
            if (!g_.has_initializer("scales.up2x")) g_.initializer("scales.up2x", {4}, std::vector<float>{1, 1, 2, 2});
            const std::string r = g_.node("Resize", {below, "", "scales.up2x"}, "up" + n + ".upsample",
                                          {onnx_attribute::text("mode", "linear"),
                                           onnx_attribute::text("coordinate_transformation_mode", "half_pixel")});
            u = conv("up" + n + ".conv", r, 1, padding::valid, "", false, "up" + n);
        }
        std::string skip = e;
        const auto& c = crops_[static_cast<std::size_t>(l)];
        if (c.dh != 0 || c.dw != 0) {
            const std::string p = "skip" + n + ".crop";
            const auto end = [](int diff, int top) -> std::int64_t {
                return diff - top > 0 ? -(diff - top) : std::numeric_limits<std::int64_t>::max();
            };
            g_.initializer(p + ".starts", {2}, std::vector<std::int64_t>{c.dh / 2, c.dw / 2});
            g_.initializer(p + ".ends", {2}, std::vector<std::int64_t>{end(c.dh, c.dh / 2), end(c.dw, c.dw / 2)});
            g_.initializer(p + ".axes", {2}, std::vector<std::int64_t>{2, 3});
            skip = g_.node("Slice", {e, p + ".starts", p + ".ends", p + ".axes"}, p);
        }
        const std::string m = g_.node("Concat", {skip, u}, "skip" + n, {onnx_attribute::integer("axis", 1)});
        return double_conv_block("dec" + n, m);
    }

    struct crop {
        int dh = 0, dw = 0;
    };
    /// Skip minus upsampled size per level for one input size.
    static std::vector<crop> crops_for(int h, int w) {
        const shape4 in{1, C.in_channels, h, w};
        unet_level_shapes<Net> s;
        if (!s.compute(in)) Net::validate(in);  // throws shape_error naming the nearest valid sizes
        std::vector<crop> out;
        for (std::size_t l = 0; l < s.enc.size(); ++l) out.push_back({s.enc[l].h - s.up[l].h, s.enc[l].w - s.up[l].w});
        return out;
    }
    /// The crops do not depend on the input size (every level loses a fixed number of pixels);
    /// checked on two sizes so that a symbolic-size graph is right for all of them.
    void compute_crops() {
        const int m = Net::min_input_size;
        crops_ = opt_.height > 0 ? crops_for(opt_.height, opt_.width) : crops_for(m, m);
        const auto a = crops_for(m, m);
        const int s2 = Net::next_valid_size(m + 1);
        const auto b = s2 > 0 ? crops_for(s2, s2) : a;
        for (std::size_t l = 0; l < a.size(); ++l)
            if (a[l].dh != b[l].dh || a[l].dw != b[l].dw || a[l].dh != crops_[l].dh || a[l].dw != crops_[l].dw)
                throw std::logic_error("export_onnx: the skip crop depends on the input size; not exportable");
    }

    onnx_options opt_;
    onnx_graph_builder g_;
    std::map<std::string, tensor<T>*> tensors_;
    std::vector<crop> crops_;
};

template <class Net>
inline constexpr bool exportable_to_onnx = false;
template <unet_cfg C, class B, class T>
inline constexpr bool exportable_to_onnx<unet<C, B, T, default_policies>> = true;

}  // namespace detail

/// The serialised ONNX ModelProto of `net` (see the file comment). Reads the network only.
template <class Net>
std::string to_onnx(const Net& net, const onnx_options& opt = {}) {
    static_assert(detail::exportable_to_onnx<Net>,
                  "export_onnx: only unet<cfg, Backend, T, default_policies> can be exported (the exporter rebuilds "
                  "the graph of the default policies from the cfg; multitask_unet with residual_multitask_policies has its "
                  "own overload taking onnx_multitask_options in <unetpp/io/onnx_multitask.hpp>)");
    detail::onnx_exporter<Net> ex(const_cast<Net&>(net), opt);  // visiting does not modify
    return ex.run();
}

namespace detail {
/// Writes serialised model bytes to `path` with io::write_file_atomic (a new temporary file in
/// the same folder, fsynced, renamed over `path`, folder fsynced), so that a failed write or a crash never leaves
/// a truncated model behind.
inline void write_onnx_file(const std::string& bytes, const std::filesystem::path& path) {
    try {
        io::write_file_atomic(path, bytes);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("export_onnx: ") + e.what());
    }
}
}  // namespace detail

/// Writes `net` as an ONNX model to `path` atomically and durably (see detail::write_onnx_file).
template <class Net>
void export_onnx(const Net& net, const std::filesystem::path& path, const onnx_options& opt = {}) {
    detail::write_onnx_file(to_onnx(net, opt), path);
}

}  // namespace unetpp::io
