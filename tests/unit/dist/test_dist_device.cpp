// Data parallel with a network whose memory the host cannot read (the path a GPU network takes
// with dist::nccl_communicator), without MPI or a GPU: the fake device backend
// (tests/support/fake_device.hpp) and an in-process communicator for W identical ranks that says
// it sums device memory. Two identical ranks must train exactly what one process trains on the
// CPU (the sums are 2x, the scaling 1/2, both exact); a communicator that sums host memory only is
// refused with a message naming the one to use.
#include <doctest/doctest.h>

#include "../../support/error_of.hpp"
#include "../../support/fake_device.hpp"

#include <span>
#include <sstream>
#include <vector>

#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/dist/communicator.hpp>
#include <unetpp/dist/gradients.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/train.hpp>

using namespace unetpp;

namespace {

using fake = test::fake_device_backend<>;

/// W identical ranks in one process: a sum over the ranks is W times the value; a broadcast or a
/// gather changes nothing. `device` says whether it claims to sum device memory (the fake device's
/// memory is host memory, so the in-place loops below can read it).
class identical_ranks final : public dist::communicator {
public:
    identical_ranks(int w, bool device) : w_(w), device_(device) {}
    int rank() const noexcept override { return 0; }
    int size() const noexcept override { return w_; }
    void allreduce_sum(std::span<float> v) override {
        ++sums;
        for (auto& x : v) x *= static_cast<float>(w_);
    }
    void allreduce_sum(std::span<double> v) override {
        for (auto& x : v) x *= w_;
    }
    void broadcast(std::span<float>, int) override { ++broadcasts; }
    void broadcast(std::span<double>, int) override {}
    void broadcast(std::span<std::byte>, int) override {}
    std::vector<double> allgather(std::span<const double> m) override { return {m.begin(), m.end()}; }
    std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> m) override { return {m.begin(), m.end()}; }
    void barrier() override {}
    bool sums_device_memory() const noexcept override { return device_; }
    int sums = 0, broadcasts = 0;

private:
    int w_;
    bool device_;
};

template <class Net>
std::uint64_t train_two_epochs(Net& net, dist::communicator* comm) {
    data::synthetic_dataset ds{12, {.size = 16, .seed = 5}};
    const std::vector<std::size_t> idx{0, 1, 2, 3, 4, 5, 6, 7};
    optim::adam<typename Net::backend_type> opt(net, {.lr = 1e-2});
    data::loader<data::synthetic_dataset> tr(ds, {.batch_size = 3, .seed = 9}, idx);
    std::ostringstream out;
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = 2, .monitor = "train_loss", .seed = 9, .progress = train::progress_mode::silent, .out = &out,
                      .comm = comm});
    (void)t.fit(tr);
    return dist::fingerprint(net);
}

}  // namespace

TEST_CASE("a device network trains data parallel with a communicator that sums device memory, as one CPU process") {
    presets::unet_bn<4, 2> cpu(11);
    const std::uint64_t alone = train_two_epochs(cpu, nullptr);

    presets::unet_bn<4, 2, 1, 1, fake> device(11);
    identical_ranks two(2, true);
    const std::uint64_t parallel = train_two_epochs(device, &two);
    CHECK(parallel == alone);   // 2 identical ranks: (g + g) / 2 == g and (s + s) / 2 == s, exactly
    CHECK(two.sums > 0);        // the gradients and the batch-norm statistics went through it
    CHECK(two.broadcasts > 0);  // rank 0's weights, at the start
}

TEST_CASE("a device network with a communicator that sums host memory only is refused, saying what to use") {
    presets::unet_bn<4, 2, 1, 1, fake> device(11);
    identical_ranks host_only(2, false);
    const std::string e = test::error_of<std::invalid_argument>([&] { (void)train_two_epochs(device, &host_only); });
    CHECK(test::contains(e, "device memory"));
    CHECK(test::contains(e, "nccl_communicator"));
    CHECK(host_only.sums == 0);  // refused before any exchange

    // the exchange functions refuse it too; with one rank they have nothing to do
    identical_ranks one(1, false);
    dist::allreduce_gradients(device, one);
    dist::broadcast_parameters(device, one);
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { dist::average_buffers(device, host_only); }),
                         "nccl_communicator"));
}
