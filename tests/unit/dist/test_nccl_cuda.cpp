// dist::nccl_communicator on one GPU, in one process (MPI's singleton mode): device spans go
// through NCCL on the backend's stream and host spans through MPI, and the device gradient exchange
// of a backend::cuda network scales and sums its gradients in device memory. Built where CUDA, MPI
// and NCCL are (the cuda stage); without a device it skips, saying why. The multi-GPU behaviour
// (N ranks under mpirun) is the MPI tests' semantics with this communicator; it needs N GPUs.
#include <doctest/doctest.h>

#include "../../support/cuda_test.hpp"

#include <span>
#include <vector>

#include <unetpp/unet.hpp>
#include <unetpp/dist/gradients.hpp>
#include <unetpp/dist/nccl.hpp>

using namespace unetpp;

TEST_CASE("nccl_communicator: device memory through NCCL, host memory through MPI, device gradients scaled in place") {
    if (test::no_cuda_device()) return;
    dist::mpi_environment env;
    dist::mpi_communicator host;
    dist::nccl_communicator comm(host);
    CHECK(comm.size() == host.size());
    CHECK(comm.sums_device_memory());

    tensor<float, memory::cuda_device> d;
    d.assign(tensor<float>(shape4{1, 1, 1, 3}, {1.0f, 2.0f, 3.0f}));
    comm.allreduce_sum(std::span<float>(memory::address_of(d.data()), d.size()));
    comm.broadcast(std::span<float>(memory::address_of(d.data()), d.size()), 0);
    const tensor<float> back = to_host(d);
    const float w = static_cast<float>(comm.size());
    CHECK(back[0] == 1.0f * w);
    CHECK(back[2] == 3.0f * w);
    std::vector<double> h{0.5, 1.5};
    comm.allreduce_sum(std::span<double>(h));
    CHECK(h[1] == 1.5 * comm.size());

    using net_t = presets::unet_bn<4, 2, 1, 1, backend::cuda>;
    net_t net(3);
    tensor<float, memory::cuda_device> x, dy;
    x.assign(tensor<float>(shape4{2, 1, 16, 16}, 0.25f));
    net.train(true);
    net.zero_grad();
    dy.assign(tensor<float>(net.forward(x).shape(), 1.0f));
    net.backward(x, dy);
    std::vector<tensor<float>> before;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { before.push_back(to_host(g)); });
    dist::allreduce_gradients(net, comm, dist::default_bucket_bytes, 0.5);  // 0.5 * g summed over the ranks
    std::size_t k = 0;
    net.visit_parameters([&](std::string_view, auto&, auto& g) {
        const tensor<float> now = to_host(g);
        for (std::size_t i = 0; i < now.size(); ++i) REQUIRE(now[i] == before[k][i] * 0.5f * w);
        ++k;
    });
}
