#pragma once
/// \file Additive attention gate (Oktay et al. 2018, "Attention U-Net"); the skip policy that
/// uses it, `attention_skip`, is in blocks/skip.hpp with the other skip policies. With x the skip (encoder) features and g the gating signal (the upsampled decoder
/// features, same size):
///
///   q   = ReLU(W_g g + W_x x)          W_g, W_x: 1x1 conv [+ BN] to Inter channels
///   psi = sigmoid(BN(W_psi q))         W_psi: 1x1 conv to one channel [+ BN]
///   y   = x * psi                      (psi broadcast over x's channels)
///
/// This is the widely used same-resolution form of the gate (the paper's W_x is a strided conv
/// with g at the coarser level; with the gating taken after the up-sampling both are at the
/// skip's resolution). Parameter names: wg.conv.*, wg.bn.*, wx.conv.*, wx.bn.*, psi.conv.*,
/// psi.bn.*; in `attention_skip` they sit under gate.*.

#include <optional>
#include <string>
#include <utility>

#include "../config/abi.hpp"
#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/merge.hpp"
#include "../layers/sequential.hpp"

namespace unetpp::inline UNETPP_ABI {

struct attention_gate_cfg {
    int gate = 1;   ///< channels of the gating signal g (F_g)
    int skip = 1;   ///< channels of the skip features x (F_l)
    int inter = 1;  ///< intermediate channels (F_int)
    bool batch_norm = true;
};

template <attention_gate_cfg C, backend::backend_type B = backend::cpu, class T = float>
class attention_gate {
    static_assert(C.gate >= 1 && C.skip >= 1 && C.inter >= 1,
                  "attention_gate: cfg.gate, cfg.skip and cfg.inter must be positive");
    template <int In, int Out>
    using proj = sequential_of<named<"conv", conv2d<conv2d_cfg{.in = In, .out = Out, .kernel = 1, .stride = 1, .pad = padding::valid, .bias = true}, B, T>>,
                               optional_layer<C.batch_norm, "bn", batch_norm2d<batch_norm2d_cfg{.channels = Out}, B, T>>>;
    using wg_t = proj<C.gate, C.inter>;
    using wx_t = proj<C.skip, C.inter>;
    using psi_t = sequential_of<named<"conv", conv2d<conv2d_cfg{.in = C.inter, .out = 1, .kernel = 1, .stride = 1, .pad = padding::valid, .bias = true}, B, T>>,
                                optional_layer<C.batch_norm, "bn", batch_norm2d<batch_norm2d_cfg{.channels = 1}, B, T>>,
                                named<"sigmoid", sigmoid<B, T>>>;

public:
    using tensor_type = tensor<T, typename B::memory>;
    static constexpr int out_channels = C.skip;
    static constexpr std::size_t parameter_count = wg_t::parameter_count + wx_t::parameter_count + psi_t::parameter_count;
    static constexpr std::size_t buffer_count = wg_t::buffer_count + wx_t::buffer_count + psi_t::buffer_count;

    /// Shape of the gated skip for skip features `x` and gating signal `g`.
    static constexpr std::optional<shape4> try_output_shape(shape4 x, shape4 g) noexcept {
        if (x.c != C.skip || g.c != C.gate || x.n != g.n || x.h != g.h || x.w != g.w || !x.valid()) return std::nullopt;
        return x;
    }
    const tensor_type& forward(const tensor_type& x, const tensor_type& g) {
        if (!try_output_shape(x.shape(), g.shape()))
            throw shape_error(describe() + ": cannot gate skip " + x.shape().str() + " with signal " + g.shape().str() +
                              "; expected " + std::to_string(C.skip) + " and " + std::to_string(C.gate) +
                              " channels of one batch and size");
        const tensor_type& a = wg_.forward(g);
        const tensor_type& b = wx_.forward(x);
        sum_.resize(a.shape());
        B::add(a.data(), b.data(), sum_.data(), static_cast<std::ptrdiff_t>(sum_.size()));
        const tensor_type& p = psi_.forward(relu_.forward(sum_));
        const shape4 s = x.shape();
        y_.resize(s);
        B::multiply_planes(x.data(), p.data(), y_.data(), s.n, s.c, static_cast<std::ptrdiff_t>(s.plane()));
        has_forward_ = true;
        return y_;
    }
    /// (dx, dg) for the inputs of the last forward; adds the parameter gradients.
    std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& x, const tensor_type& g,
                                                               const tensor_type& dy) {
        if (!has_forward_) throw std::logic_error(describe() + ": backward called before forward");
        if (dy.shape() != y_.shape() || x.shape() != y_.shape())
            throw shape_error(describe() + ": backward shapes differ from the last forward's");
        const shape4 s = x.shape();
        const tensor_type& p = psi_.output();
        dpsi_.resize(p.shape());
        dpsi_.zero();
        dx_.resize(s);
        B::multiply_planes_backward(x.data(), p.data(), dy.data(), dx_.data(), dpsi_.data(), s.n, s.c,
                                    static_cast<std::ptrdiff_t>(s.plane()));
        const tensor_type& dq = psi_.backward(relu_.output(), dpsi_);
        const tensor_type& ds = relu_.backward(sum_, dq);
        const tensor_type& dg = wg_.backward(g, ds);
        const tensor_type& dxw = wx_.backward(x, ds);
        B::accumulate(dxw.data(), dx_.data(), static_cast<std::ptrdiff_t>(dx_.size()));
        return {dx_, dg};
    }
    const tensor_type& output() const noexcept { return y_; }
    /// The attention coefficients of the last forward, [N, 1, H, W].
    const tensor_type& coefficients() const noexcept { return psi_.output(); }
    void train(bool on) {
        wg_.train(on);
        wx_.train(on);
        relu_.train(on);
        psi_.train(on);
    }
    void init(rng& r) {
        wg_.init(r);
        wx_.init(r);
        psi_.init(r);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        wg_.visit_parameters(join_name(prefix, "wg"), f);
        wx_.visit_parameters(join_name(prefix, "wx"), f);
        psi_.visit_parameters(join_name(prefix, "psi"), f);
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        wg_.visit_buffers(join_name(prefix, "wg"), f);
        wx_.visit_buffers(join_name(prefix, "wx"), f);
        psi_.visit_buffers(join_name(prefix, "psi"), f);
    }
    static std::string describe() {
        return "attention_gate<g=" + std::to_string(C.gate) + ", x=" + std::to_string(C.skip) +
               ", inter=" + std::to_string(C.inter) + ">";
    }

private:
    wg_t wg_;
    wx_t wx_;
    relu<B, T> relu_;
    psi_t psi_;
    tensor_type sum_, y_, dx_, dpsi_;
    bool has_forward_ = false;
};

}  // namespace unetpp
