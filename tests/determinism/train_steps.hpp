#pragma once
/// \file A short, seeded training run shared by the determinism tests: a few Adam steps of
/// presets::unet_bn<16, 3> on one synthetic 2 x 1 x 64 x 64 batch, and a hash of the result.
///
/// The sizes are chosen so that every kind of parallel loop runs on a real team: the first
/// level's batch norms and activations exceed the kernels' serial grain (2 x 16 x 64 x 64), the
/// deepest convolutions' weights exceed Adam's (128 x 64 x 3 x 3), the backward-weights passes
/// use both the direct kernels (first layer, 1x1 head) and im2col + GEMM, and the up-sampling
/// transposed convolutions use GEMM in all three passes.

#include <cstdint>
#include <cstring>
#include <vector>

#include <unetpp/unet.hpp>

namespace unetpp::test {

/// Trains presets::unet_bn<16, 3> (seeded with `seed`) for `steps` Adam steps with
/// bce_with_logits on a fixed batch drawn from `seed`, and returns every parameter followed by
/// every buffer (batch-norm running statistics), in the network's visit order.
inline std::vector<float> train_unet_bn_steps(int steps, std::uint64_t seed) {
    using net_t = presets::unet_bn<16, 3>;
    net_t net(seed);
    optim::adam opt(net, {.lr = 1e-2});
    losses::bce_with_logits bce;
    tensor<float> x(shape4{2, 1, 64, 64}), t(shape4{2, 1, 64, 64}), grad;
    rng r(seed + 1);
    for (int n = 0; n < 2; ++n)
        for (int i = 0; i < 64; ++i)
            for (int j = 0; j < 64; ++j) {
                const int di = i - 24 - 8 * n, dj = j - 32;
                const bool inside = di * di + dj * dj < 256;
                t(n, 0, i, j) = inside ? 1.0f : 0.0f;
                x(n, 0, i, j) = (inside ? 0.7f : 0.3f) + 0.2f * static_cast<float>(r.normal());
            }
    for (int s = 0; s < steps; ++s) {
        opt.zero_grad();
        bce(net.forward(x), t, &grad);
        net.backward(x, grad);
        opt.step();
    }
    std::vector<float> out;
    net.visit_parameters([&](std::string_view, tensor<float>& v, tensor<float>&) { out.insert(out.end(), v.begin(), v.end()); });
    net.visit_buffers([&](std::string_view, tensor<float>& v) { out.insert(out.end(), v.begin(), v.end()); });
    return out;
}

/// FNV-1a (64 bit) over the bytes of `v`: equal hashes for bit-identical weights.
inline std::uint64_t fnv1a(const std::vector<float>& v) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (const float f : v) {
        std::uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        for (int b = 0; b < 4; ++b) {
            h ^= (bits >> (8 * b)) & 0xFFu;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

}  // namespace unetpp::test
