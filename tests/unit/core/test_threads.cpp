#include <doctest/doctest.h>

#include <unetpp/threads.hpp>

#include "../../support/skip.hpp"

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

TEST_CASE("flush_denormals reaches every thread of a full team even while dynamic mode shrinks teams") {
#if defined(_OPENMP) && defined(UNETPP_HAS_MXCSR)
    // Under load, dynamic mode gives a region fewer threads than requested. The flush must still
    // reach every worker a later full-size region uses, or that worker computes with denormals
    // while the others flush them, and results depend on the load.
    const int threads = omp_get_max_threads(), dynamic = omp_get_dynamic();
    unetpp::set_num_threads(2);
    omp_set_dynamic(0);
    unetpp::flush_denormals(false);  // every worker starts without the mode
    omp_set_dynamic(1);
    REQUIRE(unetpp::flush_denormals(true));
    omp_set_dynamic(0);
    int team = 0, flushing = 0;
#pragma omp parallel reduction(+ : flushing)
    {
        flushing += (_mm_getcsr() & 0x8040u) == 0x8040u ? 1 : 0;
#pragma omp single
        team = omp_get_num_threads();
    }
    unetpp::flush_denormals(false);
    omp_set_num_threads(threads);
    omp_set_dynamic(dynamic);
    REQUIRE(team == 2);
    CHECK(flushing == 2);
#else
    unetpp::test::skip_not_available("needs OpenMP and an x86 MXCSR (FTZ/DAZ) register");
#endif
}
