#pragma once
/// \file Loss of a deeply supervised network (Lee et al. 2015, "Deeply-Supervised Nets", eq. 3:
/// the output objective plus companion objectives weighted by alpha_m; the weight-decay terms
/// and the hinge threshold gamma of that equation are left to the optimiser / not used):
///
///   total = w_0 L(main, target) + sum_{k=1..K} w_k L(aux_k, target)
///   d total / d main = w_0 dL/d main,   d total / d aux_k = w_k dL/d aux_k
///
/// over the outputs of deeply_supervised<Net>::forward (every map has the target's shape). L is
/// any losses::Loss (bce_with_logits, dice_bce, ...). `weights` lists w_0 (main) then w_1..w_K
/// in the order of the auxiliary outputs; empty means every weight 1. UNet++ (Zhou et al. 2018)
/// trains every head with the same loss and equal weights; the weights are a public field, so a
/// training loop may change them between steps (e.g. to fade the auxiliary terms out).
///
///   losses::deep_supervision<losses::dice_bce> ds{.weights = {1.0, 0.5, 0.25, 0.125}};
///   auto out = net.forward(x);
///   deep_supervision_gradients<float> g;
///   auto r = ds(out, mask, &g);        // r.total, r.main, r.aux[k]
///   net.backward(x, g);
///
/// A network on a device backend B: ds.on_backend<B>(out, mask, nullptr, &g, buffers), with the
/// outputs and gradients in B's memory (on_backend.hpp), when L runs on a backend.

#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../config/abi.hpp"
#include "../heads/outputs.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

template <class L>
struct deep_supervision {
    static_assert(Loss<L, float>, "losses::deep_supervision: L must satisfy losses::Loss (T l(logits, target, &grad))");
    static constexpr const char* name = "deep_supervision";

    L loss{};
    std::vector<double> weights{};  ///< w_0 (main), w_1..w_K (auxiliary); empty: all 1

    /// The weighted total and each output's unweighted loss.
    template <class T>
    struct result {
        T total{};
        T main{};
        std::vector<T> aux{};
    };

    /// Every output against the same target; *grads (if given) receives each output's
    /// d total / d logits, weights included (ready for deeply_supervised::backward).
    template <class T>
    result<T> operator()(const deep_supervision_outputs<T>& out, const tensor<T>& target,
                         deep_supervision_gradients<T>* grads = nullptr) const {
        return host(out, target, static_cast<const tensor<T>*>(nullptr), grads);
    }
    /// The same with per-pixel weights (a region of interest, see common.hpp) for every output;
    /// L must be a WeightedLoss.
    template <class T>
    result<T> operator()(const deep_supervision_outputs<T>& out, const tensor<T>& target, const tensor<T>& weight,
                         deep_supervision_gradients<T>* grads = nullptr) const {
        static_assert(WeightedLoss<L, T>, "losses::deep_supervision: L takes no pixel weights");
        return host(out, target, &weight, grads);
    }

    /// The outputs of a network on backend B's memory (on_backend.hpp): each output's term is L's
    /// own on_backend<B> (L must run on a backend: losses::BackendLoss), and the gradients,
    /// weights included, stay in B's memory. `target` and `weight` (may be null) are host tensors,
    /// checked and copied into buf once for all the outputs.
    template <class B, class T, class M = typename B::memory>
        requires BackendLoss<L, B, T>
    result<T> on_backend(const deep_supervision_outputs<T, M>& out, const tensor<T>& target,
                         std::type_identity_t<const tensor<T>*> weight,
                         std::type_identity_t<deep_supervision_gradients<T, M>*> grads, backend_buffers<T, M>& buf) const {
        std::optional<detail::second_term_scope<T, M>> copied;  // from the second output on, the inputs are on B
        return run<T, M>(
            out, grads,
            [&](const heads::logits<T, M>& z, tensor<T, M>* g) {
                const T v = loss.template on_backend<B>(z.values(), target, weight, g, buf);
                if (!copied) copied.emplace(buf);
                return v;
            },
            [](tensor<T, M>& g, T w) { detail::scale_grad<B>(g, w); });
    }

private:
    template <class T>
    result<T> host(const deep_supervision_outputs<T>& out, const tensor<T>& target, const tensor<T>* weight,
                   deep_supervision_gradients<T>* grads) const {
        return run<T, memory::host>(
            out, grads,
            [&](const heads::logits<T>& z, tensor<T>* g) -> T {
                if constexpr (WeightedLoss<L, T>)
                    return weight ? loss(z.values(), target, *weight, g) : loss(z.values(), target, g);
                else
                    return loss(z.values(), target, g);
            },
            [](tensor<T>& g, T w) {
                for (auto& e : g) e *= w;
            });
    }

    /// The weighted total over the outputs: term(z, g) is one output's loss (its gradient into g
    /// when g is not null), scale(g, w) multiplies a gradient by the output's weight.
    template <class T, class M, class Term, class Scale>
    result<T> run(const deep_supervision_outputs<T, M>& out, deep_supervision_gradients<T, M>* grads, Term&& term,
                  Scale&& scale) const {
        const std::size_t k = out.aux.size();
        if (!weights.empty() && weights.size() != k + 1)
            throw std::invalid_argument("losses::deep_supervision: " + std::to_string(weights.size()) +
                                        " weights for " + std::to_string(k + 1) + " outputs (the main logits and " +
                                        std::to_string(k) +
                                        " auxiliary maps); give one weight per output, main first, or none for "
                                        "equal weights");
        for (std::size_t i = 0; i < weights.size(); ++i)
            if (!std::isfinite(weights[i]) || weights[i] < 0)
                throw std::invalid_argument("losses::deep_supervision: weight " + std::to_string(i) + " is " +
                                            detail::number(weights[i]) + "; weights must be finite and >= 0");
        result<T> r;
        r.aux.resize(k);
        if (grads) grads->aux.resize(k);
        double total = 0;
        const auto one = [&](const heads::logits<T, M>& z, std::size_t i, tensor<T, M>* g) {
            const double w = weights.empty() ? 1.0 : weights[i];
            T v;
            try {
                v = term(z, g);
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument(std::string("losses::deep_supervision: ") + where(i) + ": " + e.what());
            } catch (const std::runtime_error& e) {
                throw std::runtime_error(std::string("losses::deep_supervision: ") + where(i) + ": " + e.what());
            }
            if (g) scale(*g, static_cast<T>(w));
            total += w * static_cast<double>(v);
            return v;
        };
        r.main = one(out.main, 0, grads ? &grads->main : nullptr);
        for (std::size_t i = 0; i < k; ++i) r.aux[i] = one(out.aux[i], i + 1, grads ? &grads->aux[i] : nullptr);
        r.total = static_cast<T>(total);
        return r;
    }

    static std::string where(std::size_t i) {
        return i == 0 ? std::string("main logits") : "auxiliary output " + std::to_string(i - 1);
    }
};

}  // namespace unetpp::losses
