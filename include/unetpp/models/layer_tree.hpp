#pragma once
/// \file What every model built from a fixed tree of layers shares: the training/evaluation
/// mode, the parameter and buffer visitors (checkpoints, optimisers) and zero_grad, all derived
/// from one member of the model, `for_each_layer(f)`, which calls f(layer, name) for each of its
/// direct components in a fixed order. A component with an empty name is flattened into its
/// parent: its parameters keep their own names (e.g. a classifier head's fc1.weight).
///
/// Used as a CRTP base: `class unet : public layer_tree<unet<...>>`. Also the size check that
/// models with a "nearest valid sizes" rule report.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "../config/abi.hpp"
#include "../layers/layer.hpp"

namespace unetpp::inline UNETPP_ABI {

template <class Derived>
class layer_tree {
public:
    /// Training mode (batch statistics, dropout on) or evaluation mode.
    void train(bool on = true) {
        training_ = on;
        self().for_each_layer([&](auto& l, std::string_view) { l.train(on); });
    }
    void eval() { train(false); }
    [[nodiscard]] bool training() const noexcept { return training_; }

    /// Calls f(name, value, grad) for every trainable parameter, in a fixed order; names are
    /// prefixed with `prefix.` when a prefix is given (a model nested in a larger one). The tree
    /// is walked with a parameter_visitor_ref, so the walk is compiled once per model whatever f is.
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        walk_parameters<Derived>(prefix, f);
    }
    template <class F>
    void visit_parameters(F&& f) {
        walk_parameters<Derived>(std::string_view{}, f);
    }
    /// Calls f(name, value) for every non-trainable buffer (batch-norm statistics).
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        walk_buffers<Derived>(prefix, f);
    }
    template <class F>
    void visit_buffers(F&& f) {
        walk_buffers<Derived>(std::string_view{}, f);
    }
    void zero_grad() {
        visit_parameters([](std::string_view, auto&, auto& g) { g.zero(); });
    }
    /// Trainable scalars of this object (Derived::parameter_count where that is known at compile
    /// time; the only count for a network with runtime_channels).
    [[nodiscard]] std::size_t count_parameters() {
        std::size_t n = 0;
        visit_parameters([&](std::string_view, auto& v, auto&) { n += v.size(); });
        return n;
    }

protected:
    bool training_ = true;

private:
    // D is Derived, named as a template parameter so that its tensor_type is looked up only when
    // the walk is instantiated (Derived is incomplete where this base is defined).
    template <class D>
    void walk_parameters(std::string_view prefix, parameter_visitor_ref<typename D::tensor_type> f) {
        self().for_each_layer([&](auto& l, std::string_view name) { l.visit_parameters(child(prefix, name), f); });
    }
    template <class D>
    void walk_buffers(std::string_view prefix, buffer_visitor_ref<typename D::tensor_type> f) {
        self().for_each_layer([&](auto& l, std::string_view name) { l.visit_buffers(child(prefix, name), f); });
    }
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
    static std::string child(std::string_view prefix, std::string_view name) {
        return name.empty() ? std::string(prefix) : join_name(prefix, name);
    }
};

/// The size rules of a model whose output side follows from its input side alone (CRTP, like
/// layer_tree): which sides it takes and the nearest ones, from Derived::output_size(side), the
/// output side for an input side or nullopt. A model names them with using-declarations.
template <class Derived>
struct size_rules {
    static constexpr bool is_valid_size(int in) noexcept { return Derived::output_size(in).has_value(); }
    /// Smallest valid input side >= n (0 if none within 1<<16).
    static constexpr int next_valid_size(int n) noexcept {
        for (int s = n < 1 ? 1 : n; s <= (1 << 16); ++s)
            if (is_valid_size(s)) return s;
        return 0;
    }
    /// Largest valid input side <= n (0 if none).
    static constexpr int previous_valid_size(int n) noexcept {
        for (int s = n; s >= 1; --s)
            if (is_valid_size(s)) return s;
        return 0;
    }
};

namespace detail {

/// Throws shape_error unless `in` has `channels` channels, at least one image, and a height and
/// width that `Net::is_valid_size` accepts; the message names the nearest valid sizes and `rule`.
template <class Net>
void validate_input(const shape4& in, int channels, const std::string& rule) {
    if (in.c != channels)
        throw shape_error(Net::describe() + ": input has " + std::to_string(in.c) + " channels, the network expects " +
                          std::to_string(channels) + " (input shape " + in.str() + ")");
    if (in.n < 1) throw shape_error(Net::describe() + ": empty batch (input shape " + in.str() + ")");
    for (const auto& [dim, v] : {std::pair{"height", in.h}, std::pair{"width", in.w}}) {
        if (Net::is_valid_size(v)) continue;
        const int lo = Net::previous_valid_size(v), hi = Net::next_valid_size(v);
        std::string near;
        if (lo) near += std::to_string(lo);
        if (hi) near += (near.empty() ? "" : " or ") + std::to_string(hi);
        throw shape_error(Net::describe() + ": input " + dim + " " + std::to_string(v) +
                          " is not a size this network can take (" + rule + "); nearest valid sizes: " + near +
                          ". Resize, pad or tile the image.");
    }
}

}  // namespace detail
}  // namespace unetpp
