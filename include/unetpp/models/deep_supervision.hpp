#pragma once
/// \file Deep supervision (Lee, Xie, Gallagher, Zhang & Tu 2015, "Deeply-Supervised Nets": a
/// companion classifier on hidden layers, trained with a weighted sum of the output loss and
/// the companion losses; for UNet++ Zhou et al. 2018 put 1x1 heads on X^{0,1..4}).
///
///   deeply_supervised<Net>   Net plus one auxiliary 1x1 convolution head (bias, to `classes`
///                            maps) per tap; forward returns deep_supervision_outputs<T>
///                            {.main, .aux}, every map at the main output's resolution;
///                            backward takes the gradients of all of them.
///   losses::deep_supervision (losses/deep_supervision.hpp) computes sum_k w_k L(logits_k, target)
///                            and those gradients.
///
/// Taps (supervision_taps<Net>):
///   unet<cfg, B, T, P> (padded)  the decoder blocks dec2..dec{depth}; the logits of dec{L+1}
///                                (1/2^L of the input size) are up-sampled L times by bilinear x2
///                                (align_corners = false, torch.nn.Upsample's default), so every
///                                auxiliary map has the target's shape; heads aux_dec{L+1}.
///                                The 1x1 convolution runs before the up-sampling (both are
///                                linear and bilinear weights sum to 1, so the order does not
///                                change the result, only the cost).
///   nested_unet (UNet++)         the nodes X^{0,1}..X^{0,depth-1} (already at full resolution);
///                                heads aux_x0_{j}. The main head on X^{0,depth} is the
///                                network's own `head`.
/// aux[k] is the k-th tap in that order (aux[0] = dec2 for unet, X^{0,1} for UNet++).
///
/// Parameter names: the network's (enc1.conv1.weight, x0_1.bn2.bias, head.weight ...) and
/// aux_dec{L}.weight / .bias or aux_x0_{j}.weight / .bias: the state_dict keys of
/// tools/unetpp_torch.py's DeeplySupervised. The gradient reaches the network through unet's
/// backward(x, dlogits, decoder_grads) / nested_unet's backward(x, dlogits, top_grads) hooks.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/upsample.hpp"
#include "../heads/outputs.hpp"
#include "unet.hpp"
#include "nested_unet.hpp"

namespace unetpp::inline UNETPP_ABI {

namespace detail {
template <class>
inline constexpr bool supervision_dependent_false = false;

/// K bilinear x2 up-samplings in a row (K = 0: the identity, no copy).
template <int K, class B, class T>
class bilinear_upsamplings {
public:
    using tensor_type = typename upsample_bilinear2x<B, T>::tensor_type;
    const tensor_type& forward(const tensor_type& x) {
        const tensor_type* y = &x;
        for (auto& u : ups_) y = &u.forward(*y);
        last_ = y;
        return *y;
    }
    /// x: the input of the last forward.
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        const tensor_type* g = &dy;
        for (int k = K - 1; k >= 0; --k) g = &ups_[static_cast<std::size_t>(k)].backward(k == 0 ? x : ups_[static_cast<std::size_t>(k - 1)].output(), *g);
        return *g;
    }
    [[nodiscard]] const tensor_type* last() const noexcept { return last_; }

private:
    std::array<upsample_bilinear2x<B, T>, static_cast<std::size_t>(K)> ups_;
    const tensor_type* last_ = nullptr;
};
}  // namespace detail

/// Where deeply_supervised attaches auxiliary heads on a network type (specialised below).
/// Members: count; channels(k); upsamplings(k) (bilinear x2 steps to the output resolution);
/// name(k); output<K>(net); backward(net, x, dmain, per-tap gradients).
template <class Net>
struct supervision_taps {
    static_assert(detail::supervision_dependent_false<Net>,
                  "deeply_supervised: no supervision_taps specialisation for this network type (unet and nested_unet "
                  "have one; a new model needs supervision_taps<Model> naming its auxiliary feature maps)");
};

template <unet_cfg C, class B, class T, class P>
struct supervision_taps<unet<C, B, T, P>> {
    using net_type = unet<C, B, T, P>;
    using tensor_type = typename net_type::tensor_type;
    static_assert(C.pad != padding::valid,
                  "deeply_supervised: an unpadded unet's decoder maps are not exactly 2^level times smaller than its "
                  "output (every convolution trims the border), so their logits cannot be up-sampled onto the "
                  "target; use padding::same or padding::reflect");
    static constexpr int count = C.depth - 1;
    static constexpr int channels(int k) noexcept { return net_type::channels(k + 1); }
    static constexpr int upsamplings(int k) noexcept { return k + 1; }
    static std::string name(int k) { return "aux_dec" + std::to_string(k + 2); }
    template <std::size_t K>
    static const tensor_type& output(net_type& n) {
        return n.template decoder<K + 1>().output();
    }
    /// The network's forward, calling f(k, map) with tap k's map while it is valid (under
    /// inference_mode the decoder maps share one workspace slot).
    template <class F>
    static const tensor_type& forward(net_type& n, const tensor_type& x, F&& f) {
        return n.forward_tapped(x, [&](auto level, const tensor_type& map) {
            if constexpr (decltype(level)::value >= 1) f(std::integral_constant<std::size_t, decltype(level)::value - 1>{}, map);
        });
    }
    static const tensor_type& backward(net_type& n, const tensor_type& x, const tensor_type& dmain,
                                       const std::array<const tensor_type*, static_cast<std::size_t>(count)>& g) {
        std::array<const tensor_type*, static_cast<std::size_t>(C.depth)> all{};
        for (std::size_t k = 0; k < g.size(); ++k) all[k + 1] = g[k];
        return n.backward(x, dmain, all);
    }
};

template <unet_cfg C, class B, class T, class P>
struct supervision_taps<nested_unet<C, B, T, P>> {
    using net_type = nested_unet<C, B, T, P>;
    using tensor_type = typename net_type::tensor_type;
    static constexpr int count = net_type::depth - 1;
    static constexpr int channels(int) noexcept { return net_type::channels(0); }
    static constexpr int upsamplings(int) noexcept { return 0; }
    static std::string name(int k) { return "aux_x0_" + std::to_string(k + 1); }
    template <std::size_t K>
    static const tensor_type& output(net_type& n) {
        return n.template node<0, static_cast<int>(K) + 1>().output();
    }
    /// The network's forward, then f(k, map) for every tap (the nodes keep their maps).
    template <class F>
    static const tensor_type& forward(net_type& n, const tensor_type& x, F&& f) {
        const tensor_type& main = n.forward(x);
        [&]<std::size_t... K>(std::index_sequence<K...>) {
            (f(std::integral_constant<std::size_t, K>{}, output<K>(n)), ...);
        }(std::make_index_sequence<static_cast<std::size_t>(count)>{});
        return main;
    }
    static const tensor_type& backward(net_type& n, const tensor_type& x, const tensor_type& dmain,
                                       const std::array<const tensor_type*, static_cast<std::size_t>(count)>& g) {
        std::array<const tensor_type*, static_cast<std::size_t>(net_type::depth) + 1> all{};
        for (std::size_t k = 0; k < g.size(); ++k) all[k + 1] = g[k];
        return n.backward(x, dmain, all);
    }
};

/// Net with auxiliary heads on its supervision taps (see the file comment).
template <class Net>
class deeply_supervised {
    using taps = supervision_taps<Net>;

public:
    using net_type = Net;
    using value_type = typename Net::value_type;
    using backend_type = typename Net::backend_type;
    using tensor_type = typename Net::tensor_type;
    using memory_space = typename backend_type::memory;
    static constexpr unet_cfg cfg = Net::cfg;
    static_assert(cfg.classes > 0, "deeply_supervised: the auxiliary heads need the classes fixed at compile time "
                                   "(a unet with classes = runtime_channels is not supported here)");
    /// Number of auxiliary outputs.
    static constexpr int aux_count = taps::count;
    static_assert(aux_count >= 1, "deeply_supervised: the network has no level to supervise besides its output "
                                  "(unet_cfg.depth must be at least 2)");

    template <std::size_t K>
    using aux_head_t = conv2d<conv2d_cfg{.in = taps::channels(static_cast<int>(K)), .out = Net::cfg.classes, .kernel = 1,
                                         .stride = 1, .pad = padding::valid, .bias = true},
                              backend_type, value_type>;
    template <std::size_t K>
    using aux_up_t = detail::bilinear_upsamplings<taps::upsamplings(static_cast<int>(K)), backend_type, value_type>;

private:
    // Partially specialised structs, not functions with a trailing return type: nvcc 13 cannot
    // read that pack expansion there.
    template <class Seq>
    struct aux_types;
    template <std::size_t... K>
    struct aux_types<std::index_sequence<K...>> {
        using heads = std::tuple<aux_head_t<K>...>;
        using ups = std::tuple<aux_up_t<K>...>;
    };
    using aux_heads = typename aux_types<std::make_index_sequence<static_cast<std::size_t>(aux_count)>>::heads;
    using aux_ups = typename aux_types<std::make_index_sequence<static_cast<std::size_t>(aux_count)>>::ups;

    template <class F>
    void for_each_aux(F&& f) {
        [&]<std::size_t... K>(std::index_sequence<K...>) {
            (f(std::integral_constant<std::size_t, K>{}), ...);
        }(std::make_index_sequence<static_cast<std::size_t>(aux_count)>{});
    }

public:
    /// The network's parameters plus classes * (channels + 1) per auxiliary head.
    static constexpr std::size_t parameter_count = Net::parameter_count + []<std::size_t... K>(std::index_sequence<K...>) {
        return (std::size_t{0} + ... + aux_head_t<K>::parameter_count);
    }(std::make_index_sequence<static_cast<std::size_t>(aux_count)>{});
    static constexpr std::size_t buffer_count = Net::buffer_count;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept { return Net::try_output_shape(in); }
    static constexpr std::optional<int> output_size(int in) noexcept { return Net::output_size(in); }
    static constexpr bool is_valid_size(int in) noexcept { return Net::is_valid_size(in); }
    static constexpr int min_input_size = Net::min_input_size;
    static void validate(const shape4& in) { Net::validate(in); }
    static std::string describe() { return "deeply_supervised<" + Net::describe() + ">"; }
    /// Name of auxiliary head k (the prefix of its parameters).
    static std::string aux_name(int k) { return taps::name(k); }

    explicit deeply_supervised(std::uint64_t seed = 0) : net_(seed) { init_heads(seed); }
    void init(std::uint64_t seed) {
        net_.init(seed);
        init_heads(seed);
    }

    /// Main logits and the auxiliary logits (views valid until the next forward).
    deep_supervision_outputs<value_type, memory_space> forward(const tensor_type& x) {
        // Each auxiliary head runs as soon as its map is computed, while the map is valid.
        inference_only_ = inference_mode::enabled() && !training();
        std::array<const tensor_type*, static_cast<std::size_t>(aux_count)> aux{};
        const tensor_type& main = taps::forward(net_, x, [&](auto k, const tensor_type& map) {
            const tensor_type& z = std::get<decltype(k)::value>(heads_).forward(map);
            aux[decltype(k)::value] = &std::get<decltype(k)::value>(ups_).forward(z);
        });
        deep_supervision_outputs<value_type, memory_space> out{heads::logits<value_type, memory_space>(main), {}};
        out.aux.reserve(static_cast<std::size_t>(aux_count));
        for (const tensor_type* a : aux) out.aux.emplace_back(*a);
        return out;
    }

    /// Backward from the gradients of the loss with respect to every output (as
    /// losses::deep_supervision writes them); adds the parameter gradients and returns dL/dx
    /// when need_input_grad(true) was set.
    const tensor_type& backward(const tensor_type& x, const deep_supervision_gradients<value_type, memory_space>& g) {
        return backward(x, g.main, g.aux);
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dmain, const std::vector<tensor_type>& daux) {
        if (inference_only_)
            throw std::logic_error(describe() + ": backward after a forward run under unetpp::inference_mode, which "
                                   "keeps no intermediate results; run the forward pass again outside the "
                                   "inference_mode scope");
        if (daux.size() != static_cast<std::size_t>(aux_count))
            throw std::invalid_argument("deeply_supervised: backward received " + std::to_string(daux.size()) +
                                        " auxiliary gradients, the network has " + std::to_string(aux_count) +
                                        " auxiliary heads (" + aux_names() + ")");
        std::array<const tensor_type*, static_cast<std::size_t>(aux_count)> g{};
        for_each_aux([&](auto k) {
            auto& head = std::get<decltype(k)::value>(heads_);
            auto& up = std::get<decltype(k)::value>(ups_);
            const tensor_type* y = up.last();
            if (!y) throw std::logic_error("deeply_supervised: backward called before forward; run forward first");
            if (daux[decltype(k)::value].shape() != y->shape())
                throw shape_error("deeply_supervised: the gradient for " + taps::name(static_cast<int>(decltype(k)::value)) +
                                  " has shape " + daux[decltype(k)::value].shape().str() + ", expected " + y->shape().str());
            const tensor_type& gz = up.backward(head.output(), daux[decltype(k)::value]);
            g[decltype(k)::value] = &head.backward(taps::template output<decltype(k)::value>(net_), gz);
        });
        return taps::backward(net_, x, dmain, g);
    }

    void need_input_grad(bool on) { net_.need_input_grad(on); }
    [[nodiscard]] bool needs_input_grad() const noexcept { return net_.needs_input_grad(); }
    void train(bool on = true) {
        net_.train(on);
        for_each_aux([&](auto k) { std::get<decltype(k)::value>(heads_).train(on); });
    }
    void eval() { train(false); }
    [[nodiscard]] bool training() const noexcept { return net_.training(); }

    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        parameter_visitor_ref<tensor_type> ref(f);  // one walk per model, whatever f is (layer.hpp)
        net_.visit_parameters(prefix, ref);
        for_each_aux([&](auto k) {
            std::get<decltype(k)::value>(heads_).visit_parameters(join_name(prefix, taps::name(static_cast<int>(decltype(k)::value))), ref);
        });
    }
    template <class F>
    void visit_parameters(F&& f) {
        visit_parameters(std::string_view{}, std::forward<F>(f));
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        buffer_visitor_ref<tensor_type> ref(f);
        net_.visit_buffers(prefix, ref);
        for_each_aux([&](auto k) {
            std::get<decltype(k)::value>(heads_).visit_buffers(join_name(prefix, taps::name(static_cast<int>(decltype(k)::value))), ref);
        });
    }
    template <class F>
    void visit_buffers(F&& f) {
        visit_buffers(std::string_view{}, std::forward<F>(f));
    }
    void zero_grad() {
        visit_parameters([](std::string_view, tensor_type&, tensor_type& g) { g.zero(); });
    }

    Net& net() noexcept { return net_; }
    template <std::size_t K>
    auto& aux_head() noexcept {
        return std::get<K>(heads_);
    }

private:
    void init_heads(std::uint64_t seed) {
        rng r(seed ^ 0xd5b1u);
        for_each_aux([&](auto k) { std::get<decltype(k)::value>(heads_).init(r); });
    }
    static std::string aux_names() {
        std::string s;
        for (int k = 0; k < aux_count; ++k) s += (k ? ", " : "") + taps::name(k);
        return s;
    }

    Net net_;
    aux_heads heads_;
    aux_ups ups_;
    bool inference_only_ = false;  // the last forward ran under inference_mode in eval mode
};

}  // namespace unetpp
