// The losses on the GPU (label cuda; needs a GPU, exits 77 without one): losses::evaluate_on with
// backend::cuda against the host losses for every loss that runs on a backend, with and without
// per-pixel weights, value and gradient; deep supervision and the multi-task loss on GPU outputs;
// and no cudaMalloc after a loss's first call.
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
            check_loss(losses::weighted_bce{.pos_weight = 2.5}, bin, t_bin, wb);
            check_loss(losses::balanced_bce{}, bin, t_bin, wb);
            check_loss(losses::focal_loss{}, bin, t_bin, wb);
            check_loss(losses::focal_loss{.alpha = -1.0, .gamma = 0.5}, bin, t_bin, wb);
            check_loss(losses::focal_loss{.form = losses::focal_form::on_mean_bce}, bin, t_bin, wb);
            check_loss(losses::mae{}, bin, t_bin, wb);
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

TEST_CASE("deep supervision and the multi-task loss on GPU outputs give the host losses' values and gradients") {
    if (test::no_cuda_device()) return;
    rng r(34);
    const shape4 s{2, 1, 33, 35};
    tensor<float> main(s), aux(s), cls(shape4{2, 1, 1, 1}), t(s), label(shape4{2, 1, 1, 1});
    for (auto* x : {&main, &aux, &cls})
        for (auto& v : *x) v = static_cast<float>(r.normal() * 2.0);
    for (auto& v : t) v = static_cast<float>(r.below(2));
    label[1] = 1.0f;
    tensor<float, memory::cuda_device> main_d, aux_d, cls_d;
    main_d.assign(main);
    aux_d.assign(aux);
    cls_d.assign(cls);
    const losses::deep_supervision<losses::dice_bce> ds{.weights = {1.0, 0.5}};
    deep_supervision_gradients<float> g;
    deep_supervision_gradients<float, memory::cuda_device> g_d;
    losses::backend_buffers<float, memory::cuda_device> buf;
    const auto host = ds(deep_supervision_outputs<float>{heads::logits<float>(main), {heads::logits<float>(aux)}}, t, &g);
    const auto dev = ds.on_backend<gpu>(
        deep_supervision_outputs<float, memory::cuda_device>{heads::logits<float, memory::cuda_device>(main_d),
                                                             {heads::logits<float, memory::cuda_device>(aux_d)}},
        t, nullptr, &g_d, buf);
    CHECK(std::abs(host.total - dev.total) <= 1e-6 * std::abs(host.total));
    CHECK(test::relative_gap(g.main, to_host(g_d.main)) <= 1e-5);
    CHECK(test::relative_gap(g.aux[0], to_host(g_d.aux[0])) <= 1e-5);
    const losses::multitask mt{.classification_weight = 0.5, .classification_pos_weight = 2.0};
    tensor<float> dseg, dcls;
    tensor<float, memory::cuda_device> dseg_d, dcls_d;
    losses::multitask_buffers<float, memory::cuda_device> mbuf;
    const auto mh = mt(multitask_outputs<float>{heads::logits<float>(main), heads::logits<float>(cls)}, t, label, &dseg,
                       &dcls);
    const auto md = mt.on_backend<gpu>(multitask_outputs<float, memory::cuda_device>{
                                           heads::logits<float, memory::cuda_device>(main_d),
                                           heads::logits<float, memory::cuda_device>(cls_d)},
                                       t, label, &dseg_d, &dcls_d, mbuf);
    CHECK(std::abs(mh.total - md.total) <= 1e-6 * std::abs(mh.total));
    CHECK(test::relative_gap(dseg, to_host(dseg_d)) <= 1e-5);
    CHECK(test::relative_gap(dcls, to_host(dcls_d)) <= 1e-5);
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
