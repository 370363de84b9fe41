# unetpp_warn_unoptimised_build(): a visible warning when the project that uses unetpp would
# compile it without optimisation. unetpp is header-only, so its kernels are compiled with the
# consumer's flags; with a single-configuration generator and no CMAKE_BUILD_TYPE, CMake passes
# no -O flag at all, and training and inference run about 40 times slower than in a Release
# build. Multi-configuration generators (Visual Studio, Xcode, Ninja Multi-Config) choose the
# configuration at build time and are not checked here; unetpp::build_info() reports the
# optimisation a program was compiled with in every case.
#
# Set UNETPP_NO_BUILD_TYPE_WARNING=ON to silence it (e.g. when the flags come from a toolchain
# file that adds -O2 itself).
function(unetpp_warn_unoptimised_build)
    get_property(multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
    if(multi_config OR UNETPP_NO_BUILD_TYPE_WARNING)
        return()
    endif()
    if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CXX_FLAGS MATCHES "(^| )-O[1-3sfz]")
        message(WARNING
            "unetpp: CMAKE_BUILD_TYPE is not set and CMAKE_CXX_FLAGS has no -O flag, so this project "
            "compiles unetpp without optimisation and its kernels run about 40 times slower. "
            "Configure with -DCMAKE_BUILD_TYPE=Release (or RelWithDebInfo), or set "
            "UNETPP_NO_BUILD_TYPE_WARNING=ON if your toolchain adds optimisation flags itself.")
    endif()
endfunction()
