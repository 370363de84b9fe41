#pragma once
/// \file Compound losses (seed 004 section 4.4, "combination of different loss functions") and
/// joint losses over several network heads (seed 002's multi-task U-Net: a segmentation head and
/// a classification head, "both outputs have defined loss functions").
///
///   weighted_sum  sum_k w_k L_k(logits, target) on one output; gradient sum_k w_k dL_k/dlogits.
///                   losses::weighted_sum loss{losses::term{0.5, losses::dice_loss{}},
///                                             losses::term{0.5, losses::bce_with_logits{}}};
///                 It satisfies the Loss concept, so it nests and can be a head of a joint loss.
///   joint_loss    total = sum_h w_h L_h(logits_h, target_h) over heads with their own outputs,
///                 e.g. {segmentation map, classification score}; returns the total, each head's
///                 (unweighted) value, and writes each head's gradient d total / d logits_h
///                 (weighted by w_h, ready for that head's backward).

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// One weighted term of a weighted_sum (aggregate: `term{0.5, dice_loss{}}`).
template <class L>
struct term {
    double weight = 1.0;
    L loss{};
};
template <class L>
term(double, L) -> term<L>;

/// Values of a compound loss: the weighted total and each term's unweighted value.
template <class T, std::size_t K>
struct loss_parts {
    T total{};
    std::array<T, K> values{};
};

template <class... Ls>
struct weighted_sum {
    static_assert(sizeof...(Ls) >= 1, "weighted_sum needs at least one term");
    static constexpr const char* name = "weighted_sum";
    std::tuple<term<Ls>...> terms;

    weighted_sum(term<Ls>... ts) : terms(std::move(ts)...) {}

    /// Total and per-term values; *grad (if given) receives the weighted sum of the gradients.
    template <class T>
    loss_parts<T, sizeof...(Ls)> parts(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        return parts_impl(logits, target, static_cast<const tensor<T>*>(nullptr), grad);
    }
    /// The same with per-pixel weights passed to every term (each must be a WeightedLoss).
    template <class T>
    loss_parts<T, sizeof...(Ls)> parts(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                                       tensor<T>* grad = nullptr) const {
        return parts_impl(logits, target, &weight, grad);
    }

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        return parts(logits, target, grad).total;
    }
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        return parts(logits, target, weight, grad).total;
    }

private:
    template <class T>
    loss_parts<T, sizeof...(Ls)> parts_impl(const tensor<T>& logits, const tensor<T>& target, const tensor<T>* weight,
                                            tensor<T>* grad) const {
        loss_parts<T, sizeof...(Ls)> out;
        double total = 0;
        tensor<T> g;
        bool first = true;
        std::size_t k = 0;
        auto one = [&](const auto& tm) {
            if (!std::isfinite(tm.weight))
                throw std::invalid_argument(std::string(name) + ": term " + std::to_string(k) + " (" +
                                            std::string(tm.loss.name) + ") has a non-finite weight");
            T v;
            if (!weight) {
                v = tm.loss(logits, target, grad ? &g : nullptr);
            } else if constexpr (WeightedLoss<decltype(tm.loss), T>) {
                v = tm.loss(logits, target, *weight, grad ? &g : nullptr);
            } else {
                throw std::invalid_argument(std::string(name) + ": term " + std::to_string(k) + " (" +
                                            std::string(tm.loss.name) + ") takes no pixel weights");
            }
            out.values[k++] = v;
            total += tm.weight * static_cast<double>(v);
            if (grad) {
                const T w = static_cast<T>(tm.weight);
                if (first) {
                    grad->resize(g.shape());
                    for (std::size_t i = 0; i < g.size(); ++i) (*grad)[i] = w * g[i];
                } else {
                    for (std::size_t i = 0; i < g.size(); ++i) (*grad)[i] += w * g[i];
                }
            }
            first = false;
        };
        std::apply([&](const auto&... tms) { (one(tms), ...); }, terms);
        out.total = static_cast<T>(total);
        return out;
    }
};
template <class... Ls>
weighted_sum(term<Ls>...) -> weighted_sum<Ls...>;

/// One head of a joint loss: a name for logs, its weight, its loss.
template <class L>
struct head {
    std::string name;
    double weight = 1.0;
    L loss{};
};
template <class L>
head(std::string, double, L) -> head<L>;
template <class L>
head(const char*, double, L) -> head<L>;

/// Result of a joint loss: weighted total and each head's unweighted value.
template <class T, std::size_t K>
struct joint_result {
    T total{};
    std::array<T, K> values{};
    std::array<std::string, K> names{};
};

template <class... Ls>
struct joint_loss {
    static_assert(sizeof...(Ls) >= 1, "joint_loss needs at least one head");
    static constexpr std::size_t heads_count = sizeof...(Ls);
    std::tuple<head<Ls>...> heads;

    joint_loss(head<Ls>... hs) : heads(std::move(hs)...) {}

    /// logits[h], targets[h]: head h's output and target; grads[h] (may be null) receives
    /// d total / d logits[h] = w_h dL_h / d logits[h]. Braced lists give T = float:
    ///   auto r = joint({&seg_logits, &cls_logits}, {&seg_mask, &cls_label}, {&seg_grad, &cls_grad});
    /// for double, pass std::array<const tensor<double>*, K> objects (or call operator()<double>).
    template <class T = float>
    joint_result<T, sizeof...(Ls)> operator()(const std::array<const tensor<T>*, sizeof...(Ls)>& logits,
                                              const std::array<const tensor<T>*, sizeof...(Ls)>& targets,
                                              const std::array<tensor<T>*, sizeof...(Ls)>& grads = {}) const {
        joint_result<T, sizeof...(Ls)> out;
        double total = 0;
        std::size_t k = 0;
        auto one = [&](const auto& h) {
            if (!logits[k] || !targets[k])
                throw std::invalid_argument("joint_loss: head " + std::to_string(k) + " (" + h.name +
                                            ") has no logits or no target");
            if (!std::isfinite(h.weight))
                throw std::invalid_argument("joint_loss: head " + h.name + " has a non-finite weight");
            T v;
            try {
                v = h.loss(*logits[k], *targets[k], grads[k]);
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument("joint_loss: head " + h.name + ": " + e.what());
            } catch (const std::runtime_error& e) {
                throw std::runtime_error("joint_loss: head " + h.name + ": " + e.what());
            }
            if (grads[k]) {
                const T w = static_cast<T>(h.weight);
                for (auto& g : *grads[k]) g *= w;
            }
            out.values[k] = v;
            out.names[k] = h.name;
            total += h.weight * static_cast<double>(v);
            ++k;
        };
        std::apply([&](const auto&... hs) { (one(hs), ...); }, heads);
        out.total = static_cast<T>(total);
        return out;
    }
};
template <class... Ls>
joint_loss(head<Ls>...) -> joint_loss<Ls...>;

}  // namespace unetpp::losses
