// The gradient exchange overlapped with backward (dist::overlapped_exchange), without MPI: every
// parameterised layer of every architecture reports its gradients final exactly once per backward
// pass (so every bucket can start during backward), and the overlapped exchange computes, bit for
// bit and message for message, what dist::allreduce_gradients computes after backward.
#include <doctest/doctest.h>

#include "../../support/error_of.hpp"

#include <algorithm>
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/dist/communicator.hpp>
#include <unetpp/dist/gradients.hpp>
#include <unetpp/dist/overlap.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;

namespace {

/// Records every gradient reported final, with how often.
class recording_listener final : public gradient_listener {
public:
    void gradient_final(const void* grad) override { ++count[grad]; }
    std::map<const void*, int> count;
};

tensor<float> ones(shape4 s) { return tensor<float>(s, 1.0f); }

tensor<float> input(shape4 s) {
    tensor<float> x(s);
    rng r(11);
    for (auto& v : x) v = static_cast<float>(r.uniform(-1, 1));
    return x;
}

/// One training forward and a backward with gradient 1 for every output of `net`.
template <class Net>
void forward_backward(Net& net, const tensor<float>& x) {
    net.train(true);
    net.zero_grad();
    const auto& out = net.forward(x);
    if constexpr (requires { out.segmentation; }) {
        net.backward(x, ones(out.segmentation.shape()), ones(out.classification.shape()));
    } else if constexpr (requires { out.aux; }) {
        std::vector<tensor<float>> daux;
        for (const auto& a : out.aux) daux.push_back(ones(a.shape()));
        net.backward(x, ones(out.main.shape()), daux);
    } else {
        net.backward(x, ones(out.shape()));
    }
}

/// Checks that a backward pass of `net` reports each of its gradient tensors final exactly once.
template <class Net>
void check_reports(const std::string& name, Net& net, shape4 in) {
    CAPTURE(name);
    const tensor<float> x = input(in);
    recording_listener rec;
    {
        gradient_listener_scope scope(&rec);
        forward_backward(net, x);
    }
    CHECK(gradient_listener_scope::current() == nullptr);  // the scope restored the previous (none)
    std::size_t gradients = 0;
    net.visit_parameters([&](std::string_view pname, auto&, auto& g) {
        ++gradients;
        const auto it = rec.count.find(g.data());
        CAPTURE(pname);
        CHECK(it != rec.count.end());
        if (it != rec.count.end()) CHECK(it->second == 1);
    });
    CHECK(gradients > 0);
    CHECK(rec.count.size() == gradients);  // nothing else was reported
}

/// W ranks in one process whose sum depends on where an element sits in its message: element i
/// of a call becomes w * v[i] + i. So two exchanges agree only if they cut the gradients into the
/// same messages and put every element back where it came from. Records each call's length.
class position_ranks final : public dist::communicator {
public:
    explicit position_ranks(int w) : w_(w) {}
    int rank() const noexcept override { return 0; }
    int size() const noexcept override { return w_; }
    void allreduce_sum(std::span<float> v) override {
        calls.push_back(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(w_) * v[i] + static_cast<float>(i);
    }
    void allreduce_sum(std::span<double> v) override {
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = w_ * v[i] + static_cast<double>(i);
    }
    void broadcast(std::span<float>, int) override {}
    void broadcast(std::span<double>, int) override {}
    void broadcast(std::span<std::byte>, int) override {}
    std::vector<double> allgather(std::span<const double> m) override { return {m.begin(), m.end()}; }
    std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> m) override { return {m.begin(), m.end()}; }
    void barrier() override {}
    std::vector<std::size_t> calls;

private:
    int w_;
};

template <class Net>
std::vector<float> grads_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { v.insert(v.end(), g.data(), g.data() + g.size()); });
    return v;
}

constexpr unet_cfg small_reflect{.in_channels = 2, .classes = 1, .base = 4, .depth = 2, .pad = padding::reflect};
constexpr unet_cfg small_dropout{.in_channels = 1, .classes = 1, .base = 4, .depth = 2, .dropout = 0.1};
constexpr classifier_cfg small_classifier{.in_channels = 1, .base = 4, .depth = 2, .hidden = 8};

}  // namespace

TEST_CASE("every parameterised layer of every architecture reports its gradients final once per backward") {
    presets::unet_bn<4, 2> bn(3);
    check_reports("unet_bn", bn, shape4{2, 1, 16, 16});
    presets::unet_cbr<4, 2> cbr(3);
    check_reports("unet_cbr", cbr, shape4{2, 1, 16, 16});
    unet<small_reflect, backend::cpu, float, attention_policies<>> attention(3);
    check_reports("attention", attention, shape4{1, 2, 16, 16});
    unet<small_dropout, backend::cpu, float, bcir_policies<>> bcir(3);
    check_reports("bcir", bcir, shape4{2, 1, 16, 16});
    multitask_unet<small_dropout, 16, 8> multitask(3);
    check_reports("multitask", multitask, shape4{2, 1, 16, 16});
    presets::unet_plusplus<4, 2> nested(3);
    check_reports("nested", nested, shape4{2, 1, 16, 16});
    presets::unet_plusplus_ds<4, 2> nested_ds(3);
    check_reports("nested_ds", nested_ds, shape4{2, 1, 16, 16});
    encoder_classifier<small_classifier> classifier(3);
    check_reports("classifier", classifier, shape4{2, 1, 16, 16});
}

TEST_CASE("overlapped_exchange: the messages and the gradients of allreduce_gradients, every bucket started in backward") {
    const tensor<float> x = input(shape4{2, 1, 16, 16});
    for (std::size_t bytes : {std::size_t{4}, std::size_t{100}, std::size_t{4096}, dist::default_bucket_bytes}) {
        for (const std::optional<double> weight : {std::optional<double>{}, std::optional<double>{0.25}}) {
            CAPTURE(bytes);
            CAPTURE(weight.value_or(-1));
            presets::unet_bn<4, 2> after(3), during(3);
            position_ranks ranks_after(3), ranks_during(3);

            forward_backward(after, x);
            dist::allreduce_gradients(after, ranks_after, bytes, weight);

            dist::overlapped_exchange<float> exchange(ranks_during, bytes);
            {
                const auto listening = exchange.begin(during, weight);
                forward_backward(during, x);
                // every bucket started during backward, as each layer reported its gradients
                CHECK(exchange.started_during_backward() == exchange.bucket_count());
                CHECK(ranks_during.calls.size() == exchange.bucket_count());
            }
            exchange.finish();
            CHECK(ranks_during.calls == ranks_after.calls);
            CHECK(grads_of(during) == grads_of(after));
        }
    }
}

TEST_CASE("overlapped_exchange: reused across steps, idle with one rank, refusals") {
    const tensor<float> x = input(shape4{2, 1, 16, 16});
    presets::unet_bn<4, 2> net(3);
    position_ranks two(2);
    dist::overlapped_exchange<float> exchange(two, 4096);
    for (int step = 0; step < 2; ++step) {  // the plan is kept; the second step sends as the first
        two.calls.clear();
        {
            const auto listening = exchange.begin(net);
            forward_backward(net, x);
        }
        exchange.finish();
        CHECK(two.calls.size() == exchange.bucket_count());
        CHECK(exchange.started_during_backward() == exchange.bucket_count());
    }

    // one rank, no local weight: no listener, the gradients as backward left them
    dist::world_of_one one;
    dist::overlapped_exchange<float> alone(one);
    forward_backward(net, x);
    const auto before = grads_of(net);
    {
        const auto listening = alone.begin(net);
        CHECK(gradient_listener_scope::current() == nullptr);
    }
    alone.finish();
    CHECK(grads_of(net) == before);

    // a gradient reported twice would have been sent half-summed
    const void* first_grad = nullptr;
    net.visit_parameters([&](std::string_view, auto&, auto& g) {
        if (!first_grad) first_grad = g.data();
    });
    {
        const auto listening = exchange.begin(net);
        exchange.gradient_final(first_grad);
        CHECK(test::contains(test::error_of<std::logic_error>([&] { exchange.gradient_final(first_grad); }),
                             "reported final twice"));
    }
    exchange.finish();  // the pass still completes: every rank must finish the same messages
    CHECK(test::contains(test::error_of<std::logic_error>([&] { exchange.finish(); }), "no pass was begun"));
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { dist::overlapped_exchange<float> bad(two, 2); }),
                         "holds no gradient element"));
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { (void)exchange.begin(net, 1.5); }), "local_weight"));
}
