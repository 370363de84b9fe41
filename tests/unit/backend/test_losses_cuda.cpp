// The losses on the GPU (label cuda; needs a GPU, exits 77 without one): losses::evaluate_on with
// backend::cuda against the host losses for every loss that runs on a backend, with and without
// per-pixel weights, value and gradient; and no cudaMalloc after a loss's first call.
// Tolerances: the value within 1e-6 relative (both sum in double, in other orders); the gradient
// within 1e-5 of its largest magnitude (the device's expf and log1pf may differ from the host's by
// an ulp or two, and nvcc fuses multiply-adds).

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/backend/cuda.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/tensor/rng.hpp>

#include "../../support/cuda_test.hpp"

using namespace unetpp;
using gpu = backend::cuda;

namespace {

template <class Loss>
void check_loss(const Loss& loss, shape4 s, const tensor<float>& target, const tensor<float>* weight) {
    CAPTURE(std::string(loss.name));
    CAPTURE(weight != nullptr);
    tensor<float> x(s);
    rng r(31);
    for (auto& v : x) v = static_cast<float>(r.normal() * 3.0);
    tensor<float> g_host;
    const double v_host = weight ? loss(x, target, *weight, &g_host) : loss(x, target, &g_host);
    tensor<float, memory::cuda_device> xd, gd;
    xd.assign(x);
    losses::backend_buffers<float, memory::cuda_device> buf;
    const double v_dev = losses::evaluate_on<gpu>(loss, xd, target, weight, &gd, buf);
    CHECK(std::abs(v_host - v_dev) <= 1e-6 * std::abs(v_host));
    CHECK(test::relative_gap(g_host, to_host(gd)) <= 1e-5);
}

}  // namespace

TEST_CASE("every loss that runs on a backend gives the host loss's value and gradient on the GPU") {
    if (test::no_cuda_device()) return;
    rng r(32);
    for (const shape4 bin : {shape4{1, 1, 5, 7}, shape4{3, 2, 45, 47}, shape4{4, 1, 64, 64}}) {
        CAPTURE(bin.str());
        const shape4 multi{bin.n, 3, bin.h, bin.w}, pixel{bin.n, 1, bin.h, bin.w};
        tensor<float> t_bin(bin), t_idx(pixel), w(pixel), w_full(bin);
        for (auto& v : t_bin) v = static_cast<float>(r.below(2));
        for (auto& v : t_idx) v = r.below(10) == 0 ? -100.0f : static_cast<float>(r.below(3));
        for (auto& v : w) v = r.below(4) == 0 ? 0.0f : static_cast<float>(r.uniform(0, 2));
        for (auto& v : w_full) v = static_cast<float>(r.uniform(0, 2));
        const tensor<float>* shared = bin.c == 1 ? &w_full : &w;
        const tensor<float>* full = &w_full;
        for (const tensor<float>* wb : {static_cast<const tensor<float>*>(nullptr), shared, full}) {
            check_loss(losses::bce_with_logits{}, bin, t_bin, wb);
            check_loss(losses::dice_loss{}, bin, t_bin, wb);
            check_loss(losses::dice_loss{.reduction = losses::region_reduction::per_image}, bin, t_bin, wb);
            check_loss(losses::iou_loss{}, bin, t_bin, wb);
            check_loss(losses::tversky_loss{}, bin, t_bin, wb);
            check_loss(losses::dice_bce{}, bin, t_bin, wb);
        }
        for (const tensor<float>* wm : {static_cast<const tensor<float>*>(nullptr), static_cast<const tensor<float>*>(&w)}) {
            check_loss(losses::cross_entropy{}, multi, t_idx, wm);
            check_loss(losses::cross_entropy{.class_weights = {0.5, 1.0, 2.0}}, multi, t_idx, wm);
            check_loss(losses::softmax_dice{}, multi, t_idx, wm);
            check_loss(losses::softmax_dice{.include_background = false,
                                            .reduction = losses::region_reduction::per_batch},
                       multi, t_idx, wm);
            check_loss(losses::dice_ce{}, multi, t_idx, wm);
        }
    }
}

TEST_CASE("the loss operations allocate nothing on the device after their first call") {
    if (test::no_cuda_device()) return;
    const shape4 s{2, 1, 33, 35};
    tensor<float> x(s), t(s);
    rng r(33);
    for (auto& v : x) v = static_cast<float>(r.normal());
    for (auto& v : t) v = static_cast<float>(r.below(2));
    tensor<float, memory::cuda_device> xd, gd;
    xd.assign(x);
    losses::backend_buffers<float, memory::cuda_device> buf;
    (void)losses::evaluate_on<gpu>(losses::dice_bce{}, xd, t, nullptr, &gd, buf);
    const auto before = memory::cuda_device::device_allocation_count();
    for (int i = 0; i < 3; ++i) (void)losses::evaluate_on<gpu>(losses::dice_bce{}, xd, t, nullptr, &gd, buf);
    CHECK(memory::cuda_device::device_allocation_count() == before);
}
