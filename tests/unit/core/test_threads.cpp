#include <doctest/doctest.h>

#include <unetpp/threads.hpp>

TEST_CASE("flush_denormals turns subnormal arithmetic into zeros and can be undone") {
    volatile float tiny = 1e-40f;  // subnormal in float
    volatile float one = 1.0f;
    REQUIRE(tiny * one != 0.0f);
    if (!unetpp::flush_denormals(true)) {
        MESSAGE("no FTZ/DAZ mode on this CPU");
        return;
    }
    CHECK(tiny * one == 0.0f);
    unetpp::flush_denormals(false);
    CHECK(tiny * one != 0.0f);
}

TEST_CASE("adapt_threads_to_load respects an explicit OMP_DYNAMIC") {
#ifdef _OPENMP
    const bool on = unetpp::adapt_threads_to_load();
    if (std::getenv("OMP_DYNAMIC") == nullptr) CHECK(on);
#else
    CHECK_FALSE(unetpp::adapt_threads_to_load());
#endif
}
