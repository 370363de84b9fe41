# cmake -DMODULE=<unetppBuildTypeCheck.cmake> -DCASE=unset|release|flags -P build_type_warning.cmake
# Calls unetpp_warn_unoptimised_build() as a consumer's configure would, with the build type and
# flags of CASE; the ctest checks whether the warning was printed.
include("${MODULE}")
set(CMAKE_BUILD_TYPE "")
set(CMAKE_CXX_FLAGS "")
if(CASE STREQUAL "release")
    set(CMAKE_BUILD_TYPE Release)
elseif(CASE STREQUAL "flags")
    set(CMAKE_CXX_FLAGS "-g -O2")
elseif(NOT CASE STREQUAL "unset")
    message(FATAL_ERROR "CASE must be unset, release or flags")
endif()
unetpp_warn_unoptimised_build()
message(STATUS "checked case ${CASE}")
