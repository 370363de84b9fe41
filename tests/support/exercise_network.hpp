#pragma once
// One training step, a save/load round trip and an inference pass of a network on any backend,
// with what they left behind copied to the host: the body of the device-backend tests
// (tests/unit/models/test_fake_device.cpp, tests/unit/models/test_presets_cuda.cpp), which
// instantiate it for every preset. Named (not anonymous): the tests instantiate it explicitly.
// Test support only; not installed.

#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

#include <unetpp/infer.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/unet.hpp>

namespace network_exercise {

using namespace unetpp;

/// What a training step and a save/load round trip left behind, copied to the host.
struct step_record {
    tensor<float> train_output, infer_output, tiled;  // tiled: overlap-tile probabilities, where tileable
    std::vector<tensor<float>> parameters, gradients, buffers;
};

template <class Out>
const auto& main_logits(const Out& out) {
    if constexpr (requires { out.segmentation; })
        return out.segmentation.values();
    else if constexpr (requires { out.main; })
        return out.main.values();
    else if constexpr (requires { out.values(); })
        return out.values();
    else
        return out;
}

template <class Tensor>
Tensor ones_like(const shape4& s) {
    Tensor t;
    t.assign(tensor<float>(s, 0.25f));
    return t;
}

/// One training step of `net` on x (gradient 0.25 everywhere for every output), then a save and
/// load of its weights and an inference pass.
template <class Net>
step_record exercise(Net& net, const tensor<float>& x_host, const std::filesystem::path& file) {
    using tensor_type = typename Net::tensor_type;
    tensor_type x;
    x.assign(x_host);
    step_record r;

    net.train(true);
    net.zero_grad();
    const auto out = net.forward(x);
    r.train_output = to_host(main_logits(out));
    if constexpr (requires { out.segmentation; }) {
        net.backward(x, ones_like<tensor_type>(out.segmentation.shape()),
                     ones_like<tensor_type>(out.classification.shape()));
    } else if constexpr (requires { out.aux; }) {
        std::vector<tensor_type> daux;
        for (const auto& a : out.aux) daux.push_back(ones_like<tensor_type>(a.shape()));
        net.backward(x, ones_like<tensor_type>(out.main.shape()), daux);
    } else {
        net.backward(x, ones_like<tensor_type>(main_logits(out).shape()));
    }
    optim::clip_grad_norm(net, 1.0);
    optim::adam opt(net, {.lr = 1e-3, .weight_decay = 1e-4});
    opt.step();
    optim::sgd sgd(net, {.lr = 1e-3, .momentum = 0.9});
    sgd.step();

    io::save_weights(net, file);
    net.init(7);  // scramble, then restore from the file
    io::load_weights(net, file);
    std::error_code ec;
    std::filesystem::remove(file, ec);

    net.eval();
    {
        inference_mode guard;
        r.infer_output = to_host(main_logits(net.forward(x)));
    }
    if constexpr (infer::TileableNet<Net>) r.tiled = infer::predict_proba_tiled(net, x_host);
    net.visit_parameters([&](std::string_view, tensor_type& v, tensor_type& g) {
        r.parameters.push_back(to_host(v));
        r.gradients.push_back(to_host(g));
    });
    net.visit_buffers([&](std::string_view, tensor_type& v) { r.buffers.push_back(to_host(v)); });
    return r;
}

}  // namespace network_exercise
