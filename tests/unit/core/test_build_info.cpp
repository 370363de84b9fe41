// build_info(): the report a program prints so that a slow build is never a mystery.
#include <doctest/doctest.h>

#include <string>

#include <unetpp/build_info.hpp>

TEST_CASE("build_info reports whether the program was compiled with optimisation") {
    const std::string info = unetpp::build_info();
    CHECK(info.find("SIMD:") != std::string::npos);
    CHECK(info.find("optimisation:") != std::string::npos);
#if defined(__OPTIMIZE__)
    CHECK(unetpp::optimized_build);
    CHECK(info.find("optimisation:  on") != std::string::npos);
#else
    CHECK_FALSE(unetpp::optimized_build);
    CHECK(info.find("40x slower") != std::string::npos);
#endif
}
