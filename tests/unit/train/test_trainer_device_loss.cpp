// The losses on a device backend's memory (losses/on_backend.hpp), on the fake device of
// tests/support/fake_device.hpp (its operations are backend::cpu's, its memory is not the host's):
//   - the trainer trains a step of a device network with each loss that runs on a backend and
//     ends with the weights and loss of the same network trained on backend::cpu, bit for bit,
//     without copying anything to the host (no validation, no checkpoints: the step reads back
//     the loss value only); with a host-only loss the logits are copied as before;
//   - losses::evaluate_on with per-pixel weights gives the host loss's value and gradient, bit for
//     bit, for every loss that runs on a backend, copying the target and the weights to the device
//     once per call (the combined losses included);
//   - so do deep supervision (three outputs, one copy of the inputs) and the multi-task loss on
//     device outputs.

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/train.hpp>
#include <unetpp/unet.hpp>

#include "../../support/fake_device.hpp"

using namespace unetpp;
using fake = test::fake_device_backend<>;

namespace {

bool bit_equal(const tensor<float>& a, const tensor<float>& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
    return true;
}

struct step_result {
    std::vector<tensor<float>> weights;
    double train_loss = 0;
    std::size_t downloads = 0;  // fake device to host copies during fit
};

/// One epoch of one batch of 4 synthetic images (masks 0/1, or class indices for classes > 2).
template <class Net, class Loss>
step_result train_one_step(const Loss& loss, int classes) {
    data::synthetic_dataset ds{4, {.size = 16, .seed = 5, .classes = classes}};
    data::loader<data::synthetic_dataset> train{ds, {.batch_size = 4, .seed = 9}, {0, 1, 2, 3}};
    Net net(1);
    optim::adam opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, loss,
                     {.epochs = 1, .monitor = "train_loss", .clip_norm = 1.0, .seed = 3,
                      .progress = train::progress_mode::silent});
    step_result r;
    const auto before = test::fake_device_memory::stats().downloads;
    const auto fit = t.fit(train, static_cast<data::loader<data::synthetic_dataset>*>(nullptr));
    r.downloads = test::fake_device_memory::stats().downloads - before;
    REQUIRE(fit.history.size() == 1);
    r.train_loss = fit.history[0].train_loss;
    net.visit_parameters([&](std::string_view, auto& v, auto&) { r.weights.push_back(to_host(v)); });
    return r;
}

template <int Out, class Loss>
void check_trains_on_device(const Loss& loss, int classes, bool on_device) {
    CAPTURE(std::string(loss.name));
    const step_result cpu = train_one_step<presets::unet_bn<4, 2, 1, Out>>(loss, classes);
    const step_result dev = train_one_step<presets::unet_bn<4, 2, 1, Out, fake>>(loss, classes);
    CHECK(cpu.train_loss == dev.train_loss);
    REQUIRE(cpu.weights.size() == dev.weights.size());
    for (std::size_t i = 0; i < cpu.weights.size(); ++i) CHECK(bit_equal(cpu.weights[i], dev.weights[i]));
    if (on_device)
        CHECK(dev.downloads == 0);  // the logits stayed on the device; only the loss value came back
    else
        CHECK(dev.downloads > 0);  // a host-only loss reads copied logits
}

/// A loss with no backend version (bce_with_logits's host form only): the trainer copies the logits.
struct host_only_bce {
    static constexpr const char* name = "host_only_bce";
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        return losses::bce_with_logits{}(logits, target, grad);
    }
};
static_assert(!losses::BackendLoss<host_only_bce, fake>);

}  // namespace

TEST_CASE("a device network trains a step with each device loss as on backend::cpu, without copying its logits") {
    check_trains_on_device<1>(losses::bce_with_logits{}, 2, true);
    check_trains_on_device<1>(losses::dice_loss{}, 2, true);
    check_trains_on_device<1>(losses::iou_loss{.reduction = losses::region_reduction::per_image}, 2, true);
    check_trains_on_device<1>(losses::tversky_loss{}, 2, true);
    check_trains_on_device<1>(losses::dice_bce{}, 2, true);
    check_trains_on_device<3>(losses::cross_entropy{.class_weights = {0.5, 1.0, 2.0}}, 3, true);
    check_trains_on_device<3>(losses::softmax_dice{}, 3, true);
    check_trains_on_device<3>(losses::dice_ce{.include_background = false}, 3, true);
    check_trains_on_device<1>(losses::weighted_bce{.pos_weight = 3.0}, 2, true);
    check_trains_on_device<1>(losses::balanced_bce{}, 2, true);
    check_trains_on_device<1>(losses::focal_loss{}, 2, true);
    check_trains_on_device<1>(losses::focal_loss{.form = losses::focal_form::on_mean_bce}, 2, true);
    check_trains_on_device<1>(losses::mae{}, 2, true);
    check_trains_on_device<1>(host_only_bce{}, 2, false);  // host only: the logits are copied
}

namespace {

// uploads: the host-to-device copies one call makes: the target and the weights once each (the
// combined losses' second terms read the first's copies), and the class weights where there are.
template <class Loss>
void check_weighted(const Loss& loss, shape4 s, const tensor<float>& target, const tensor<float>& weight,
                    std::size_t uploads = 2) {
    CAPTURE(std::string(loss.name));
    tensor<float> x(s);
    rng r(21);
    for (auto& v : x) v = static_cast<float>(r.normal() * 2.0);
    tensor<float> g_host;
    const float v_host = loss(x, target, weight, &g_host);
    tensor<float, fake::memory> xd, gd;
    xd.assign(x);
    losses::backend_buffers<float, fake::memory> buf;
    const auto before = test::fake_device_memory::stats().uploads;
    const float v_dev = losses::evaluate_on<fake>(loss, xd, target, &weight, &gd, buf);
    CHECK(test::fake_device_memory::stats().uploads - before == uploads);
    CHECK_FALSE(buf.inputs_copied);
    CHECK(std::memcmp(&v_host, &v_dev, sizeof v_dev) == 0);
    CHECK(bit_equal(g_host, to_host(gd)));
    const float v_plain = losses::evaluate_on<fake>(loss, xd, target, nullptr, nullptr, buf);  // value only
    CHECK(v_plain == loss(x, target));
}

}  // namespace

TEST_CASE("losses::evaluate_on with per-pixel weights: the host loss's value and gradient, bit for bit") {
    rng r(22);
    const shape4 bin{3, 1, 7, 9}, multi{3, 3, 7, 9}, pixel{3, 1, 7, 9};
    tensor<float> t_bin(bin), t_idx(pixel), w(pixel);
    for (auto& v : t_bin) v = static_cast<float>(r.below(2));
    for (auto& v : t_idx) v = r.below(8) == 0 ? -100.0f : static_cast<float>(r.below(3));
    for (auto& v : w) v = r.below(4) == 0 ? 0.0f : static_cast<float>(r.uniform(0, 2));
    check_weighted(losses::bce_with_logits{}, bin, t_bin, w);
    check_weighted(losses::dice_loss{.reduction = losses::region_reduction::per_image}, bin, t_bin, w);
    check_weighted(losses::iou_loss{}, bin, t_bin, w);
    check_weighted(losses::tversky_loss{.alpha = 0.4, .beta = 0.6}, bin, t_bin, w);
    check_weighted(losses::dice_bce{.dice_weight = 0.5}, bin, t_bin, w);
    check_weighted(losses::cross_entropy{.class_weights = {1.0, 0.3, 2.5}}, multi, t_idx, w, 3);
    check_weighted(losses::softmax_dice{.include_background = false}, multi, t_idx, w);
    check_weighted(losses::dice_ce{.ce_weight = 0.7}, multi, t_idx, w);
    check_weighted(losses::weighted_bce{.pos_weight = 2.0}, bin, t_bin, w);
    check_weighted(losses::balanced_bce{}, bin, t_bin, w);
    check_weighted(losses::focal_loss{.alpha = 0.25, .gamma = 1.5}, bin, t_bin, w);
    check_weighted(losses::focal_loss{.form = losses::focal_form::on_mean_bce}, bin, t_bin, w);
    check_weighted(losses::mae{}, bin, t_bin, w);
}

TEST_CASE("deep supervision and the multi-task loss on device outputs: the host losses' values and gradients, bit for bit") {
    rng r(23);
    const shape4 s{3, 1, 7, 9};
    tensor<float> main(s), aux0(s), aux1(s), cls(shape4{3, 1, 1, 1}), t(s), w(s), label(shape4{3, 1, 1, 1});
    for (auto* x : {&main, &aux0, &aux1, &cls})
        for (auto& v : *x) v = static_cast<float>(r.normal() * 2.0);
    for (auto& v : t) v = static_cast<float>(r.below(2));
    for (auto& v : w) v = r.below(4) == 0 ? 0.0f : static_cast<float>(r.uniform(0, 2));
    label[0] = 1.0f;
    label[2] = 1.0f;
    tensor<float, fake::memory> main_d, aux0_d, aux1_d, cls_d;
    main_d.assign(main);
    aux0_d.assign(aux0);
    aux1_d.assign(aux1);
    cls_d.assign(cls);

    // deep supervision: one copy of the target and the weights for all three outputs
    const losses::deep_supervision<losses::dice_bce> ds{.weights = {1.0, 0.5, 0.25}};
    const deep_supervision_outputs<float> out{heads::logits<float>(main), {heads::logits<float>(aux0), heads::logits<float>(aux1)}};
    const deep_supervision_outputs<float, fake::memory> out_d{
        heads::logits<float, fake::memory>(main_d),
        {heads::logits<float, fake::memory>(aux0_d), heads::logits<float, fake::memory>(aux1_d)}};
    deep_supervision_gradients<float> g;
    deep_supervision_gradients<float, fake::memory> g_d;
    losses::backend_buffers<float, fake::memory> buf;
    const auto host = ds(out, t, w, &g);
    auto before = test::fake_device_memory::stats().uploads;
    const auto dev = ds.on_backend<fake>(out_d, t, &w, &g_d, buf);
    CHECK(test::fake_device_memory::stats().uploads - before == 2);
    CHECK_FALSE(buf.inputs_copied);
    CHECK(std::memcmp(&host.total, &dev.total, sizeof host.total) == 0);
    REQUIRE(g_d.aux.size() == 2);
    CHECK(bit_equal(g.main, to_host(g_d.main)));
    CHECK(bit_equal(g.aux[0], to_host(g_d.aux[0])));
    CHECK(bit_equal(g.aux[1], to_host(g_d.aux[1])));
    CHECK(ds.on_backend<fake>(out_d, t, nullptr, nullptr, buf).total == ds(out, t).total);

    // multi-task: Dice + BCE on the masks, weighted BCE on the labels
    const losses::multitask mt{.segmentation_weight = 1.0, .classification_weight = 0.4,
                               .segmentation = losses::multitask::segmentation_term::dice_bce,
                               .classification_pos_weight = 2.0};
    const multitask_outputs<float> mo{heads::logits<float>(main), heads::logits<float>(cls)};
    const multitask_outputs<float, fake::memory> mo_d{heads::logits<float, fake::memory>(main_d),
                                                      heads::logits<float, fake::memory>(cls_d)};
    tensor<float> dseg, dcls;
    tensor<float, fake::memory> dseg_d, dcls_d;
    losses::multitask_buffers<float, fake::memory> mbuf;
    const auto mh = mt(mo, t, label, &dseg, &dcls);
    before = test::fake_device_memory::stats().uploads;
    const auto md = mt.on_backend<fake>(mo_d, t, label, &dseg_d, &dcls_d, mbuf);
    CHECK(test::fake_device_memory::stats().uploads - before == 2);  // the masks and the labels
    CHECK(std::memcmp(&mh.total, &md.total, sizeof mh.total) == 0);
    CHECK(mh.segmentation == md.segmentation);
    CHECK(mh.classification == md.classification);
    CHECK(bit_equal(dseg, to_host(dseg_d)));
    CHECK(bit_equal(dcls, to_host(dcls_d)));
}

TEST_CASE("losses::evaluate_on checks the host inputs as the host loss does") {
    tensor<float, fake::memory> x;
    x.assign(tensor<float>(shape4{1, 1, 3, 3}));
    tensor<float> bad(shape4{1, 1, 3, 3});
    bad[4] = 2.0f;
    losses::backend_buffers<float, fake::memory> buf;
    CHECK_THROWS_WITH_AS(losses::evaluate_on<fake>(losses::dice_bce{}, x, bad, nullptr, nullptr, buf),
                         doctest::Contains("is outside [0, 1]"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(losses::evaluate_on<fake>(losses::cross_entropy{}, x, bad, nullptr, nullptr, buf),
                         doctest::Contains("have one channel"), std::invalid_argument);
    const tensor<float> wrong(shape4{1, 1, 3, 4});
    CHECK_THROWS_WITH_AS(losses::evaluate_on<fake>(losses::bce_with_logits{}, x, wrong, nullptr, nullptr, buf),
                         doctest::Contains("differ in shape"), std::invalid_argument);
}
