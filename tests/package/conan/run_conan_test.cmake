# Included by run_package_test.cmake for MODE=conan. Inputs: UNETPP_SOURCE_DIR, CONSUMER_BINARY
# (work directory), CXX_COMPILER, CONFIG and optionally CONAN (the conan executable).
#
#  1. find conan 2: CONAN, else the virtual environment made by scripts/install_deps.sh, else
#     PATH; without it the test skips (exit 77; a failure under CI=true, see tests/cmake/unetppSkip.cmake).
#  2. make a throw-away CONAN_HOME under CONSUMER_BINARY, detect a profile, and remove every
#     remote, so nothing can come from the network.
#  3. export the test-only eigen/3.4.0, xsimd/8.1.0 and libjpeg-turbo/2.1.5 recipes (Debian's
#     headers and, for libjpeg-turbo, its system library).
#  4. copy the recipe and what it exports into a staging folder (so Conan's test_package build
#     folder is not written into the checkout) and run `conan create` on it with
#     compiler.cppstd=20: this packages unetpp and builds and runs test_package.
#  5. check the package holds the headers and no CMake or pkg-config files of unetpp's own.
#  6. `conan test` test_package again with unetpp/*:with_openmp=False.
set(work "${CONSUMER_BINARY}")
set(conan_home "${work}/home")
set(stage "${work}/src")

if(NOT CONAN)
    set(hints)
    foreach(venv IN ITEMS "$ENV{UNETPP_CONAN_VENV}" "$ENV{XDG_CACHE_HOME}/unetpp/conan-venv"
                          "$ENV{HOME}/.cache/unetpp/conan-venv")
        if(NOT venv STREQUAL "" AND NOT venv MATCHES "^/unetpp")
            list(APPEND hints "${venv}/bin")
        endif()
    endforeach()
    find_program(conan_found NAMES conan HINTS ${hints} NO_CACHE)
    if(conan_found)
        set(CONAN "${conan_found}")
    endif()
endif()
if(NOT CONAN)
    unetpp_skip_installable("conan 2"
        "scripts/install_deps.sh installs it into ~/.cache/unetpp/conan-venv (or configure with "
        "-DUNETPP_CONAN=<path to conan>)")
    return()
endif()
execute_process(COMMAND "${CONAN}" --version OUTPUT_VARIABLE conan_version RESULT_VARIABLE rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR NOT conan_version MATCHES "version 2\\.")
    unetpp_skip_installable("Conan 2 (${CONAN} is '${conan_version}')"
        "scripts/install_deps.sh installs Conan 2 into ~/.cache/unetpp/conan-venv (or configure with "
        "-DUNETPP_CONAN=<path to conan 2>)")
    return()
endif()
message(STATUS "using ${CONAN}: ${conan_version}")

set(build_type "${CONFIG}")
if(build_type STREQUAL "")
    set(build_type Release)
endif()

file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${conan_home}" "${stage}")
set(conan "${CMAKE_EXE}" -E env "CONAN_HOME=${conan_home}" "CXX=${CXX_COMPILER}" "${CONAN}")

run_checked("conan profile" ${conan} profile detect --force)
run_checked("conan remote remove" ${conan} remote remove "*")
run_checked("export test-only eigen" ${conan} export "${CMAKE_CURRENT_LIST_DIR}/eigen")
run_checked("export test-only xsimd" ${conan} export "${CMAKE_CURRENT_LIST_DIR}/xsimd")
run_checked("export test-only libjpeg-turbo" ${conan} export "${CMAKE_CURRENT_LIST_DIR}/libjpeg-turbo")

# The staging copy holds exactly what conanfile.py exports plus the recipe and test_package.
file(GLOB license_files "${UNETPP_SOURCE_DIR}/LICENSE*")
file(COPY "${UNETPP_SOURCE_DIR}/conanfile.py" "${UNETPP_SOURCE_DIR}/CMakeLists.txt"
          "${UNETPP_SOURCE_DIR}/include" "${UNETPP_SOURCE_DIR}/cmake"
          "${UNETPP_SOURCE_DIR}/test_package" ${license_files}
     DESTINATION "${stage}")
file(REMOVE_RECURSE "${stage}/test_package/build" "${stage}/test_package/CMakeUserPresets.json")

cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
set(settings -s compiler.cppstd=20 -s "build_type=${build_type}" -c "tools.build:jobs=${jobs}")
run_checked("conan create" ${conan} create "${stage}" ${settings} --build=missing)

# The package: headers only, no CMake/pkg-config files (CMakeDeps writes those for consumers).
execute_process(
    COMMAND ${conan} cache path unetpp/0.1.0:da39a3ee5e6b4b0d3255bfef95601890afd80709
    OUTPUT_VARIABLE pkg_dir RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR NOT IS_DIRECTORY "${pkg_dir}")
    message(FATAL_ERROR "FAIL: the header-only package id (empty info) was not created: ${pkg_dir}")
endif()
file(GLOB_RECURSE source_headers RELATIVE "${UNETPP_SOURCE_DIR}/include" "${UNETPP_SOURCE_DIR}/include/unetpp/*")
foreach(h IN LISTS source_headers)
    if(NOT EXISTS "${pkg_dir}/include/${h}")
        message(FATAL_ERROR "FAIL: include/${h} is missing from the Conan package ${pkg_dir}")
    endif()
endforeach()
file(GLOB_RECURSE extra RELATIVE "${pkg_dir}" "${pkg_dir}/*.cmake" "${pkg_dir}/*.pc" "${pkg_dir}/lib/*"
    "${pkg_dir}/bin/*")
if(extra)
    message(FATAL_ERROR "FAIL: the Conan package holds more than headers: ${extra}")
endif()

run_checked("conan test without OpenMP" ${conan} test "${stage}/test_package" unetpp/0.1.0
    ${settings} "-o" "unetpp/*:with_openmp=False")
message(STATUS "PASS: conan create built and ran test_package (with and without OpenMP)")
