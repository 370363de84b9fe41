#pragma once
/// \file Image classifiers built from the library's layers: `encoder_classifier` (a U-Net encoder
/// with a global-average-pooling and dense head, `outputs` logits per image: 1 for a binary
/// decision through a sigmoid, K >= 2 for K classes through a softmax) and
/// `hierarchical_classifier`, seed 001's two-stage scheme for breast ultrasound:
///
///   stage 1   normal vs abnormal            trained on every image (abnormal = positive)
///   stage 2   benign vs malignant           trained on the abnormal images only (malignant = positive)
///
/// encoder_classifier<cfg>, for cfg = {.in_channels, .base, .depth, .hidden, .outputs}:
///
///   level L = 0 .. depth-1:  double_conv (Conv k x k -> BN -> ReLU) x 2 to base * 2^L channels,
///                            then 2 x 2 max pooling            names enc{L+1}.conv1.*, .bn1.*, ...
///   head:                    global average pooling -> dense(base * 2^(depth-1) -> hidden) -> ReLU
///                            -> dense(hidden -> outputs)        names fc1.*, fc2.*
///
/// forward returns `heads::logits<T>` of shape [N, outputs, 1, 1] (train a single logit with
/// losses::bce_with_logits / weighted_bce, K logits with losses::cross_entropy on class indices
/// [N, 1, 1, 1]). Because of the global pooling the
/// dense layers do not depend on the image size; an input side must be a multiple of 2^depth (no
/// pooling may drop a row or column), which `validate` checks with the nearest valid sizes.
///
/// Combination rule of the hierarchy (the cascade of seed 001, section 2.2.3: classifier 2 only
/// sees what classifier 1 called abnormal). With p_a = sigmoid(stage-1 logit) the probability
/// of "abnormal" and p_m = sigmoid(stage-2 logit) the probability of "malignant given abnormal":
///
///   decision = normal      if p_a <  t_abnormal
///              malignant   if p_a >= t_abnormal and p_m >= t_malignant
///              benign      otherwise
///
/// and the matching soft 3-class probabilities (chain rule along the tree, they sum to 1):
///   P(normal) = 1 - p_a,   P(benign) = p_a (1 - p_m),   P(malignant) = p_a p_m.
/// With both thresholds at 0.5 the decision equals the arg-max of these probabilities except
/// when p_a >= 0.5 but P(normal) is still the largest (e.g. p_a = 0.55, p_m = 0.5: 0.45 vs
/// 0.275 vs 0.275); the cascade then answers benign, as the tree prescribes. Class ids:
/// `tri_class` (0 normal, 1 benign, 2 malignant).

#include <array>
#include <cmath>
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
#include "../backend/backend.hpp"
#include "../blocks/double_conv.hpp"
#include "../layers/activations.hpp"
#include "../layers/dense.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/reshape.hpp"
#include "../exec/workspace.hpp"
#include "../layers/sequential.hpp"
#include "../heads/heads.hpp"
#include "unet.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Configuration of an encoder_classifier (a structural aggregate, used as a template argument).
struct classifier_cfg {
    int in_channels = 1;  ///< image channels
    int base = 16;        ///< channels of the first level; level L has base * 2^L
    int depth = 4;        ///< encoder levels, each ending in a 2 x 2 max pooling
    int hidden = 64;      ///< units of the first dense layer
    int outputs = 1;      ///< logits per image (units of the last dense layer)
    int kernel = 3;       ///< convolution kernel (zero padding keeps the size)
    bool batch_norm = true;
    double dropout = 0.0;  ///< dropout after every level's double conv (0 = none)
};

template <classifier_cfg C, backend::backend_type B = backend::cpu, class T = float>
class encoder_classifier : public layer_tree<encoder_classifier<C, B, T>> {
    friend class layer_tree<encoder_classifier>;
    static_assert(C.in_channels >= 1, "classifier_cfg.in_channels must be at least 1");
    static_assert(C.base >= 1, "classifier_cfg.base (channels of the first level) must be at least 1");
    static_assert(C.depth >= 1 && C.depth <= 10, "classifier_cfg.depth must be in 1..10");
    static_assert(C.base <= (1 << 20) >> C.depth, "classifier_cfg.base * 2^depth channels is too large");
    static_assert(C.hidden >= 1, "classifier_cfg.hidden (units of fc1) must be at least 1");
    static_assert(C.outputs >= 1, "classifier_cfg.outputs (logits per image, units of fc2) must be at least 1");
    static_assert(C.kernel >= 1 && C.kernel % 2 == 1, "classifier_cfg.kernel must be odd (zero padding keeps the size)");
    static_assert(C.dropout >= 0.0 && C.dropout < 1.0, "classifier_cfg.dropout must be in [0, 1)");

public:
    static constexpr classifier_cfg config = C;
    /// The encoder's description in unet_cfg form, for the weight files (io::save_weights writes
    /// it as unetpp.config; `classes` is the number of logits).
    static constexpr unet_cfg cfg{.in_channels = C.in_channels, .classes = C.outputs, .base = C.base, .depth = C.depth,
                                  .kernel = C.kernel, .pad = padding::same,
                                  .norm = C.batch_norm ? norm_kind::batch : norm_kind::none, .dropout = C.dropout};
    static constexpr int channels(int level) noexcept { return C.base << level; }
    static constexpr int input_channels(int level) noexcept { return level == 0 ? C.in_channels : channels(level - 1); }
    /// Channels reaching the head (those of the last level).
    static constexpr int features = channels(C.depth - 1);

    template <std::size_t L>
    using encoder_t = double_conv<double_conv_cfg{.in = input_channels(static_cast<int>(L)),
                                                  .out = channels(static_cast<int>(L)), .kernel = C.kernel,
                                                  .pad = padding::same, .batch_norm = C.batch_norm,
                                                  .dropout = C.dropout},
                                  B, T>;
    using pool_t = max_pool2d<max_pool2d_cfg{.window = 2, .stride = 2}, B, T>;
    using head_t = sequential<named<"gap", global_avg_pool<B, T>>,
                              named<"fc1", dense<dense_cfg{.in = features, .out = C.hidden}, B, T>>,
                              named<"relu", relu<B, T>>, named<"fc2", dense<dense_cfg{.in = C.hidden, .out = C.outputs}, B, T>>>;

    using value_type = T;
    using backend_type = B;
    using tensor_type = typename head_t::tensor_type;

private:
    // Partially specialised structs, not functions with a trailing return type: nvcc 13 cannot
    // read that pack expansion there.
    template <class Seq>
    struct encoder_types;
    template <std::size_t... L>
    struct encoder_types<std::index_sequence<L...>> {
        using type = std::tuple<encoder_t<L>...>;
    };
    using encoders = typename encoder_types<std::make_index_sequence<C.depth>>::type;

    template <class Tuple>
    static constexpr std::size_t sum_over(bool buffers) {
        return [buffers]<class... X>(std::type_identity<std::tuple<X...>>) {
            return buffers ? (std::size_t{0} + ... + X::buffer_count) : (std::size_t{0} + ... + X::parameter_count);
        }(std::type_identity<Tuple>{});
    }

public:
    /// Trainable parameters (PyTorch's count) and batch-norm buffers (running mean and variance).
    static constexpr std::size_t parameter_count = sum_over<encoders>(false) + head_t::parameter_count;
    static constexpr std::size_t buffer_count = sum_over<encoders>(true);

    /// [N, outputs, 1, 1] for a valid input, nullopt otherwise (every map before a pooling must be even).
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.n < 1 || in.c != C.in_channels) return std::nullopt;
        std::optional<shape4> s = in;
        [&]<std::size_t... L>(std::index_sequence<L...>) {
            ((s = s ? encoder_t<L>::try_output_shape(*s) : std::nullopt,
              s = (s && s->h % 2 == 0 && s->w % 2 == 0) ? pool_t::try_output_shape(*s) : std::nullopt),
             ...);
        }(std::make_index_sequence<C.depth>{});
        return s ? head_t::try_output_shape(*s) : std::nullopt;
    }
    static constexpr bool is_valid_size(int n) noexcept {
        return n >= 1 && try_output_shape(shape4{1, C.in_channels, n, n}).has_value();
    }
    /// The valid sides are the multiples of 2^depth.
    static constexpr int size_multiple = 1 << C.depth;

    explicit encoder_classifier(std::uint64_t seed = 0) {
        init(seed);
        need_input_grad(false);
    }
    /// He-uniform weights, zero batch-norm shifts, all from `seed`.
    void init(std::uint64_t seed) {
        rng r(seed);
        for_each_layer([&](auto& l, std::string_view) { l.init(r); });
    }

    static void validate(const shape4& in) {
        if (in.c != C.in_channels)
            throw shape_error(describe() + ": input has " + std::to_string(in.c) + " channels, the classifier expects " +
                              std::to_string(C.in_channels) + " (input shape " + in.str() + ")");
        if (in.n < 1) throw shape_error(describe() + ": empty batch (input shape " + in.str() + ")");
        for (const auto& [dim, v] : {std::pair{"height", in.h}, std::pair{"width", in.w}}) {
            if (v < size_multiple || v % size_multiple != 0) {
                const int lo = v / size_multiple * size_multiple, hi = lo + size_multiple;
                throw shape_error(describe() + ": input " + dim + " " + std::to_string(v) + " is not a multiple of " +
                                  std::to_string(size_multiple) + " (2^depth); nearest valid sizes: " +
                                  (lo > 0 ? std::to_string(lo) + " or " : std::string{}) + std::to_string(hi) +
                                  ". Resize or pad the image.");
            }
        }
    }

    /// Forward pass; the logits [N, outputs, 1, 1] stay owned by the classifier until the next call.
    heads::logits<T, typename B::memory> forward(const tensor_type& x) {
        validate(x.shape());
        in_shape_ = x.shape();
        has_forward_ = true;
        // Under inference_mode (and in eval mode) every feature map dies once the next layer has
        // read it, so the encoders' outputs share one workspace slot and the poolings' another.
        lend_outputs_ = inference_mode::enabled() && !head_.training();
        const exec::bind_workspace<tensor_type> bind(ws_.get());
        return heads::logits<T, typename B::memory>(forward_from<0>(x));
    }

    /// Backward from dloss/dlogits ([N, outputs, 1, 1]) for the input `x` of the last forward. Adds
    /// the parameter gradients; returns dloss/dx when need_input_grad(true) was set.
    const tensor_type& backward(const tensor_type& x, const tensor_type& dlogits) {
        if (!has_forward_)
            throw std::logic_error(describe() + ": backward called before forward; run forward on the batch first");
        if (lend_outputs_)
            throw std::logic_error(describe() + ": backward after a forward run under unetpp::inference_mode, which "
                                   "keeps no intermediate results; run the forward pass again outside the "
                                   "inference_mode scope");
        if (x.shape() != in_shape_)
            throw shape_error(describe() + ": backward received input " + x.shape().str() + " but the last forward saw " +
                              in_shape_.str());
        if (dlogits.shape() != head_.output().shape())
            throw shape_error(describe() + ": logit gradient has shape " + dlogits.shape().str() + ", expected " +
                              head_.output().shape().str());
        const tensor_type& g = head_.backward(pool_[C.depth - 1].output(), dlogits);
        return backward_from<C.depth - 1>(x, g);
    }

    [[nodiscard]] heads::logits<T, typename B::memory> output() const noexcept {
        return heads::logits<T, typename B::memory>(head_.output());
    }

    void need_input_grad(bool on) { std::get<0>(enc_).need_input_grad(on); }

    /// The workspace whose slots the pass borrows for short-lived results (exec/workspace.hpp).
    exec::workspace<tensor_type>& workspace() noexcept { return ws_.get(); }
    /// Use `ws` instead of this network's own workspace (null: its own again), e.g. for the two
    /// stages of hierarchical_classifier, which run one after the other.
    void share_workspace(exec::workspace<tensor_type>* ws) noexcept { ws_.share(ws); }
    // train / eval / training, visit_parameters, visit_buffers and zero_grad: layer_tree, from
    // for_each_layer below (fc1 / fc2 keep their top-level names: the head has an empty name).

    static std::string describe() {
        return "encoder_classifier<in=" + std::to_string(C.in_channels) + ", base=" + std::to_string(C.base) +
               ", depth=" + std::to_string(C.depth) + ", hidden=" + std::to_string(C.hidden) +
               (C.outputs != 1 ? ", outputs=" + std::to_string(C.outputs) : std::string{}) +
               ", kernel=" + std::to_string(C.kernel) + (C.batch_norm ? ", bn" : "") + ">";
    }

    template <std::size_t L>
    auto& encoder() noexcept { return std::get<L>(enc_); }
    auto& head() noexcept { return head_; }

private:
    /// f(layer, name) in a fixed order: enc1, pool1, ..., enc{depth}, pool{depth}, then the head
    /// with an empty name (its layers are fc1 / fc2 at the top level).
    template <class F>
    void for_each_layer(F&& f) {
        [&]<std::size_t... L>(std::index_sequence<L...>) {
            ((f(std::get<L>(enc_), "enc" + std::to_string(L + 1)), f(pool_[L], "pool" + std::to_string(L + 1))),
             ...);
        }(std::make_index_sequence<C.depth>{});
        f(head_, std::string_view{});
    }

    template <std::size_t L>
    const tensor_type& forward_from(const tensor_type& in) {
        // Lent (inference_mode): the input is the image or the last pooling result (pool_up); the
        // encoder writes into `merged` with its intermediate results in `level_out`, then the
        // pooling overwrites `pool_up`, whose old content the encoder has consumed.
        exec::workspace<tensor_type>& ws = ws_.get();
        auto& enc = std::get<L>(enc_);
        const tensor_type& e = exec::lent_forward(lend_outputs_, ws, exec::slot::merged, enc, in.shape(), [&]() -> const tensor_type& {
            return exec::with_fused_slot(lend_outputs_, ws, exec::slot::level_out, in,
                                         [&]() -> const tensor_type& { return enc.forward(in); });
        });
        const tensor_type& p = exec::lent_forward(lend_outputs_, ws, exec::slot::pool_up, pool_[L], e.shape(),
                                                  [&]() -> const tensor_type& { return pool_[L].forward(e); });
        if constexpr (L + 1 < static_cast<std::size_t>(C.depth))
            return forward_from<L + 1>(p);
        else
            return head_.forward(p);
    }

    template <std::size_t L>
    const tensor_type& backward_from(const tensor_type& x, const tensor_type& g_pooled) {
        const tensor_type& ge = pool_[L].backward(std::get<L>(enc_).output(), g_pooled);
        if constexpr (L == 0) {
            return std::get<0>(enc_).backward(x, ge);
        } else {
            const tensor_type& gin = std::get<L>(enc_).backward(pool_[L - 1].output(), ge);
            return backward_from<L - 1>(x, gin);
        }
    }

    encoders enc_;
    std::array<pool_t, C.depth> pool_;
    head_t head_;
    exec::workspace_handle<tensor_type> ws_;  // slots lent to short-lived results (exec/workspace.hpp)
    shape4 in_shape_{0, 0, 0, 0};
    bool has_forward_ = false;
    bool lend_outputs_ = false;  // the last forward put its feature maps in workspace slots
};

// --- the hierarchy -------------------------------------------------------------------------------

/// Class ids of the 3-class decision.
enum class tri_class : int { normal = 0, benign = 1, malignant = 2 };
inline constexpr int tri_class_count = 3;
inline const char* tri_class_name(tri_class c) noexcept {
    switch (c) {
        case tri_class::normal: return "normal";
        case tri_class::benign: return "benign";
        case tri_class::malignant: return "malignant";
    }
    return "?";
}

/// Probability thresholds of the cascade (see the file comment).
struct hierarchy_thresholds {
    double abnormal = 0.5;   ///< stage 1: abnormal when p_a >= this
    double malignant = 0.5;  ///< stage 2: malignant when p_m >= this
};

/// The cascade's decision for one image from the two stage probabilities.
[[nodiscard]] inline tri_class combine_hierarchy(double p_abnormal, double p_malignant, hierarchy_thresholds t = {}) {
    if (std::isnan(p_abnormal) || std::isnan(p_malignant))
        throw std::invalid_argument("combine_hierarchy: a stage probability is NaN");
    if (p_abnormal < t.abnormal) return tri_class::normal;
    return p_malignant >= t.malignant ? tri_class::malignant : tri_class::benign;
}

/// Soft 3-class probabilities {P(normal), P(benign), P(malignant)} along the tree.
struct tri_probabilities {
    double normal = 0, benign = 0, malignant = 0;
};
[[nodiscard]] inline tri_probabilities hierarchy_probabilities(double p_abnormal, double p_malignant) noexcept {
    return {1.0 - p_abnormal, p_abnormal * (1.0 - p_malignant), p_abnormal * p_malignant};
}

/// The other way round: the stage probabilities a flat 3-class classifier's probabilities imply,
///   p_a = 1 - P(normal),   p_m = P(malignant) / (P(benign) + P(malignant))
/// (p_m = 0.5 where P(benign) + P(malignant) is 0), so that a flat classifier can be scored by
/// stage and decided by combine_hierarchy like the cascade. hierarchy_probabilities of the result
/// gives the input back wherever P(benign) + P(malignant) > 0.
struct hierarchy_stage_values {
    double abnormal = 0, malignant = 0;
};
[[nodiscard]] inline hierarchy_stage_values hierarchy_stages(const tri_probabilities& p) noexcept {
    const double abnormal = p.benign + p.malignant;
    return {1.0 - p.normal, abnormal > 0 ? p.malignant / abnormal : 0.5};
}

/// Decisions for a batch: element i of each [N, 1, 1, 1] probability tensor is image i. Takes
/// probabilities only (call heads::sigmoid on the logits first).
template <class T>
[[nodiscard]] std::vector<tri_class> combine_hierarchy(const heads::probabilities<T>& p_abnormal,
                                                       const heads::probabilities<T>& p_malignant,
                                                       hierarchy_thresholds t = {}) {
    if (p_abnormal.shape() != p_malignant.shape())
        throw shape_error("combine_hierarchy: stage 1 gives " + p_abnormal.shape().str() + " but stage 2 gives " +
                          p_malignant.shape().str() + "; both must hold one probability per image");
    std::vector<tri_class> out(p_abnormal.values().size());
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = combine_hierarchy(static_cast<double>(p_abnormal[i]), static_cast<double>(p_malignant[i]), t);
    return out;
}

/// Two encoder classifiers and the cascade. Each stage is trained on its own (stage1(),
/// stage2() are ordinary models for the optimisers and weight files); predict() runs both in
/// evaluation mode and combines them.
template <classifier_cfg C1, classifier_cfg C2 = C1, backend::backend_type B = backend::cpu, class T = float>
class hierarchical_classifier {
public:
    using stage1_t = encoder_classifier<C1, B, T>;  ///< normal (0) vs abnormal (1)
    using stage2_t = encoder_classifier<C2, B, T>;  ///< benign (0) vs malignant (1)
    using tensor_type = typename stage1_t::tensor_type;
    static_assert(C1.in_channels == C2.in_channels, "hierarchical_classifier: both stages must take the same images");
    static_assert(C1.outputs == 1 && C2.outputs == 1,
                  "hierarchical_classifier: each stage is a binary classifier with one logit (classifier_cfg.outputs = 1)");
    static constexpr std::size_t parameter_count = stage1_t::parameter_count + stage2_t::parameter_count;

    explicit hierarchical_classifier(std::uint64_t seed = 0, hierarchy_thresholds t = {})
        : s1_(seed), s2_(seed ^ 0x2ae5ull), thresholds_(t) {
        s2_.share_workspace(&s1_.workspace());  // the stages run one after the other
    }

    stage1_t& stage1() noexcept { return s1_; }
    stage2_t& stage2() noexcept { return s2_; }
    [[nodiscard]] hierarchy_thresholds thresholds() const noexcept { return thresholds_; }
    void set_thresholds(hierarchy_thresholds t) noexcept { thresholds_ = t; }

    /// Stage probabilities of a batch, both stages in evaluation mode (stage 2 runs on every
    /// image; the cascade ignores it where stage 1 says normal).
    struct stage_probabilities {
        heads::probabilities<T> abnormal, malignant;
    };
    stage_probabilities probabilities(const tensor_type& x) {
        s1_.eval();
        s2_.eval();
        auto pa = heads::sigmoid(s1_.forward(x));
        auto pm = heads::sigmoid(s2_.forward(x));
        return {std::move(pa), std::move(pm)};
    }
    /// 3-class decisions of a batch.
    std::vector<tri_class> predict(const tensor_type& x) {
        const auto p = probabilities(x);
        return combine_hierarchy(p.abnormal, p.malignant, thresholds_);
    }

    /// Parameters of both stages, prefixed stage1.* and stage2.*.
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        parameter_visitor_ref<tensor_type> ref(f);  // one walk per model, whatever f is (layer.hpp)
        s1_.visit_parameters(join_name(prefix, "stage1"), ref);
        s2_.visit_parameters(join_name(prefix, "stage2"), ref);
    }
    template <class F>
    void visit_parameters(F&& f) {
        visit_parameters(std::string_view{}, std::forward<F>(f));
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        buffer_visitor_ref<tensor_type> ref(f);
        s1_.visit_buffers(join_name(prefix, "stage1"), ref);
        s2_.visit_buffers(join_name(prefix, "stage2"), ref);
    }
    template <class F>
    void visit_buffers(F&& f) {
        visit_buffers(std::string_view{}, std::forward<F>(f));
    }

private:
    stage1_t s1_;
    stage2_t s2_;
    hierarchy_thresholds thresholds_;
};

}  // namespace unetpp
