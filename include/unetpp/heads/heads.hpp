#pragma once
/// \file Typed network outputs. A head's raw output is `heads::logits<T>`; `heads::sigmoid`
/// turns logits into `heads::probabilities<T>`; `heads::threshold` turns probabilities into a
/// 0/1 mask. The two classic mistakes do not compile:
///
///   heads::sigmoid(probabilities)   // sigmoid applied twice
///   heads::threshold(logits, 0.5)   // a 0.5 threshold on logits is a 0.62 probability threshold
///
/// Losses that work on logits (losses::bce_with_logits) take `logits.values()`.

#include <cmath>
#include <type_traits>

#include "../config/abi.hpp"
#include "../tensor/numeric.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::heads {

namespace detail {
template <class>
inline constexpr bool dependent_false = false;
}

/// Raw head output (pre-sigmoid scores). A view of a tensor owned by the network: valid until
/// the network's next forward pass.
template <class T, class Memory = memory::host>
class logits {
public:
    using value_type = T;
    using tensor_type = tensor<T, Memory>;
    explicit logits(const tensor_type& t) noexcept : t_(&t) {}
    [[nodiscard]] const tensor_type& values() const noexcept { return *t_; }
    [[nodiscard]] shape4 shape() const noexcept { return t_->shape(); }
    [[nodiscard]] T operator[](std::size_t i) const noexcept
        requires Memory::host_accessible
    {
        return (*t_)[i];
    }

private:
    const tensor_type* t_;
};

/// Values in [0, 1] (owns its storage).
template <class T>
class probabilities {
public:
    using value_type = T;
    explicit probabilities(tensor<T> t) noexcept : t_(std::move(t)) {}
    [[nodiscard]] const tensor<T>& values() const noexcept { return t_; }
    [[nodiscard]] shape4 shape() const noexcept { return t_.shape(); }
    [[nodiscard]] T operator[](std::size_t i) const noexcept { return t_[i]; }

private:
    tensor<T> t_;
};

/// Element-wise logistic function (numerically stable for large |x|).
template <class T>
probabilities<T> sigmoid(const logits<T>& z) {
    tensor<T> p(z.shape());
    const tensor<T>& v = z.values();
    for (std::size_t i = 0; i < v.size(); ++i) p[i] = numeric::stable_sigmoid(v[i]);
    return probabilities<T>(std::move(p));
}

template <class T>
probabilities<T> sigmoid(const probabilities<T>&) {
    static_assert(detail::dependent_false<T>,
                  "heads::sigmoid: the argument is already probabilities; sigmoid applies to logits only "
                  "(a second sigmoid squashes every probability into [0.5, 0.73])");
    return probabilities<T>(tensor<T>{});
}

/// 1 where p >= level, else 0. Only probabilities can be thresholded.
template <class T>
tensor<T> threshold(const probabilities<T>& p, double level = 0.5) {
    tensor<T> m(p.shape());
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = p[i] >= static_cast<T>(level) ? T(1) : T(0);
    return m;
}

template <class T>
tensor<T> threshold(const logits<T>&, double = 0.5) {
    static_assert(detail::dependent_false<T>,
                  "heads::threshold takes probabilities, not logits; call heads::sigmoid(logits) first "
                  "(a 0.5 threshold on logits means a probability of 0.62)");
    return tensor<T>{};
}

}  // namespace unetpp::heads
