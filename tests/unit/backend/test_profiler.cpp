// Tests of the per-operation profiler (backend/profiler.hpp): what the CPU backend records for
// its convolutions (names by kernel size, call counts, FLOPs) and that nothing is recorded while
// the profiler is off.
#include <doctest/doctest.h>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/backend/profiler.hpp>

#include <string>
#include <vector>

namespace {

const unetpp::profiler::detail::entry* find(const std::vector<unetpp::profiler::detail::entry>& es,
                                            const std::string& name) {
    for (const auto& e : es)
        if (name == e.name) return &e;
    return nullptr;
}

}  // namespace

TEST_CASE("profiler records convolutions by kernel size with their FLOPs") {
    namespace ck = unetpp::backend::cpu_kernels;
    using cpu = unetpp::backend::cpu;
    const ck::conv_geometry g3{.n = 2, .cin = 3, .h = 9, .w = 7, .cout = 5, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    const ck::conv_geometry g1{.n = 1, .cin = 4, .h = 6, .w = 6, .cout = 2, .kh = 1, .kw = 1, .stride = 1, .pad = 0};
    std::vector<float> x(2 * 3 * 9 * 7, 0.5f), w(5 * 3 * 9, 0.25f), b(5, 0.0f), y(2 * 5 * 9 * 7);
    std::vector<float> x1(4 * 36, 1.0f), w1(2 * 4, 1.0f), y1(2 * 36);

    unetpp::profiler::reset();
    unetpp::profiler::enable(false);
    cpu::conv2d_forward(g3, x.data(), w.data(), b.data(), y.data());
    CHECK(unetpp::profiler::entries().empty());  // off: nothing recorded

    unetpp::profiler::enable(true);
    cpu::conv2d_forward(g3, x.data(), w.data(), b.data(), y.data());
    cpu::conv2d_forward(g3, x.data(), w.data(), b.data(), y.data());
    cpu::conv2d_forward(g1, x1.data(), w1.data(), static_cast<const float*>(nullptr), y1.data());
    unetpp::profiler::enable(false);

    const auto es = unetpp::profiler::entries();
    const auto* e3 = find(es, "conv2d_forward 3x3");
    const auto* e1 = find(es, "conv2d_forward other");
    REQUIRE(e3 != nullptr);
    REQUIRE(e1 != nullptr);
    CHECK(e3->calls == 2);
    CHECK(e1->calls == 1);
    // 2 * n * cout * cin * kh * kw * oh * ow per call
    CHECK(e3->flops == doctest::Approx(2.0 * (2.0 * 2 * 5 * 3 * 9 * 9 * 7)));
    CHECK(e1->flops == doctest::Approx(2.0 * 1 * 2 * 4 * 1 * 6 * 6));
    CHECK(y1[0] == doctest::Approx(4.0f));  // the timed call still computed the convolution

    const std::string r = unetpp::profiler::report();
    CHECK(r.find("conv2d_forward 3x3") != std::string::npos);
    CHECK(r.find("GFLOP/s") != std::string::npos);
    unetpp::profiler::reset();
    CHECK(unetpp::profiler::entries().empty());
}
