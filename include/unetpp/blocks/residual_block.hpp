#pragma once
/// \file Building blocks of the residual multi-task U-Net (seed 002):
///
///   conv_block       conv k x k -> [BN] -> ReLU -> [dropout]           (names conv, bn/relu, drop)
///   triple_conv      three conv_blocks (the paper's encoder/decoder "three convolutional blocks";
///                    names block1, block2, block3)
///   residual_block   y = dropout(block2(block1(x))) + shortcut(x), shortcut a 1x1 conv that
///                    matches the channels (names block1, block2, drop, shortcut)
///
/// The seed's conv blocks are Keras Conv2D layers, which keep their bias before batch norm; the
/// cfg's `bias` says whether to (default true, as Keras; false saves C parameters per block).

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/sequential.hpp"

namespace unetpp::inline UNETPP_ABI {

struct conv_block_cfg {
    int in = 1;
    int out = 1;
    int kernel = 3;
    padding pad = padding::same;
    bool batch_norm = true;
    bool bias = true;
    double dropout = 0.0;
};

template <conv_block_cfg C, backend::backend_type B = backend::cpu, class T = float>
using conv_block_base = sequential_of<
    named<"conv", conv2d<conv2d_cfg{.in = C.in, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = C.bias ? true : !C.batch_norm}, B, T>>,
    optional_layer<C.batch_norm, "bn", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, B, T>>,
    optional_layer<!C.batch_norm, "relu", relu<B, T>>,
    optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, B, T>>>;

/// A class rather than an alias (g++ 12 fails on the alias nested in other aliases).
template <conv_block_cfg C, backend::backend_type B = backend::cpu, class T = float>
struct conv_block : conv_block_base<C, B, T> {};

/// cfg with other channels (helper for the blocks below).
constexpr conv_block_cfg with_channels(conv_block_cfg c, int in, int out) noexcept {
    c.in = in;
    c.out = out;
    return c;
}

/// Three conv blocks, C.in -> C.out -> C.out -> C.out.
template <conv_block_cfg C, backend::backend_type B = backend::cpu, class T = float>
struct triple_conv : sequential<named<"block1", conv_block<with_channels(C, C.in, C.out), B, T>>,
                                named<"block2", conv_block<with_channels(C, C.out, C.out), B, T>>,
                                named<"block3", conv_block<with_channels(C, C.out, C.out), B, T>>> {};

/// Residual block: two conv blocks and a dropout on the main path, a 1x1 conv shortcut, added.
template <conv_block_cfg C, backend::backend_type B = backend::cpu, class T = float>
class residual_block : public layer_base<B, T> {
    using base = layer_base<B, T>;
    using main_t = sequential_of<named<"block1", conv_block<with_channels(C, C.in, C.out), B, T>>,
                                 named<"block2", conv_block<with_channels(C, C.out, C.out), B, T>>,
                                 optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, B, T>>>;
    using shortcut_t = conv2d<conv2d_cfg{.in = C.in, .out = C.out, .kernel = 1, .stride = 1, .pad = padding::valid, .bias = true}, B, T>;

public:
    using typename base::tensor_type;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr std::size_t parameter_count = main_t::parameter_count + shortcut_t::parameter_count;
    static constexpr std::size_t buffer_count = main_t::buffer_count;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        const auto m = main_t::try_output_shape(in);
        const auto s = shortcut_t::try_output_shape(in);
        if (!m || !s || *m != *s) return std::nullopt;  // unpadded blocks would need a cropped shortcut
        return m;
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<residual_block>(describe(), "[N, " + std::to_string(C.in) + ", H, W]", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        const tensor_type& m = main_.forward(x);
        const tensor_type& s = shortcut_.forward(x);
        this->y_.resize(out);
        B::add(m.data(), s.data(), this->y_.data(), static_cast<std::ptrdiff_t>(out.size()));
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        const tensor_type& dm = main_.backward(x, dy);
        const tensor_type& ds = shortcut_.backward(x, dy);
        this->dx_.resize(x.shape());
        B::add(dm.data(), ds.data(), this->dx_.data(), static_cast<std::ptrdiff_t>(x.size()));
        return this->dx_;
    }
    void train(bool on) {
        base::train(on);
        main_.train(on);
        shortcut_.train(on);
    }
    void init(rng& r) {
        main_.init(r);
        shortcut_.init(r);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        main_.visit_parameters(prefix, f);
        shortcut_.visit_parameters(join_name(prefix, "shortcut"), f);
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        main_.visit_buffers(prefix, f);
    }
    static std::string describe() {
        return "residual_block<in=" + std::to_string(C.in) + ", out=" + std::to_string(C.out) + ">";
    }

private:
    main_t main_;
    shortcut_t shortcut_;
};

}  // namespace unetpp
