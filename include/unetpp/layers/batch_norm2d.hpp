#pragma once
/// \file BatchNorm2d: per-channel normalisation with learnable scale (`weight`) and shift (`bias`)
/// and running statistics (`running_mean`, `running_var`, `num_batches_tracked`), as
/// torch.nn.BatchNorm2d. Training mode uses batch statistics; eval mode the running ones.

#include <optional>
#include <string>
#include <utility>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

struct batch_norm2d_cfg {
    int channels = 1;
    double momentum = 0.1;
    double eps = 1e-5;
    bool relu = false;  ///< apply ReLU to the output in the same pass (Conv-BN-ReLU blocks)
};

/// Output shape of a batch norm for input `in` (the input's own), or nullopt when impossible.
constexpr std::optional<shape4> batch_norm2d_output_shape(const batch_norm2d_cfg& c, shape4 in) noexcept {
    if (in.c != c.channels || in.n < 1 || in.h < 1 || in.w < 1) return std::nullopt;
    return in;
}

/// "batch_norm2d<channels=.., relu>", the layer's name in messages.
inline std::string describe_batch_norm2d(const batch_norm2d_cfg& c) {
    return "batch_norm2d<channels=" + std::to_string(c.channels) + (c.relu ? ", relu" : "") + ">";
}

namespace detail {

/// Everything a BatchNorm2d does at run time, written once per value type and backend and shared
/// by every batch_norm2d<C> of a network (the configuration is a run-time value here; the typed
/// shell batch_norm2d<C> adds the compile-time facts). See conv2d_core.
template <class B, class T>
class batch_norm2d_core : public layer_base<B, T> {
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;
    using const_pointer = typename tensor_type::const_pointer;

    shape4 output_shape(shape4 in) const {
        if (auto s = batch_norm2d_output_shape(cfg_, in)) return *s;
        throw_shape_error(describe_batch_norm2d(cfg_), std::to_string(cfg_.channels) + " channels", in);
    }

    void init(rng&) {
        gamma_.fill(T(1));
        beta_.zero();
        running_mean_.zero();
        running_var_.fill(T(1));
        batches_tracked_.zero();
    }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 s = output_shape(x.shape());
        this->remember_input(s);
        this->y_.resize(s);
        forward_was_training_ = this->training_;
        const auto plane = static_cast<std::ptrdiff_t>(s.plane());
        if (this->training_) {
            if (s.n * s.plane() < 2)
                throw shape_error(describe_batch_norm2d(cfg_) +
                                  ": training needs more than one value per channel (got input " + s.str() +
                                  "); use a larger batch or image, or switch to eval mode");
            B::batch_norm_forward_train(x.data(), this->y_.data(), s.n, s.c, plane, gamma_.data(), beta_.data(), eps(),
                                        static_cast<T>(cfg_.momentum), running_mean_.data(), running_var_.data(),
                                        save_mean_.data(), save_invstd_.data(), cfg_.relu);
            B::accumulate(one_.data(), batches_tracked_.data(), 1);  // num_batches_tracked += 1, where it lives
        } else {
            B::batch_norm_forward_eval(x.data(), this->y_.data(), s.n, s.c, plane, gamma_.data(), beta_.data(), eps(),
                                       running_mean_.data(), running_var_.data(), cfg_.relu);
        }
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe_batch_norm2d(cfg_), x, dy);
        const shape4 s = x.shape();
        this->dx_.resize(s);
        const auto plane = static_cast<std::ptrdiff_t>(s.plane());
        if (forward_was_training_)
            B::batch_norm_backward_train(x.data(), dy.data(), this->dx_.data(), s.n, s.c, plane, gamma_.data(),
                                         save_mean_.data(), save_invstd_.data(), dgamma_.data(), dbeta_.data(),
                                         relu_out());
        else
            B::batch_norm_backward_eval(x.data(), dy.data(), this->dx_.data(), s.n, s.c, plane, gamma_.data(), eps(),
                                        running_mean_.data(), running_var_.data(), dgamma_.data(), dbeta_.data(),
                                        relu_out());
        this->gradients_final(dgamma_, dbeta_);
        return this->dx_;
    }

    /// Writes the last forward's output again, from its input `x` and the statistics that
    /// forward used (batch statistics in training, running statistics in eval): bit-identical to
    /// what forward returned. For a block that lends this layer's output buffer to the next layer
    /// and recomputes it for backward (sequential), which saves one tensor per such norm.
    void recompute_output(const tensor_type& x) {
        const shape4 s = x.shape();
        if (!this->has_forward_ || s != this->in_shape_)
            throw std::logic_error(describe_batch_norm2d(cfg_) + ": recompute_output needs the input of the last forward");
        this->y_.resize(s);
        const auto plane = static_cast<std::ptrdiff_t>(s.plane());
        if (forward_was_training_)
            B::batch_norm_apply_saved(x.data(), this->y_.data(), s.n, s.c, plane, gamma_.data(), beta_.data(),
                                      save_mean_.data(), save_invstd_.data(), cfg_.relu);
        else
            B::batch_norm_forward_eval(x.data(), this->y_.data(), s.n, s.c, plane, gamma_.data(), beta_.data(), eps(),
                                       running_mean_.data(), running_var_.data(), cfg_.relu);
    }

    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        f(join_name(prefix, "weight"), gamma_, dgamma_);
        f(join_name(prefix, "bias"), beta_, dbeta_);
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        f(join_name(prefix, "running_mean"), running_mean_);
        f(join_name(prefix, "running_var"), running_var_);
        f(join_name(prefix, "num_batches_tracked"), batches_tracked_);
    }

    /// The eval-mode normalisation as a per-channel affine map y = scale * x + shift, with
    /// scale = gamma / sqrt(running_var + eps) and shift = beta - running_mean * scale (the same
    /// arithmetic as the eval forward), for folding into the convolution before it. Returns
    /// pointers to {scale, shift}, valid until the next call.
    std::pair<const_pointer, const_pointer> eval_affine() {
        B::batch_norm_fold(gamma_.data(), beta_.data(), eps(), running_mean_.data(), running_var_.data(), cfg_.channels,
                           fold_scale_.data(), fold_shift_.data());
        return {fold_scale_.data(), fold_shift_.data()};
    }

    tensor_type& weight() noexcept { return gamma_; }
    tensor_type& bias() noexcept { return beta_; }
    tensor_type& running_mean() noexcept { return running_mean_; }
    tensor_type& running_var() noexcept { return running_var_; }

protected:
    explicit batch_norm2d_core(const batch_norm2d_cfg& c)
        : cfg_(c), gamma_(shape4{1, 1, 1, c.channels}, T(1)), beta_(gamma_.shape()), dgamma_(gamma_.shape()),
          dbeta_(gamma_.shape()), running_mean_(gamma_.shape()), running_var_(gamma_.shape(), T(1)),
          batches_tracked_(shape4{1, 1, 1, 1}), save_mean_(gamma_.shape()), save_invstd_(gamma_.shape()),
          fold_scale_(gamma_.shape()), fold_shift_(gamma_.shape()) {}

private:
    T eps() const noexcept { return static_cast<T>(cfg_.eps); }
    const_pointer relu_out() const noexcept { return cfg_.relu ? this->y_.data() : const_pointer{}; }
    batch_norm2d_cfg cfg_;
    tensor_type gamma_, beta_, dgamma_, dbeta_, running_mean_, running_var_, batches_tracked_, save_mean_, save_invstd_;
    tensor_type fold_scale_, fold_shift_;
    bool forward_was_training_ = true;
    tensor_type one_{shape4{1, 1, 1, 1}, T(1)};
};

}  // namespace detail

template <batch_norm2d_cfg C, backend::backend_type B = backend::cpu, class T = float>
class batch_norm2d : public detail::batch_norm2d_core<B, T> {
    static_assert(C.channels > 0, "batch_norm2d: cfg.channels must be positive");
    static_assert(C.momentum >= 0 && C.momentum <= 1, "batch_norm2d: cfg.momentum must be in [0, 1]");
    static_assert(C.eps > 0, "batch_norm2d: cfg.eps must be positive");

public:
    static constexpr int in_channels = C.channels;
    static constexpr int out_channels = C.channels;
    static constexpr std::size_t parameter_count = 2 * static_cast<std::size_t>(C.channels);
    /// running_mean and running_var (Keras counts these as non-trainable parameters).
    static constexpr std::size_t buffer_count = 2 * static_cast<std::size_t>(C.channels);
    /// Whether the ReLU runs inside this norm's pass (batch_norm2d_cfg::relu).
    static constexpr bool applies_relu = C.relu;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        return batch_norm2d_output_shape(C, in);
    }
    static std::string describe() { return describe_batch_norm2d(C); }

    batch_norm2d() : detail::batch_norm2d_core<B, T>(C) {}
};

}  // namespace unetpp
