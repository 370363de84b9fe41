# Sanitizer builds of the tests (scripts/test.sh stages `asan` and `tsan`):
#
#   -DUNETPP_SANITIZE=address,undefined   ASan + UBSan on every test executable
#   -DUNETPP_SANITIZE=thread              TSan; needs -DUNETPP_WITH_OPENMP=OFF, because the OpenMP
#                                         runtime (libgomp, libomp) is not instrumented and TSan
#                                         would report its synchronisation as races
#
# The library is header-only, so instrumenting the test executables instruments all of unetpp's
# code they use. The flags go on the interface target `unetpp_sanitize_flags`, which every test
# executable links (tests/CMakeLists.txt). Reports are fatal: -fno-sanitize-recover=all makes
# the first UBSan report abort the test, so a ctest pass means zero reports. -Og -g1 (line tables
# only) halves the build against -O1 -g, which matters because the sanitizer build is the longest
# part of CI, and the tests run as fast; stack traces keep their files and lines. Measured on
# tests/unit/models/test_unet.cpp with ASan + UBSan (g++ 12, CPU seconds to compile / to run):
# -O1 -g 121 / 4.8, -O1 -g1 89-101 / -, -Og -g1 59 / 6.2, -O0 -g1 42 / 10.1. The kernels' own tests
# (tests/unit/backend) are the exception, at -O1 (tests/CMakeLists.txt): at -Og the SIMD intrinsics'
# wrappers are not inlined and they ran 10 to 20 times longer.
set(UNETPP_SANITIZE "" CACHE STRING
    "Sanitizers for the tests: empty, 'address,undefined' (or a subset) or 'thread'")
set_property(CACHE UNETPP_SANITIZE PROPERTY STRINGS "" "address,undefined" "address" "undefined" "thread")

add_library(unetpp_sanitize_flags INTERFACE)

if(NOT UNETPP_SANITIZE STREQUAL "")
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
        message(FATAL_ERROR "UNETPP_SANITIZE needs GCC or Clang (compiler: ${CMAKE_CXX_COMPILER_ID})")
    endif()
    string(REPLACE "," ";" sanitizers "${UNETPP_SANITIZE}")
    foreach(s IN LISTS sanitizers)
        if(NOT s MATCHES "^(address|undefined|thread)$")
            message(FATAL_ERROR "UNETPP_SANITIZE: unknown sanitizer '${s}' (use address, undefined or thread)")
        endif()
    endforeach()
    if("thread" IN_LIST sanitizers)
        list(LENGTH sanitizers n)
        if(NOT n EQUAL 1)
            message(FATAL_ERROR "UNETPP_SANITIZE: 'thread' cannot be combined with other sanitizers")
        endif()
        if(UNETPP_WITH_OPENMP)
            message(FATAL_ERROR "UNETPP_SANITIZE=thread needs -DUNETPP_WITH_OPENMP=OFF: the OpenMP runtime is "
                "not instrumented, so TSan would report its barriers as data races")
        endif()
    endif()
    set(flags "-fsanitize=${UNETPP_SANITIZE}" -fno-sanitize-recover=all -fno-omit-frame-pointer -Og -g1)
    if(NOT UNETPP_WITH_OPENMP)
        list(APPEND flags -Wno-unknown-pragmas)  # the kernels' "#pragma omp" lines, ignored without OpenMP
    endif()
    target_compile_options(unetpp_sanitize_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${flags}>)
    target_link_options(unetpp_sanitize_flags INTERFACE "-fsanitize=${UNETPP_SANITIZE}")
    message(STATUS "unetpp tests: sanitizers ${UNETPP_SANITIZE} (${CMAKE_CXX_COMPILER_ID})")
endif()

# The environment every sanitized test runs with (appended to the tests' ENVIRONMENT).
set(UNETPP_SANITIZE_ENV)
if(UNETPP_SANITIZE MATCHES "address")
    # detect_leaks: LeakSanitizer runs at exit. strict_string_checks catches more misuse at little
    # cost. detect_stack_use_after_return stays off (its default): with g++ 12 it crashes with a
    # SEGV inside ASan's fake stack on entry to a test case whose frame is 64 KiB
    # (tests/unit/models/test_unet_plusplus.cpp, "train::trainer, Adam and checkpoints ..."),
    # a false report that the same binary does not give without the option.
    list(APPEND UNETPP_SANITIZE_ENV "ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1")
endif()
if(UNETPP_SANITIZE MATCHES "undefined")
    list(APPEND UNETPP_SANITIZE_ENV "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endif()
if(UNETPP_SANITIZE MATCHES "thread")
    list(APPEND UNETPP_SANITIZE_ENV "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1")
endif()
