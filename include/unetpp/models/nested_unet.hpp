#pragma once
/// \file UNet++ (Zhou, Rahman Siddiquee, Tajbakhsh & Liang 2018, "UNet++: A Nested U-Net
/// Architecture for Medical Image Segmentation", DLMIA): `nested_unet<unet_cfg{...}, B, T, P>`.
///
/// Nodes X^{i,j} for levels i = 0..depth and i + j <= depth (eq. 1 of the paper):
///
///   X^{i,0} = H(D(X^{i-1,0}))                                  (X^{0,0} = H(image))
///   X^{i,j} = H([X^{i,0}, X^{i,1}, ..., X^{i,j-1}, U(X^{i+1,j-1})])     for j >= 1
///
/// H is the policy's level block at base * 2^i channels (default: double_conv, Conv-BN-ReLU x 2;
/// the bottom node X^{depth,0} uses the policy's bottleneck when it defines one), D the down
/// policy (2x2 max pooling) and U the up policy (default: a 2x2 stride-2 transposed convolution
/// from base * 2^(i+1) to base * 2^i channels, one per node, as in the paper's implementation;
/// up_mode::bilinear gives bilinear x2 + 1x1 conv). [.] concatenates along channels in the
/// order of the equation, so X^{i,j} takes (j + 1) * base * 2^i channels. The head (1x1 conv to
/// `classes`) reads X^{0,depth}. The backbone X^{i,0} plus the nodes X^{i,depth-i} form the
/// plain U-Net; the nodes in between are the nested dense skip pathways.
///
/// Why a class of its own: unet's skip slot merges exactly two maps (the encoder output and one
/// upsampled map) per level, while X^{i,j} merges j + 1 maps and the intermediate nodes have
/// no place among unet's slots. nested_unet reuses the same policy struct for its block, down,
/// up and head slots (the skip slot is not used), so a UNet++ with residual blocks is
/// `nested_unet<cfg, B, T, my_policies>`.
///
/// Evaluation order: anti-diagonals s = i + j = 0..depth, and j = 0..s within one (X^{0,0},
/// X^{1,0}, X^{0,1}, X^{2,0}, X^{1,1}, X^{0,2}, ...); every input of a node comes before it.
/// Backward runs the same order reversed and accumulates each node's output gradient from all
/// of its readers (the next nodes of its row, the up-sampling into the row above, the pooling
/// into the row below, the head).
///
/// Parameter names (state_dict keys of tools/unetpp_torch.py's NestedUNet), i and j as in the
/// paper (0-based): x{i}_{j}.* (the blocks, e.g. x0_0.conv1.weight, x1_2.bn2.running_var),
/// up{i}_{j}.* (the up-sampling that feeds X^{i,j}), head.*.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../config/abi.hpp"
#include "unet.hpp"

namespace unetpp::inline UNETPP_ABI {

namespace detail {
/// Position of node X^{i,j} in nested_unet's evaluation order: diagonal s = i + j, then j.
constexpr int nested_index(int i, int j) noexcept {
    const int s = i + j;
    return s * (s + 1) / 2 + j;
}
constexpr int nested_diagonal(int n) noexcept {
    int s = 0;
    while ((s + 1) * (s + 2) / 2 <= n) ++s;
    return s;
}
/// j of the node at position n.
constexpr int nested_col(int n) noexcept {
    const int s = nested_diagonal(n);
    return n - s * (s + 1) / 2;
}
/// i of the node at position n.
constexpr int nested_row(int n) noexcept { return nested_diagonal(n) - nested_col(n); }

/// The up slot of a backbone node X^{i,0}, which has no up-sampled input.
struct nested_no_up {
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    void train(bool) noexcept {}
    void init(rng&) noexcept {}
    template <class F>
    void visit_parameters(std::string_view, F&&) {}
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
};
}  // namespace detail

template <unet_cfg C, backend::backend_type B = backend::cpu, class T = float, class P = default_policies>
class nested_unet : public layer_tree<nested_unet<C, B, T, P>>, public size_rules<nested_unet<C, B, T, P>> {
    friend class layer_tree<nested_unet>;
    static_assert(B::available, "nested_unet: this backend is not available in this build (for backend::cuda: "
                                "configure with -DUNETPP_WITH_CUDA=ON, which needs the CUDA Toolkit and cuDNN, "
                                "and link unetpp::cuda)");
    static_assert(C.depth >= 1, "nested_unet (UNet++): unet_cfg.depth (Depth of presets::unet_plusplus) must be at "
                                "least 1: the nested skips need one down-sampling level");
    static_assert(C.depth <= 10, "nested_unet (UNet++): unet_cfg.depth (Depth of presets::unet_plusplus) above 10 is "
                                 "not supported (inputs would need multiples of 2^depth > 1024 pixels)");
    static_assert(C.base >= 1, "nested_unet (UNet++): unet_cfg.base (Base of presets::unet_plusplus, the channels "
                               "of level 0) must be at least 1");
    static_assert(C.base < 1 || C.depth < 1 || C.depth > 10 || C.base <= (1 << 20) >> C.depth,
                  "nested_unet (UNet++): unet_cfg.base * 2^depth channels (Base * 2^Depth) is too large");
    static_assert(C.in_channels >= 1,
                  "nested_unet (UNet++): unet_cfg.in_channels (InChannels of presets::unet_plusplus) must be at least 1");
    static_assert(C.classes >= 1,
                  "nested_unet (UNet++): unet_cfg.classes (Classes of presets::unet_plusplus) must be at least 1");
    static_assert(C.pad != padding::valid,
                  "nested_unet (UNet++): unet_cfg.pad must be padding::same or padding::reflect; every node joins "
                  "maps of one size, which unpadded convolutions do not keep");
    static_assert(C.kernel >= 1 && C.kernel % 2 == 1, "nested_unet (UNet++): unet_cfg.kernel must be odd and positive");
    static_assert(C.dropout >= 0.0 && C.dropout < 1.0, "nested_unet (UNet++): unet_cfg.dropout must be in [0, 1)");

    // Clamped copies, so that an invalid cfg stops at the assertions above instead of also
    // producing errors from the types below.
    static constexpr int D = C.depth < 1 ? 1 : (C.depth > 10 ? 10 : C.depth);
    static constexpr int base_ = C.base < 1 ? 1 : (C.base > ((1 << 20) >> D) ? ((1 << 20) >> D) : C.base);

public:
    static constexpr unet_cfg cfg = C;
    static constexpr int depth = D;
    /// Nodes X^{i,j} with i + j <= depth: (depth + 1)(depth + 2) / 2.
    static constexpr int node_count = (D + 1) * (D + 2) / 2;
    /// Channels of every node at level i.
    static constexpr int channels(int level) noexcept { return base_ << level; }
    /// Position of X^{i,j} in evaluation order, and back.
    static constexpr int index(int i, int j) noexcept { return detail::nested_index(i, j); }
    static constexpr int row(int n) noexcept { return detail::nested_row(n); }
    static constexpr int col(int n) noexcept { return detail::nested_col(n); }
    /// Input channels of X^{i,j}: the image, the pooled node above, or j + 1 concatenated maps.
    static constexpr int node_in_channels(int i, int j) noexcept {
        return j > 0 ? (j + 1) * channels(i) : (i == 0 ? C.in_channels : channels(i - 1));
    }

    template <std::size_t N>
    using node_t = std::conditional_t<
        row(N) == D,
        typename detail::bottleneck_policy<P, C, channels(D - 1), channels(D), B, T>::type,
        typename P::template block<C, node_in_channels(row(N), col(N)), channels(row(N)), B, T>>;
    template <std::size_t N>
    using up_t = std::conditional_t<col(N) == 0, detail::nested_no_up,
                                    typename P::template up<C, channels(row(N) + 1), channels(row(N)), B, T>>;
    template <std::size_t I>
    using down_t = typename P::template down<C, channels(I), B, T>;
    using head_t = typename P::template head<C, channels(0), B, T>;

    using value_type = T;
    using backend_type = B;
    using tensor_type = typename head_t::tensor_type;

    // The policy slots: what each template of P gives must model the concept of its slot, as in
    // unet (X^{0,1} and the bottleneck X^{depth,0} stand for every node).
    static_assert(Layer<node_t<static_cast<std::size_t>(index(0, 1))>> &&
                      Layer<node_t<static_cast<std::size_t>(index(D, 0))>>,
                  "nested_unet: the block policy (P::block, or P::bottleneck) must give a type that models "
                  "unetpp::Layer (layers/layer.hpp lists what a layer provides)");
    static_assert(Layer<down_t<0>>, "nested_unet: the down policy (P::down) must give a type that models unetpp::Layer");
    static_assert(Layer<up_t<static_cast<std::size_t>(index(0, 1))>>,
                  "nested_unet: the up policy (P::up) must give a type that models unetpp::Layer");
    static_assert(Layer<head_t>, "nested_unet: the head policy (P::head) must give a type that models unetpp::Layer");

private:
    template <class X>
    static constexpr bool takes(int c) noexcept {
        return detail::in_channels_of<X>() == any_channels || detail::in_channels_of<X>() == c;
    }
    template <class X>
    static constexpr bool gives(int c) noexcept {
        return detail::out_channels_of<X>() == any_channels || detail::out_channels_of<X>() == c;
    }
    /// Channel bookkeeping of node N; a failing assertion's context names N (see row/col).
    template <std::size_t N>
    struct node_check {
        static_assert(takes<node_t<N>>(node_in_channels(row(N), col(N))),
                      "nested_unet: the block policy at node X^{i,j} does not take its input channels "
                      "((j + 1) * base * 2^i for j >= 1)");
        static_assert(gives<node_t<N>>(channels(row(N))),
                      "nested_unet: the block policy at node X^{i,j} does not produce base * 2^i channels");
        static_assert(col(N) == 0 || (takes<up_t<N>>(channels(row(N) + 1)) && gives<up_t<N>>(channels(row(N)))),
                      "nested_unet: the up policy must map base * 2^(i+1) channels to base * 2^i");
        static constexpr bool ok = true;
    };
    static constexpr bool nodes_checked = []<std::size_t... N>(std::index_sequence<N...>) {
        return (node_check<N>::ok && ...);
    }(std::make_index_sequence<node_count>{});
    static_assert(nodes_checked);
    static_assert(takes<head_t>(channels(0)) && gives<head_t>(C.classes),
                  "nested_unet: the head policy must map base channels to cfg.classes");

    // Partially specialised structs, not functions with a trailing return type: nvcc 13 cannot
    // read that pack expansion there.
    template <class Seq>
    struct node_types;
    template <std::size_t... N>
    struct node_types<std::index_sequence<N...>> {
        using nodes = std::tuple<node_t<N>...>;
        using ups = std::tuple<up_t<N>...>;
    };
    template <class Seq>
    struct down_types;
    template <std::size_t... I>
    struct down_types<std::index_sequence<I...>> {
        using type = std::tuple<down_t<I>...>;
    };
    using nodes = typename node_types<std::make_index_sequence<node_count>>::nodes;
    using ups = typename node_types<std::make_index_sequence<node_count>>::ups;
    using downs = typename down_types<std::make_index_sequence<D>>::type;

    template <class Tuple>
    static constexpr std::size_t sum_parameters() {
        return []<class... X>(std::type_identity<std::tuple<X...>>) {
            return (std::size_t{0} + ... + X::parameter_count);
        }(std::type_identity<Tuple>{});
    }
    template <class Tuple>
    static constexpr std::size_t sum_buffers() {
        return []<class... X>(std::type_identity<std::tuple<X...>>) {
            return (std::size_t{0} + ... + X::buffer_count);
        }(std::type_identity<Tuple>{});
    }

public:
    /// Trainable parameters (PyTorch's sum(p.numel() for p in model.parameters())):
    /// sum over nodes of H's parameters + one up-sampling per node with j >= 1 + the head.
    static constexpr std::size_t parameter_count = sum_parameters<nodes>() + sum_parameters<ups>() +
                                                   sum_parameters<downs>() + head_t::parameter_count;
    /// Non-trainable state (batch-norm running means and variances).
    static constexpr std::size_t buffer_count =
        sum_buffers<nodes>() + sum_buffers<ups>() + sum_buffers<downs>() + head_t::buffer_count;

private:
    using shapes = std::array<shape4, static_cast<std::size_t>(node_count)>;
    /// Shape of node N from the shapes of the nodes before it; false when impossible.
    template <std::size_t N>
    static constexpr bool node_shape(shape4 in, shapes& s) noexcept {
        constexpr int i = row(N), j = col(N);
        std::optional<shape4> x;
        if constexpr (j == 0) {
            if constexpr (i == 0) {
                x = std::optional<shape4>(in);
            } else {
                const shape4 e = s[index(i - 1, 0)];
                // Pooling must not drop a row or column, or the up-sampled maps misalign.
                if (e.h % 2 != 0 || e.w % 2 != 0) return false;
                x = down_t<i - 1>::try_output_shape(e);
            }
        } else {
            const auto u = up_t<N>::try_output_shape(s[index(i + 1, j - 1)]);
            const shape4 a = s[index(i, 0)];
            if (!u || u->c != channels(i) || u->n != a.n || u->h != a.h || u->w != a.w) return false;
            for (int k = 1; k < j; ++k)
                if (s[index(i, k)] != a) return false;
            x = std::optional<shape4>(shape4{a.n, (j + 1) * channels(i), a.h, a.w});
        }
        if (!x) return false;
        const auto y = node_t<N>::try_output_shape(*x);
        if (!y) return false;
        s[N] = *y;
        return true;
    }

public:
    /// Output shape for an input shape, or nullopt when the network cannot take it.
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.c != C.in_channels || in.n < 1) return std::nullopt;
        shapes s{};
        const bool ok = [&]<std::size_t... N>(std::index_sequence<N...>) {
            return (node_shape<N>(in, s) && ...);
        }(std::make_index_sequence<node_count>{});
        return ok ? head_t::try_output_shape(s[index(0, D)]) : std::nullopt;
    }
    /// Output side for a square input of side `in` (the axes are independent), nullopt if invalid.
    static constexpr std::optional<int> output_size(int in) noexcept {
        if (in < 1) return std::nullopt;
        const auto s = try_output_shape(shape4{1, C.in_channels, in, in});
        return s ? std::optional<int>(s->h) : std::nullopt;
    }
    using size_rules<nested_unet>::is_valid_size;  // output_size(in) has a value
    using size_rules<nested_unet>::next_valid_size;
    using size_rules<nested_unet>::previous_valid_size;
    static constexpr int min_input_size = next_valid_size(1);

    /// Builds the network with parameters initialised from `seed` (He-uniform weights, zero BN
    /// shifts, as unet).
    explicit nested_unet(std::uint64_t seed = 0) {
        init(seed);
        need_input_grad(false);
    }
    void init(std::uint64_t seed) {
        rng r(seed);
        for_each_layer([&](auto& l, std::string_view) { l.init(r); });
    }

    /// Forward pass; returns the logits [N, classes, H, W] (owned by the network).
    const tensor_type& forward(const tensor_type& x) {
        validate(x.shape());
        in_shape_ = x.shape();
        has_forward_ = true;
        // Under inference_mode (and in eval mode, so that no backward can follow) the pooling and
        // up-sampling results and the concatenations go to workspace slots; the nodes keep theirs.
        lend_outputs_ = inference_mode::enabled() && !head_.training();
        const exec::bind_workspace<tensor_type> bind(ws_.get());
        [&]<std::size_t... N>(std::index_sequence<N...>) {
            (forward_node<N>(x), ...);
        }(std::make_index_sequence<node_count>{});
        return head_.forward(node<0, D>().output());
    }

    /// Backward for the input of the last forward and dL/dlogits; adds the parameter gradients
    /// and returns dL/dx when need_input_grad(true) was set (otherwise an empty tensor).
    const tensor_type& backward(const tensor_type& x, const tensor_type& dlogits) {
        static constexpr std::array<const tensor_type*, D + 1> none{};
        return backward(x, dlogits, none);
    }

    /// Backward with extra gradients for the top-row nodes (the hook deeply_supervised uses):
    /// top_grads[j], when not null, is dL/d(output of X^{0,j}) from readers other than the
    /// network (auxiliary heads) and is added to the gradient the network itself sends there.
    const tensor_type& backward(const tensor_type& x, const tensor_type& dlogits,
                                const std::array<const tensor_type*, D + 1>& top_grads) {
        if (!has_forward_)
            throw std::logic_error("nested_unet: backward called before forward; run forward on the batch first");
        if (lend_outputs_)
            throw std::logic_error("nested_unet: backward after a forward run under unetpp::inference_mode, which keeps "
                                   "no intermediate results; run the forward pass again outside the inference_mode scope");
        if (x.shape() != in_shape_)
            throw shape_error("nested_unet: backward received input " + x.shape().str() +
                              " but the last forward saw " + in_shape_.str());
        if (dlogits.shape() != head_.output().shape())
            throw shape_error("nested_unet: logit gradient has shape " + dlogits.shape().str() + ", expected " +
                              head_.output().shape().str());
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            (check_top_grad(top_grads[J], node<0, static_cast<int>(J)>().output(), J), ...);
        }(std::make_index_sequence<D + 1>{});
        has_grad_.fill(false);
        add_grad(index(0, D), head_.backward(node<0, D>().output(), dlogits));
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            ((top_grads[J] ? add_grad(index(0, static_cast<int>(J)), *top_grads[J]) : void()), ...);
        }(std::make_index_sequence<D + 1>{});
        const tensor_type* dx = nullptr;
        [&]<std::size_t... R>(std::index_sequence<R...>) {
            (backward_node<node_count - 1 - R>(x, dx), ...);
        }(std::make_index_sequence<node_count>{});
        return *dx;
    }

    [[nodiscard]] const tensor_type& output() const noexcept { return head_.output(); }

    /// The workspace whose slots the pass borrows for short-lived results (exec/workspace.hpp).
    exec::workspace<tensor_type>& workspace() noexcept { return ws_.get(); }
    /// Use `ws` instead of this network's own workspace (null: its own again); see unet.
    void share_workspace(exec::workspace<tensor_type>* ws) noexcept { ws_.share(ws); }

    /// Whether backward computes the gradient with respect to the input image (off by default).
    void need_input_grad(bool on) {
        input_grad_ = on;
        if constexpr (requires { node<0, 0>().need_input_grad(on); }) node<0, 0>().need_input_grad(on);
    }
    [[nodiscard]] bool needs_input_grad() const noexcept { return input_grad_; }

    // train / eval / training, visit_parameters, visit_buffers and zero_grad: layer_tree, from
    // for_each_layer below.

    /// Throws shape_error unless the network can take `in`, listing the nearest valid sizes.
    static void validate(const shape4& in) {
        detail::validate_input<nested_unet>(in, C.in_channels,
                                            "padded nested U-Net of depth " + std::to_string(D) + ": multiples of " +
                                                std::to_string(1 << D));
    }

    static std::string describe() {
        return "nested_unet<in=" + std::to_string(C.in_channels) + ", classes=" + std::to_string(C.classes) +
               ", base=" + std::to_string(C.base) + ", depth=" + std::to_string(C.depth) +
               ", kernel=" + std::to_string(C.kernel) + ", " +
               (C.pad == padding::same ? "zero-padded" : "reflect-padded") + ">";
    }

    /// Node X^{I,J} (its output() is the node's feature map after a forward).
    template <int I, int J>
    auto& node() noexcept {
        static_assert(I >= 0 && J >= 0 && I + J <= D, "nested_unet::node<I, J>: needs I, J >= 0 and I + J <= depth");
        return std::get<index(I, J)>(nodes_);
    }
    template <int I, int J>
    auto& up() noexcept {
        static_assert(I >= 0 && J >= 1 && I + J <= D, "nested_unet::up<I, J>: needs J >= 1 and I + J <= depth");
        return std::get<index(I, J)>(ups_);
    }
    auto& head() noexcept { return head_; }

    /// Calls f(layer, name) for every component in evaluation order (up{i}_{j} before x{i}_{j};
    /// pool{i} before x{i}_0), then the head.
    template <class F>
    void for_each_layer(F&& f) {
        [&]<std::size_t... N>(std::index_sequence<N...>) {
            (visit_node<N>(f), ...);
        }(std::make_index_sequence<node_count>{});
        f(head_, "head");
    }

private:
    static std::string node_name(const char* kind, int i, int j) {
        return kind + std::to_string(i) + "_" + std::to_string(j);
    }

    template <std::size_t N, class F>
    void visit_node(F& f) {
        constexpr int i = row(N), j = col(N);
        if constexpr (j == 0 && i > 0) f(std::get<i - 1>(downs_), "pool" + std::to_string(i));
        if constexpr (j > 0) f(std::get<N>(ups_), node_name("up", i, j));
        f(std::get<N>(nodes_), node_name("x", i, j));
    }

    // Under inference_mode a node's input that dies with the node goes to a workspace slot: the
    // pooled map (pool_up), the up-sampled map (pool_up, dead once concatenated) and the
    // concatenation (merged). The block's own intermediate results borrow the slot that is dead
    // while it runs (merged for X^{i,0}, pool_up for the others).
    template <std::size_t N>
    void forward_node(const tensor_type& x) {
        constexpr int i = row(N), j = col(N);
        auto& blk = std::get<N>(nodes_);
        exec::workspace<tensor_type>& ws = ws_.get();
        const auto run_block = [&](exec::slot dead, const tensor_type& in) {
            exec::with_fused_slot(lend_outputs_, ws, dead, in, [&]() -> const tensor_type& { return blk.forward(in); });
        };
        if constexpr (j == 0) {
            if constexpr (i == 0) {
                run_block(exec::slot::merged, x);
            } else {
                auto& pool = std::get<i - 1>(downs_);
                const tensor_type& above = node<i - 1, 0>().output();
                run_block(exec::slot::merged,
                          exec::lent_forward(lend_outputs_, ws, exec::slot::pool_up, pool, above.shape(),
                                             [&]() -> const tensor_type& { return pool.forward(above); }));
            }
        } else {
            constexpr int c = channels(i), total = (j + 1) * channels(i);
            auto& upl = std::get<N>(ups_);
            const tensor_type& below = node<i + 1, j - 1>().output();
            const tensor_type& u = exec::lent_forward(lend_outputs_, ws, exec::slot::pool_up, upl, below.shape(),
                                                      [&]() -> const tensor_type& { return upl.forward(below); });
            const shape4 s = u.shape();
            auto& cat = lend_outputs_ ? ws[exec::slot::merged] : cat_[N];
            cat.resize(shape4{s.n, total, s.h, s.w});
            // [X^{i,0}, ..., X^{i,j-1}, U(X^{i+1,j-1})] along channels.
            [&]<std::size_t... K>(std::index_sequence<K...>) {
                (B::copy_window_to_channels(node<i, static_cast<int>(K)>().output().data(), s.n, c, s.h, s.w, 0, 0,
                                            s.h, s.w, cat.data(), total, static_cast<int>(K) * c),
                 ...);
            }(std::make_index_sequence<j>{});
            B::copy_window_to_channels(u.data(), s.n, c, s.h, s.w, 0, 0, s.h, s.w, cat.data(), total, j * c);
            run_block(exec::slot::pool_up, cat);
        }
    }

    template <std::size_t N>
    void backward_node(const tensor_type& x, const tensor_type*& dx) {
        constexpr int i = row(N), j = col(N);
        auto& blk = std::get<N>(nodes_);
        if (!has_grad_[N]) {  // every node reaches the head, but keep the buffer defined regardless
            grad_[N].resize(blk.output().shape());
            grad_[N].zero();
            has_grad_[N] = true;
        }
        if constexpr (j == 0) {
            if constexpr (i == 0) {
                dx = &blk.backward(x, grad_[N]);
            } else {
                auto& pool = std::get<i - 1>(downs_);
                const tensor_type& gin = blk.backward(pool.output(), grad_[N]);
                add_grad(index(i - 1, 0), pool.backward(node<i - 1, 0>().output(), gin));
            }
        } else {
            constexpr int c = channels(i), total = (j + 1) * channels(i);
            const tensor_type& gin = blk.backward(cat_[N], grad_[N]);
            for (int k = 0; k < j; ++k) add_slice(index(i, k), gin, total, k * c, c);
            const shape4 s = gin.shape();
            slice_.resize(shape4{s.n, c, s.h, s.w});
            B::copy_channels_to_window(gin.data(), total, j * c, s.n, c, s.h, s.w, 0, 0, s.h, s.w, slice_.data());
            add_grad(index(i + 1, j - 1), std::get<N>(ups_).backward(node<i + 1, j - 1>().output(), slice_));
        }
    }

    static void check_top_grad(const tensor_type* g, const tensor_type& out, std::size_t j) {
        if (g && g->shape() != out.shape())
            throw shape_error("nested_unet: the extra gradient for x0_" + std::to_string(j) + " has shape " +
                              g->shape().str() + ", expected that node's output shape " + out.shape().str());
    }

    /// grad_[m] += g (the first contribution is copied).
    void add_grad(int m, const tensor_type& g) {
        auto& dst = grad_[static_cast<std::size_t>(m)];
        const shape4 s = g.shape();
        if (!has_grad_[static_cast<std::size_t>(m)]) {
            dst.resize(s);
            B::copy_window_to_channels(g.data(), s.n, s.c, s.h, s.w, 0, 0, s.h, s.w, dst.data(), s.c, 0);
            has_grad_[static_cast<std::size_t>(m)] = true;
        } else {
            B::accumulate(g.data(), dst.data(), static_cast<std::ptrdiff_t>(dst.size()));
        }
    }
    /// grad_[m] += channels [offset, offset + c) of g (which has `total` channels).
    void add_slice(int m, const tensor_type& g, int total, int offset, int c) {
        const shape4 s = g.shape();
        const shape4 part{s.n, c, s.h, s.w};
        auto& dst = grad_[static_cast<std::size_t>(m)];
        if (!has_grad_[static_cast<std::size_t>(m)]) {
            dst.resize(part);
            B::copy_channels_to_window(g.data(), total, offset, s.n, c, s.h, s.w, 0, 0, s.h, s.w, dst.data());
            has_grad_[static_cast<std::size_t>(m)] = true;
        } else {
            slice_.resize(part);
            B::copy_channels_to_window(g.data(), total, offset, s.n, c, s.h, s.w, 0, 0, s.h, s.w, slice_.data());
            B::accumulate(slice_.data(), dst.data(), static_cast<std::ptrdiff_t>(dst.size()));
        }
    }

    nodes nodes_;
    ups ups_;
    downs downs_;
    head_t head_;
    std::array<tensor_type, static_cast<std::size_t>(node_count)> cat_;   // inputs of X^{i,j}, j >= 1
    std::array<tensor_type, static_cast<std::size_t>(node_count)> grad_;  // dL/d(output of X^{i,j})
    std::array<bool, static_cast<std::size_t>(node_count)> has_grad_{};
    tensor_type slice_;
    exec::workspace_handle<tensor_type> ws_;  // slots lent to short-lived results (exec/workspace.hpp)
    shape4 in_shape_{0, 0, 0, 0};
    bool has_forward_ = false;
    bool lend_outputs_ = false;  // the last forward put short-lived results in workspace slots
    bool input_grad_ = false;
};

}  // namespace unetpp
