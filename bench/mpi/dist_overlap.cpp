// The gradient exchange's exposed time, overlapped with backward and after it, in one run:
//
//   mpirun -np 2 --oversubscribe -x OMP_NUM_THREADS=1 build/bench/bench_dist_overlap
//          [--base 16|32] [--size 128] [--batch 4] [--steps 8] [--bucket-mb 25]
//
// Each rank trains unet_bn<base, 4> on its own random batch. The steps alternate between the two
// exchanges (overlapped: dist::overlapped_exchange started during backward; after: one
// dist::allreduce_gradients call once backward has returned), after one warm-up step of each.
// Per step it measures, on every rank, backward (the overlapped exchange's work during it
// included) and the exposed exchange: from the end of backward to every gradient summed. Rank 0
// prints the medians over the steps and ranks, and the ratio. Built with UNETPP_WITH_MPI=ON and
// UNETPP_BUILD_BENCH=ON; never run by ctest.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <unetpp/dist/gradients.hpp>
#include <unetpp/dist/mpi.hpp>
#include <unetpp/dist/overlap.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    int base = 16, size = 128, batch = 4, steps = 8;
    double bucket_mb = 25;
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_dist_overlap: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--base") o.base = std::atoi(value());
        else if (a == "--size") o.size = std::atoi(value());
        else if (a == "--batch") o.batch = std::atoi(value());
        else if (a == "--steps") o.steps = std::atoi(value());
        else if (a == "--bucket-mb") o.bucket_mb = std::atof(value());
        else {
            std::fprintf(stderr, "bench_dist_overlap: unknown option %s (see the file comment)\n", argv[i]);
            std::exit(2);
        }
    }
    if ((o.base != 16 && o.base != 32) || o.size < 16 || o.size % 16 || o.batch < 1 || o.steps < 1 || !(o.bucket_mb > 0)) {
        std::fprintf(stderr, "bench_dist_overlap: --base 16|32, --size a multiple of 16, --batch, --steps >= 1, "
                             "--bucket-mb > 0\n");
        std::exit(2);
    }
    return o;
}

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

template <int Base>
int run(const options& o, dist::mpi_communicator& comm) {
    presets::unet_bn<Base, 4> net(1);
    dist::broadcast_parameters(net, comm);
    tensor<float> x(shape4{o.batch, 1, o.size, o.size});
    rng r(100 + static_cast<std::uint64_t>(comm.rank()));
    for (auto& v : x) v = static_cast<float>(r.uniform(-1, 1));
    const auto bucket = static_cast<std::size_t>(o.bucket_mb * 1024 * 1024);
    dist::overlapped_exchange<float> exchange(comm, bucket);
    std::size_t grad_elements = 0;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { grad_elements += g.size(); });

    // [mode][step]: backward ms, exposed exchange ms
    std::vector<double> backward[2], exposed[2];
    for (int step = 0; step < 2 * (o.steps + 1); ++step) {
        const int mode = step % 2;  // 0: overlapped, 1: after backward
        comm.barrier();
        net.train(true);
        net.zero_grad();
        const auto& y = net.forward(x);
        const tensor<float> dy(y.shape(), 1e-3f);
        const auto t0 = clock_type::now();
        if (mode == 0) {
            const auto listening = exchange.begin(net);
            net.backward(x, dy);
        } else {
            net.backward(x, dy);
        }
        const double b = ms_since(t0);
        const auto t1 = clock_type::now();
        if (mode == 0)
            exchange.finish();
        else
            dist::allreduce_gradients(net, comm, bucket);
        const double e = ms_since(t1);
        if (step >= 2) {  // after one warm-up step of each
            backward[mode].push_back(b);
            exposed[mode].push_back(e);
        }
    }
    // every rank's samples to rank 0
    double stats[2][2];
    for (int m = 0; m < 2; ++m) {
        const auto all_b = comm.allgather(std::span<const double>(backward[m]));
        const auto all_e = comm.allgather(std::span<const double>(exposed[m]));
        stats[m][0] = median(all_b);
        stats[m][1] = median(all_e);
    }
    if (comm.is_root()) {
        std::printf("unet_bn<%d,4>, %d ranks, batch %d per rank at %dx%d, gradients %.1f MB in %zu bucket(s) of <= %.0f MB, "
                    "%d timed steps per mode (medians over steps and ranks)\n",
                    Base, comm.size(), o.batch, o.size, o.size, grad_elements * 4.0 / 1e6, exchange.bucket_count(),
                    o.bucket_mb, o.steps);
        std::printf("%-26s %12s %18s\n", "exchange", "backward ms", "exposed exchange ms");
        std::printf("%-26s %12.1f %18.2f\n", "after backward", stats[1][0], stats[1][1]);
        std::printf("%-26s %12.1f %18.2f\n", "overlapped with backward", stats[0][0], stats[0][1]);
        std::printf("exposed exchange, overlapped / after: %.3f; buckets started during backward: %zu of %zu\n",
                    stats[1][1] > 0 ? stats[0][1] / stats[1][1] : 0.0, exchange.started_during_backward(),
                    exchange.bucket_count());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    dist::mpi_environment env(argc, argv);
    const options o = parse(argc, argv);
    dist::mpi_communicator comm;
    return o.base == 16 ? run<16>(o, comm) : run<32>(o, comm);
}
