#pragma once
/// \file Ensembles: the (weighted) mean of the probabilities of several networks.
///
///   unetpp::infer::ensemble e;
///   e.add_net(net_a);                                  // any TileableNet, kept by reference
///   e.add_net(net_b, {.tile = 572}, 2.0);              // another type, its own tiling, weight 2
///   e.add([&](const tensor<float>& x) { return my_probabilities(x); });
///   auto p = e.predict(x);                             // p.prob = sum w_i p_i / sum w_i
///
/// Members may be networks of different types (padded and unpadded, different depths), as long
/// as they agree on the number of classes; each member returns probabilities on the image's own
/// grid (overlap tiling takes care of the sizes), so averaging is pixel by pixel. Probabilities,
/// not logits, are averaged: members trained with different losses or temperatures then
/// contribute on the same scale.
///
/// For a fixed set of callables known at compile time, `average_proba(x, f1, f2, ...)` does the
/// same without type erasure.

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "tiling.hpp"
#include "tta.hpp"

namespace unetpp::inline UNETPP_ABI::infer {

/// A predictor: image [N, C, H, W] -> probabilities [N, K, H, W].
using proba_fn = std::function<tensor<float>(const tensor<float>&)>;

/// Probabilities of a network by overlap tiling, as a proba_fn (the network is held by reference
/// and must outlive the function).
template <TileableNet Net>
proba_fn tiled_predictor(Net& net, tile_options opt = {}) {
    return [&net, opt](const tensor<float>& x) { return predict_proba_tiled(net, x, opt); };
}

/// TTA around any predictor, as a proba_fn.
inline proba_fn tta_predictor(proba_fn f, std::vector<dihedral> transforms = all_dihedral()) {
    return [f = std::move(f), t = std::move(transforms)](const tensor<float>& x) {
        return predict_tta(f, x, std::span<const dihedral>(t));
    };
}

namespace detail {
inline void accumulate(tensor<float>& sum, const tensor<float>& p, double w, std::size_t index,
                       const shape4& image) {
    const shape4 s = p.shape();
    if (s.n != image.n || s.h != image.h || s.w != image.w)
        throw std::invalid_argument("infer::ensemble: member " + std::to_string(index) + " returned " + s.str() +
                                    " for an image of shape " + image.str() + " (it must keep batch, height, width)");
    if (sum.empty()) {
        sum.resize(s);
        sum.zero();
    } else if (s != sum.shape()) {
        throw std::invalid_argument("infer::ensemble: member " + std::to_string(index) + " returned " + s.str() +
                                    " but member 0 returned " + sum.shape().str() +
                                    " (members must predict the same number of classes)");
    }
    const float fw = static_cast<float>(w);
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += fw * p[i];
}
}  // namespace detail

/// Type-erased ensemble of predictors with weights.
class ensemble {
public:
    /// Adds a predictor returning probabilities; weight must be positive.
    ensemble& add(proba_fn f, double weight = 1.0) {
        if (!f) throw std::invalid_argument("infer::ensemble: empty predictor");
        if (!(weight > 0.0))
            throw std::invalid_argument("infer::ensemble: weight " + std::to_string(weight) + " must be positive");
        members_.push_back({std::move(f), weight});
        return *this;
    }
    /// Adds a network (by reference) predicted by overlap tiling with its own options.
    template <TileableNet Net>
    ensemble& add_net(Net& net, tile_options opt = {}, double weight = 1.0) {
        return add(tiled_predictor(net, opt), weight);
    }

    [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
    [[nodiscard]] bool empty() const noexcept { return members_.empty(); }

    /// Weighted mean of the members' probabilities.
    [[nodiscard]] tensor<float> predict_proba(const tensor<float>& image) const {
        if (members_.empty()) throw std::invalid_argument("infer::ensemble: no members");
        tensor<float> sum;
        double total = 0;
        for (std::size_t i = 0; i < members_.size(); ++i) {
            detail::accumulate(sum, members_[i].f(image), members_[i].weight, i, image.shape());
            total += members_[i].weight;
        }
        const float inv = static_cast<float>(1.0 / total);
        for (float& v : sum) v *= inv;
        return sum;
    }
    tensor<float> operator()(const tensor<float>& image) const { return predict_proba(image); }

    /// Mean probabilities and their mask (make_mask with `threshold`).
    [[nodiscard]] prediction predict(const tensor<float>& image, float threshold = 0.5f) const {
        prediction p;
        p.prob = predict_proba(image);
        p.mask = make_mask(p.prob, threshold);
        return p;
    }

private:
    struct member {
        proba_fn f;
        double weight;
    };
    std::vector<member> members_;
};

/// Unweighted mean of the probabilities of a fixed set of predictors (no type erasure).
template <class... F>
    requires(sizeof...(F) >= 1 && (std::invocable<F&, const tensor<float>&> && ...))
tensor<float> average_proba(const tensor<float>& image, F&&... fns) {
    tensor<float> sum;
    std::size_t index = 0;
    (detail::accumulate(sum, tensor<float>(fns(image)), 1.0, index++, image.shape()), ...);
    const float inv = 1.0f / static_cast<float>(sizeof...(F));
    for (float& v : sum) v *= inv;
    return sum;
}

}  // namespace unetpp::infer
