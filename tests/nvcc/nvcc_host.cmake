# The test nvcc_model_headers: compiles tests/static/static_architectures.cpp (every preset's
# compile-time facts) and tests/nvcc/host_smoke.cpp as CUDA source with nvcc, runs the smoke
# program and compares its numbers with those of the same program built by the C++ compiler.
#   cmake -DNVCC=... -DSOURCE=<repo> -DCXX_SMOKE=<exe> -DWORK=<dir> [-DEIGEN=<dir>] -P nvcc_host.cmake
include("${SOURCE}/tests/cmake/unetppSkip.cmake")
if(NOT NVCC OR NOT EXISTS "${NVCC}")
    unetpp_skip_not_available("nvcc was not found (no CUDA toolkit in PATH, CUDA_PATH, CUDA_HOME or /usr/local/cuda)")
    return()
endif()
file(MAKE_DIRECTORY "${WORK}")
set(flags -std=c++20 -O2 -x cu -I "${SOURCE}/include")
if(EIGEN)
    list(APPEND flags -isystem "${EIGEN}")
endif()

execute_process(COMMAND "${NVCC}" ${flags} -c "${SOURCE}/tests/static/static_architectures.cpp" -o "${WORK}/static_architectures.o"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nvcc cannot compile tests/static/static_architectures.cpp:\n${out}${err}")
endif()
execute_process(COMMAND "${NVCC}" ${flags} "${SOURCE}/tests/nvcc/host_smoke.cpp" -o "${WORK}/host_smoke_nvcc"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nvcc cannot compile tests/nvcc/host_smoke.cpp:\n${out}${err}")
endif()
# Warnings that name unetpp's own headers fail the test (Eigen's are its own business).
string(REGEX MATCHALL "[^\n]*include/unetpp/[^\n]*warning[^\n]*" ours "${err}")
if(ours)
    message(FATAL_ERROR "nvcc warns about unetpp code:\n${ours}")
endif()

execute_process(COMMAND "${WORK}/host_smoke_nvcc" RESULT_VARIABLE rc_n OUTPUT_VARIABLE nv ERROR_VARIABLE nv_err)
execute_process(COMMAND "${CXX_SMOKE}" RESULT_VARIABLE rc_c OUTPUT_VARIABLE cx ERROR_VARIABLE cx_err)
if(NOT rc_n EQUAL 0 OR NOT rc_c EQUAL 0)
    message(FATAL_ERROR "smoke programs failed: nvcc build ${rc_n} (${nv}${nv_err}), C++ build ${rc_c} (${cx}${cx_err})")
endif()
message(STATUS "nvcc build:\n${nv}C++ build:\n${cx}")
# Same numbers within 1e-4 relative: the builds may use different instruction sets (the C++ build
# may be -march=native), which changes rounding, not results. CMake has no floating-point
# arithmetic, so the C++ smoke program compares (--compare).
string(REGEX MATCHALL "[a-z_]+ [-+0-9.eEinfa]+" nv_lines "${nv}")
string(REGEX MATCHALL "[a-z_]+ [-+0-9.eEinfa]+" cx_lines "${cx}")
list(LENGTH nv_lines n)
list(LENGTH cx_lines m)
if(NOT n EQUAL 6 OR NOT m EQUAL 6)
    message(FATAL_ERROR "unexpected smoke output:\n${nv}\n${cx}")
endif()
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
    list(GET nv_lines ${i} a)
    list(GET cx_lines ${i} b)
    string(REGEX REPLACE "^([a-z_]+) (.*)$" "\\2" va "${a}")
    string(REGEX REPLACE "^([a-z_]+) (.*)$" "\\2" vb "${b}")
    string(REGEX REPLACE "^([a-z_]+) .*$" "\\1" name "${a}")
    list(APPEND pairs "${name}=${va},${vb}")
endforeach()
execute_process(COMMAND "${CXX_SMOKE}" --compare ${pairs} RESULT_VARIABLE rc OUTPUT_VARIABLE cmp ERROR_VARIABLE cmp_err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nvcc and C++ builds disagree:\n${cmp}${cmp_err}")
endif()
message(STATUS "${cmp}")
