#pragma once
/// \file ONNX export of the residual multi-task U-Net (models/multitask_unet.hpp, seed 002): one
/// input, two graph outputs.
///
///   presets::residual_multitask_unet<256> net;
///   net.eval();
///   unetpp::io::export_onnx(net, "multitask.onnx", unetpp::io::onnx_multitask_options{});
///
/// Graph (operator set 13, as <unetpp/io/onnx.hpp>), built from the cfg and the
/// residual_multitask_policies, initializers named as visit_parameters / visit_buffers:
///   conv block       [Pad(reflect)] -> Conv (bias; batch norm folded by default, else
///                    BatchNormalization) -> Relu           (encL/decL.block{1,2,3}, bottleneck.block{1,2})
///   level block      three conv blocks
///   down             MaxPool 2x2 stride 2
///   bottleneck       block2(block1(x)) and a 1x1 Conv shortcut, joined by Add
///   up               ConvTranspose 2x2 stride 2 (upL.conv.*)
///   skip             Concat(axis 1) of the encoder block and the upsampled map
///   segmentation     1x1 Conv (seg_head.*) -> [Sigmoid | Softmax(axis 1)]
///   classification   Flatten(axis 1) -> Gemm(transB) -> Relu -> Gemm(transB) -> [Sigmoid]
/// Dropout is the identity at inference and emits nothing.
///
/// Inputs and outputs: "input" [N, in_channels, S, S] with S = ImageSize fixed (the dense head
/// was built for that size), "segmentation" [N, classes, S, S] and "classification" [N, 1]
/// (unetpp's classification logits are [N, 1, 1, 1]: the same values). N is symbolic. Both
/// outputs are logits unless an activation is asked for.

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../config/abi.hpp"
#include "../models/multitask_unet.hpp"
#include "onnx.hpp"

namespace unetpp::inline UNETPP_ABI::io {

struct onnx_multitask_options {
    /// none (logits), sigmoid, or softmax over the class axis (for classes > 1).
    onnx_activation segmentation_activation = onnx_activation::none;
    /// none (logits) or sigmoid (the head has a single unit, so softmax is refused).
    onnx_activation classification_activation = onnx_activation::none;
    bool fold_batch_norm = true;  ///< fold eval-mode batch norm into the preceding convolution
    std::string input_name = "input";
    std::string segmentation_name = "segmentation";
    std::string classification_name = "classification";
    std::string graph_name = "unetpp_multitask";
};

namespace detail {

template <unet_cfg C, int ImageSize, int Hidden, class B, class T>
class onnx_multitask_exporter {
public:
    using net_t = multitask_unet<C, ImageSize, Hidden, B, T, residual_multitask_policies>;
    using tensor_t = typename net_t::tensor_type;
    static_assert(C.pad != padding::valid,
                  "export_onnx: unpadded multitask U-Nets are not supported (the residual shortcut needs "
                  "same-size maps)");

    onnx_multitask_exporter(net_t& net, const onnx_multitask_options& opt) : opt_(opt) {
        net.visit_parameters([&](std::string_view n, tensor_t& v, tensor_t&) { tensors_[std::string(n)] = &v; });
        net.visit_buffers([&](std::string_view n, tensor_t& v) { tensors_[std::string(n)] = &v; });
    }

    static std::string describe() {
        return "multitask_unet<in=" + std::to_string(C.in_channels) + ", classes=" + std::to_string(C.classes) +
               ", base=" + std::to_string(C.base) + ", depth=" + std::to_string(C.depth) +
               ", image=" + std::to_string(ImageSize) + ", hidden=" + std::to_string(Hidden) +
               ", residual, " + (C.pad == padding::reflect ? "reflect-padded" : "zero-padded") + ">";
    }

    std::string run() {
        const std::vector<std::string> names{opt_.input_name, opt_.segmentation_name, opt_.classification_name};
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i].empty()) throw std::invalid_argument("export_onnx: input and output names must be non-empty");
            for (std::size_t j = 0; j < i; ++j)
                if (names[i] == names[j])
                    throw std::invalid_argument("export_onnx: input and output names must be distinct (\"" + names[i] +
                                                "\" twice)");
        }
        if (opt_.classification_activation == onnx_activation::softmax)
            throw std::invalid_argument(
                "export_onnx: the classification head has one unit; softmax over it is always 1 (use sigmoid)");

        constexpr int S = ImageSize;
        constexpr int out_side = net_t::feature_size;
        g_.input(opt_.input_name, {std::string("N"), std::int64_t{C.in_channels}, std::int64_t{S}, std::int64_t{S}});
        g_.output(opt_.segmentation_name,
                  {std::string("N"), std::int64_t{C.classes}, std::int64_t{out_side}, std::int64_t{out_side}});
        g_.output(opt_.classification_name, {std::string("N"), std::int64_t{1}});

        const std::string f = level(0, opt_.input_name);

        // Segmentation head: 1x1 conv on the last decoder block, then the optional activation.
        const bool seg_act = opt_.segmentation_activation != onnx_activation::none;
        const std::string s = conv("seg_head", f, 1, "", false, seg_act ? "seg_head" : opt_.segmentation_name);
        if (opt_.segmentation_activation == onnx_activation::sigmoid)
            g_.node("Sigmoid", {s}, opt_.segmentation_name);
        if (opt_.segmentation_activation == onnx_activation::softmax)
            g_.node("Softmax", {s}, opt_.segmentation_name, {onnx_attribute::integer("axis", 1)});

        // Classification head: flatten (NCHW order, as unetpp's flatten) -> dense -> ReLU -> dense.
        const bool cls_act = opt_.classification_activation != onnx_activation::none;
        std::string c = g_.node("Flatten", {f}, "cls_head.flatten", {onnx_attribute::integer("axis", 1)});
        c = gemm("cls_head.fc1", c, "cls_head.fc1");
        c = g_.node("Relu", {c}, "cls_head.relu");
        c = gemm("cls_head.fc2", c, cls_act ? "cls_head.fc2" : opt_.classification_name);
        if (cls_act) g_.node("Sigmoid", {c}, opt_.classification_name);

        protobuf_writer model;
        model.int_field(1, onnx_ir_version);
        model.bytes_field(2, "unetpp");
        model.bytes_field(3, "0.1");
        model.bytes_field(6, describe());
        model.message_field(7, g_.encode(opt_.graph_name, describe() + " exported by unetpp for inference"));
        protobuf_writer opset;
        opset.bytes_field(1, "");
        opset.int_field(2, onnx_opset);
        model.message_field(8, opset);
        add_metadata(model, "unetpp.describe", describe());
        add_metadata(model, "unetpp.outputs", opt_.segmentation_name + "," + opt_.classification_name);
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

    const tensor_t& param(const std::string& name) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) throw std::logic_error("export_onnx: " + describe() + " has no tensor \"" + name + "\"");
        return *it->second;
    }
    static std::vector<float> to_float(const tensor_t& t) {
        std::vector<float> v(t.size());
        for (std::size_t i = 0; i < t.size(); ++i) v[i] = static_cast<float>(t[i]);
        return v;
    }
    static std::vector<std::int64_t> dims(const tensor_t& t) {
        const shape4 s = t.shape();
        return {s.n, s.c, s.h, s.w};
    }

    /// Conv `prefix` (weight [out, in, k, k], optional bias) padded as the cfg says when k > 1,
    /// then the batch norm `bn` (folded or emitted) and a ReLU when asked. The conv blocks'
    /// batch norms are batch_norm2d_cfg{.channels, .relu = true}: the default eps.
    std::string conv(const std::string& prefix, const std::string& x_in, int k, const std::string& bn, bool relu,
                     const std::string& out_name) {
        const tensor_t& w = param(prefix + ".weight");
        const std::int64_t cout = w.shape().n;
        const auto per_out = static_cast<std::size_t>(w.size() / static_cast<std::size_t>(cout));
        const bool has_bias = tensors_.count(prefix + ".bias") != 0;
        std::string x = x_in;
        const std::int64_t p = k / 2;
        if (C.pad == padding::reflect && p > 0) {
            const std::string pads = "pads.reflect" + std::to_string(p);
            if (!g_.has_initializer(pads))
                g_.initializer(pads, {8}, std::vector<std::int64_t>{0, 0, p, p, 0, 0, p, p});
            x = g_.node("Pad", {x, pads}, prefix + ".pad", {onnx_attribute::text("mode", "reflect")});
        }
        std::vector<onnx_attribute> attrs{onnx_attribute::integers("kernel_shape", {k, k}),
                                          onnx_attribute::integers("strides", {1, 1})};
        if (C.pad == padding::same && p > 0) attrs.push_back(onnx_attribute::integers("pads", {p, p, p, p}));

        const double eps = batch_norm2d_cfg{}.eps;
        const bool fold = !bn.empty() && opt_.fold_batch_norm;
        std::vector<std::string> inputs{x, prefix + ".weight"};
        if (fold) {
            const auto& gamma = param(bn + ".weight");
            const auto& beta = param(bn + ".bias");
            const auto& mean = param(bn + ".running_mean");
            const auto& var = param(bn + ".running_var");
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
        const bool conv_is_last = !relu && (bn.empty() || fold);
        x = g_.node("Conv", inputs, conv_is_last ? out_name : prefix, attrs);
        if (!bn.empty() && !fold) {
            for (const char* leaf : {".weight", ".bias", ".running_mean", ".running_var"})
                g_.initializer(bn + leaf, {cout}, to_float(param(bn + leaf)));
            x = g_.node("BatchNormalization",
                        {x, bn + ".weight", bn + ".bias", bn + ".running_mean", bn + ".running_var"},
                        relu ? bn : out_name, {onnx_attribute::real("epsilon", static_cast<float>(eps))});
        }
        if (relu) x = g_.node("Relu", {x}, out_name);
        return x;
    }

    /// One conv block of residual_block.hpp: conv -> [BN] -> ReLU (dropout omitted).
    std::string conv_block(const std::string& name, const std::string& x) {
        const bool bn = C.norm == norm_kind::batch;
        return conv(name + ".conv", x, C.kernel, bn ? name + ".bn" : "", true, name);
    }
    std::string triple_conv(const std::string& name, const std::string& x) {
        std::string y = x;
        for (const char* b : {".block1", ".block2", ".block3"}) y = conv_block(name + b, y);
        return y;
    }
    std::string residual(const std::string& name, const std::string& x) {
        const std::string m = conv_block(name + ".block2", conv_block(name + ".block1", x));
        const std::string s = conv(name + ".shortcut", x, 1, "", false, name + ".shortcut");
        return g_.node("Add", {m, s}, name);
    }

    /// Dense layer `prefix` (weight stored [out, in]) as Gemm(x, W, b, transB = 1).
    std::string gemm(const std::string& prefix, const std::string& x, const std::string& out_name) {
        const tensor_t& w = param(prefix + ".weight");  // [1, 1, out, in]
        const tensor_t& b = param(prefix + ".bias");
        const std::int64_t out = w.shape().h, in = w.shape().w;
        g_.initializer(prefix + ".weight", {out, in}, to_float(w));
        g_.initializer(prefix + ".bias", {out}, to_float(b));
        return g_.node("Gemm", {x, prefix + ".weight", prefix + ".bias"}, out_name,
                       {onnx_attribute::integer("transB", 1)});
    }

    std::string level(int l, const std::string& x) {
        const std::string n = std::to_string(l + 1);
        const std::string e = triple_conv("enc" + n, x);
        const std::string d = g_.node("MaxPool", {e}, "down" + n,
                                      {onnx_attribute::integers("kernel_shape", {2, 2}),
                                       onnx_attribute::integers("strides", {2, 2})});
        const std::string below = l + 1 < C.depth ? level(l + 1, d) : residual("bottleneck", d);
        const std::string p = "up" + n + ".conv";
        const tensor_t& w = param(p + ".weight");
        g_.initializer(p + ".weight", dims(w), to_float(w));
        g_.initializer(p + ".bias", {w.shape().c}, to_float(param(p + ".bias")));
        const std::string u = g_.node("ConvTranspose", {below, p + ".weight", p + ".bias"}, "up" + n,
                                      {onnx_attribute::integers("kernel_shape", {2, 2}),
                                       onnx_attribute::integers("strides", {2, 2})});
        const std::string m = g_.node("Concat", {e, u}, "skip" + n, {onnx_attribute::integer("axis", 1)});
        return triple_conv("dec" + n, m);
    }

    onnx_multitask_options opt_;
    onnx_graph_builder g_;
    std::map<std::string, tensor_t*> tensors_;
};

}  // namespace detail

/// The serialised ONNX ModelProto of a residual multitask U-Net (see the file comment).
template <unet_cfg C, int ImageSize, int Hidden, class B, class T>
std::string to_onnx(const multitask_unet<C, ImageSize, Hidden, B, T, residual_multitask_policies>& net,
                    const onnx_multitask_options& opt = {}) {
    using net_t = multitask_unet<C, ImageSize, Hidden, B, T, residual_multitask_policies>;
    detail::onnx_multitask_exporter<C, ImageSize, Hidden, B, T> ex(const_cast<net_t&>(net), opt);  // visiting does not modify
    return ex.run();
}

/// Writes a residual multitask U-Net as an ONNX model with two outputs to `path` (atomically and
/// durably: io::write_file_atomic).
template <unet_cfg C, int ImageSize, int Hidden, class B, class T>
void export_onnx(const multitask_unet<C, ImageSize, Hidden, B, T, residual_multitask_policies>& net,
                 const std::filesystem::path& path, const onnx_multitask_options& opt = {}) {
    detail::write_onnx_file(to_onnx(net, opt), path);
}

}  // namespace unetpp::io
