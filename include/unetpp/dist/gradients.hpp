#pragma once
/// \file Keeping the replicas of a model identical across the ranks of a communicator:
///
///   dist::broadcast_parameters(net, comm);   // at the start: every rank gets rank 0's weights
///   ... per step: zero_grad, forward, loss, backward on this rank's slice of the batch
///   dist::allreduce_gradients(net, comm);    // every rank now holds the mean gradient
///   ... clip, optimiser step (the same on every rank, so the weights stay equal)
///   dist::average_buffers(net, comm);        // after each epoch: batch-norm running statistics
///
/// Works on any model with visit_parameters(f(name, value, grad)) and visit_buffers(f(name,
/// value)) over float or double tensors (every unetpp network and layer).
///
/// Gradient exchange: the gradients are taken in reverse parameter order (the order backward
/// finishes them: the last layer's first), packed into buckets of at most bucket_bytes (a
/// parameter larger than a bucket is split across buckets), summed over the ranks with one
/// allreduce per bucket and written back. The sum is element-wise, so the bucket size never
/// changes the result, only the number and size of the messages (25 MiB by default, as
/// PyTorch's DDP). The scaling:
///   - default: the sum is divided by the number of ranks: the mean of the ranks' gradients. When
///     every rank's loss is a mean over the same number of samples, this equals the gradient of
///     the mean loss over the global batch (exactly with two ranks: a + b == b + a).
///   - local_weight w: each rank multiplies its own gradient by its w before the sum (no division
///     afterwards). For uneven shards (n_r samples on rank r, N in all) w = n_r / N gives the
///     gradient of the mean loss over the N samples; the trainer does this when the slices of a
///     global batch differ in size.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/memory.hpp"
#include "../tensor/tensor.hpp"
#include "communicator.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

/// The default bucket size of the gradient exchange (25 MiB).
inline constexpr std::size_t default_bucket_bytes = std::size_t{25} << 20;

namespace detail {
template <class Net>
using grad_value_t = typename Net::value_type;

/// A network whose tensors live in memory the host cannot read (a device backend's).
template <class Net>
concept device_network = requires { typename Net::tensor_type; } && !Net::tensor_type::host_accessible;

/// Refuses a device network with a communicator that sums host memory only.
template <class Net>
void require_device_sums(const communicator& comm, const char* what) {
    if (comm.size() > 1 && !comm.sums_device_memory())
        throw std::invalid_argument(std::string(what) + ": the network's tensors are in device memory (backend " +
                                    std::string(Net::backend_type::name) + "), which this communicator cannot sum; use "
                                    "dist::nccl_communicator (unetpp/dist/nccl.hpp) for GPU networks");
}

/// Sums a device network's gradients over the ranks, one tensor at a time in reverse parameter
/// order, in place (a device communicator takes each tensor's own memory; no packing), scaled as
/// allreduce_gradients scales with the backend's scale operation (multiplying by 1 / ranks, which
/// equals the host path's division exactly when the rank count is a power of two).
template <class Net>
void allreduce_device_gradients(Net& net, communicator& comm, std::optional<double> local_weight) {
    using T = grad_value_t<Net>;
    using B = typename Net::backend_type;
    require_device_sums<Net>(comm, "allreduce_gradients");
    std::vector<typename Net::tensor_type*> grads;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { grads.push_back(&g); });
    std::reverse(grads.begin(), grads.end());
    for (auto* g : grads) {
        if (g->size() == 0) continue;
        const auto n = static_cast<std::ptrdiff_t>(g->size());
        if (local_weight) B::scale(g->data(), n, static_cast<T>(*local_weight));
        if (comm.size() > 1) comm.allreduce_sum(std::span<T>(memory::address_of(g->data()), g->size()));
        if (!local_weight) B::scale(g->data(), n, T(1) / static_cast<T>(comm.size()));
    }
}

/// The gradient tensors of `net`, in reverse parameter order.
template <class Net>
std::vector<std::span<grad_value_t<Net>>> reversed_gradients(Net& net) {
    std::vector<std::span<grad_value_t<Net>>> out;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { out.emplace_back(g.data(), g.size()); });
    std::reverse(out.begin(), out.end());
    return out;
}
}  // namespace detail

/// Sums the gradients of `net` over the ranks of `comm` in buckets of at most `bucket_bytes` and
/// scales them (see the file comment): divided by comm.size() by default, or each rank's own
/// multiplied by `local_weight` before the sum. With one rank and no local_weight it does
/// nothing. Collective: every rank must call it with the same model architecture and bucket size.
template <class Net>
void allreduce_gradients(Net& net, communicator& comm, std::size_t bucket_bytes = default_bucket_bytes,
                         std::optional<double> local_weight = std::nullopt) {
    using T = detail::grad_value_t<Net>;
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "allreduce_gradients: the gradients must be float or double tensors");
    if (bucket_bytes < sizeof(T))
        throw std::invalid_argument("allreduce_gradients: bucket_bytes " + std::to_string(bucket_bytes) +
                                    " holds no gradient element; use at least " + std::to_string(sizeof(T)) +
                                    " (the default is 25 MiB)");
    if (local_weight && !(*local_weight >= 0.0 && *local_weight <= 1.0))
        throw std::invalid_argument("allreduce_gradients: local_weight " + std::to_string(*local_weight) +
                                    " is not a share of the batch (0..1)");
    if (comm.size() == 1 && !local_weight) return;
    if constexpr (detail::device_network<Net>) {
        detail::allreduce_device_gradients(net, comm, local_weight);
        return;
    } else {
    const auto grads = detail::reversed_gradients(net);
    std::size_t total = 0;
    for (const auto& g : grads) total += g.size();
    if (total == 0) return;
    const std::size_t cap = std::min(bucket_bytes / sizeof(T), total);
    std::vector<T> bucket(cap);
    struct piece {
        T* dst;
        std::size_t n;
    };
    std::vector<piece> pieces;
    std::size_t used = 0;
    const T w = local_weight ? static_cast<T>(*local_weight) : T(1);
    const T ranks = static_cast<T>(comm.size());
    const auto flush = [&] {
        comm.allreduce_sum(std::span<T>(bucket.data(), used));
        std::size_t at = 0;
        for (const piece& p : pieces) {
            if (local_weight)
                std::memcpy(p.dst, bucket.data() + at, p.n * sizeof(T));
            else
                for (std::size_t i = 0; i < p.n; ++i) p.dst[i] = bucket[at + i] / ranks;
            at += p.n;
        }
        pieces.clear();
        used = 0;
    };
    for (const auto& g : grads) {
        std::size_t done = 0;
        while (done < g.size()) {
            const std::size_t n = std::min(g.size() - done, cap - used);
            if (local_weight)
                for (std::size_t i = 0; i < n; ++i) bucket[used + i] = g[done + i] * w;
            else
                std::memcpy(bucket.data() + used, g.data() + done, n * sizeof(T));
            pieces.push_back({g.data() + done, n});
            used += n;
            done += n;
            if (used == cap) flush();
        }
    }
    if (used > 0) flush();
    }
}

/// Copies rank `root`'s parameters and buffers (batch-norm statistics) to every rank. Collective.
template <class Net>
void broadcast_parameters(Net& net, communicator& comm, int root = 0) {
    if (comm.size() == 1) return;
    if constexpr (detail::device_network<Net>) {
        detail::require_device_sums<Net>(comm, "broadcast_parameters");
        const auto send = [&](auto& v) {
            using T = typename std::remove_cvref_t<decltype(v)>::value_type;
            comm.broadcast(std::span<T>(memory::address_of(v.data()), v.size()), root);
        };
        net.visit_parameters([&](std::string_view, auto& v, auto&) { send(v); });
        net.visit_buffers([&](std::string_view, auto& v) { send(v); });
    } else {
        net.visit_parameters([&](std::string_view, auto& v, auto&) { comm.broadcast(v.span(), root); });
        net.visit_buffers([&](std::string_view, auto& v) { comm.broadcast(v.span(), root); });
    }
}

/// Replaces every buffer (batch-norm running mean and variance) by its mean over the ranks, so
/// that the replicas' running statistics agree and reflect every rank's data. Collective.
template <class Net>
void average_buffers(Net& net, communicator& comm) {
    if (comm.size() == 1) return;
    if constexpr (detail::device_network<Net>) {
        detail::require_device_sums<Net>(comm, "average_buffers");
        net.visit_buffers([&](std::string_view, auto& v) {
            using T = typename std::remove_cvref_t<decltype(v)>::value_type;
            comm.allreduce_sum(std::span<T>(memory::address_of(v.data()), v.size()));
            Net::backend_type::scale(v.data(), static_cast<std::ptrdiff_t>(v.size()), T(1) / static_cast<T>(comm.size()));
        });
    } else {
        net.visit_buffers([&](std::string_view, auto& v) {
            using T = std::remove_cvref_t<decltype(*v.data())>;
            comm.allreduce_sum(v.span());
            const T k = static_cast<T>(comm.size());
            for (std::size_t i = 0; i < v.size(); ++i) v.data()[i] /= k;
        });
    }
}

/// A 64-bit FNV-1a hash of the bytes of every parameter and buffer, in visiting order: equal
/// fingerprints mean (with overwhelming probability) bit-identical models.
template <class Net>
[[nodiscard]] std::uint64_t fingerprint(Net& net) {
    std::uint64_t h = 1469598103934665603ull;
    const auto add = [&](const void* p, std::size_t bytes) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    const auto add_tensor = [&](const auto& v) {
        if constexpr (std::remove_cvref_t<decltype(v)>::host_accessible) {
            add(v.data(), v.size() * sizeof(*v.data()));
        } else {
            const auto copy = to_host(v);  // a device tensor's bytes, read on the host
            add(copy.data(), copy.size() * sizeof(*copy.data()));
        }
    };
    net.visit_parameters([&](std::string_view, auto& v, auto&) { add_tensor(v); });
    net.visit_buffers([&](std::string_view, auto& v) { add_tensor(v); });
    return h;
}

/// True on every rank when all ranks hold bit-identical parameters and buffers. Collective.
template <class Net>
[[nodiscard]] bool replicas_agree(Net& net, communicator& comm) {
    const std::uint64_t mine = fingerprint(net);
    const auto all = comm.allgather(std::span<const std::uint64_t>(&mine, 1));
    return std::all_of(all.begin(), all.end(), [&](std::uint64_t h) { return h == all.front(); });
}

}  // namespace unetpp::dist
