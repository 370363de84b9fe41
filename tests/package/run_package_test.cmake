# ctest driver for the packaging tests; run with -P. MODE is one of:
#
#   install           install UNETPP_BINARY_DIR into PREFIX and check what was installed
#   find_package      configure, build and run CONSUMER_SOURCE with CMAKE_PREFIX_PATH=PREFIX
#   pkg_config        compile CONSUMER_SOURCE/main.cpp with the flags from PREFIX's unetpp.pc
#   add_subdirectory  configure, build and run CONSUMER_SOURCE with UNETPP_ROOT=UNETPP_SOURCE_DIR
#   fetchcontent      pack the checkout into a .tar.gz (the files git would ship), then configure,
#                     build and run CONSUMER_SOURCE, which fetches that archive by URL
#   conan             `conan create` the real conanfile.py in a throw-away CONAN_HOME, with the
#                     test-only eigen/xsimd recipes of tests/package/conan; skips without conan
#   vcpkg_manifest    check ports/unetpp/vcpkg.json with tests/package/vcpkg/check_manifest.py
#   vcpkg_port        run ports/unetpp/portfile.cmake with stand-ins for the vcpkg helper
#                     functions (plain CMake steps), then build CONSUMER_SOURCE against the result
#
# Consumers are configured from scratch each run so a stale cache cannot hide a broken package.
# A test that cannot run here records a skip (tests/cmake/unetppSkip.cmake); the ctest runs this
# script through tests/support/run_skippable.sh, which then exits 77 and prints the reason.
cmake_minimum_required(VERSION 3.23)

cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)

function(run_checked what)
    string(REPLACE ";" " " shown "${ARGN}")
    message(STATUS "${what}: ${shown}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "FAIL: ${what} exited with ${rc}\ncommand: ${shown}")
    endif()
endfunction()

function(configure_consumer)
    file(REMOVE_RECURSE "${CONSUMER_BINARY}")
    set(args -S "${CONSUMER_SOURCE}" -B "${CONSUMER_BINARY}" -G "${GENERATOR}"
        "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
        ${ARGN})
    if(NOT CONFIG STREQUAL "")
        list(APPEND args "-DCMAKE_BUILD_TYPE=${CONFIG}")
    endif()
    run_checked("configure consumer" "${CMAKE_EXE}" ${args})
endfunction()

include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")

# Checks shared by the find_package-style consumers: the package must come from `prefix`.
function(check_found_in prefix)
    file(STRINGS "${CONSUMER_BINARY}/CMakeCache.txt" found_dir REGEX "^unetpp_DIR:")
    string(FIND "${found_dir}" "${prefix}/" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "FAIL: the consumer found unetpp outside ${prefix}: ${found_dir}")
    endif()
endfunction()

function(build_and_run_consumer)
    set(args --build "${CONSUMER_BINARY}" --parallel ${jobs})
    if(NOT CONFIG STREQUAL "")
        list(APPEND args --config "${CONFIG}")
    endif()
    run_checked("build consumer" "${CMAKE_EXE}" ${args})
    foreach(candidate IN ITEMS "${CONSUMER_BINARY}/${CONFIG}/consumer" "${CONSUMER_BINARY}/consumer")
        if(EXISTS "${candidate}" AND NOT IS_DIRECTORY "${candidate}")
            run_checked("run consumer" "${candidate}")
            return()
        endif()
    endforeach()
    message(FATAL_ERROR "FAIL: the consumer executable was not found under ${CONSUMER_BINARY}")
endfunction()

if(MODE STREQUAL "install")
    file(REMOVE_RECURSE "${PREFIX}")
    set(args --install "${UNETPP_BINARY_DIR}" --prefix "${PREFIX}")
    if(NOT CONFIG STREQUAL "")
        list(APPEND args --config "${CONFIG}")
    endif()
    run_checked("install" "${CMAKE_EXE}" ${args})

    file(GLOB_RECURSE config_dir "${PREFIX}/*/unetppConfig.cmake")
    if(NOT config_dir)
        message(FATAL_ERROR "FAIL: no unetppConfig.cmake under ${PREFIX}")
    endif()
    list(GET config_dir 0 config_file)
    get_filename_component(config_dir "${config_file}" DIRECTORY)
    foreach(f IN ITEMS unetppConfigVersion.cmake unetppTargets.cmake)
        if(NOT EXISTS "${config_dir}/${f}")
            message(FATAL_ERROR "FAIL: ${config_dir}/${f} was not installed")
        endif()
    endforeach()
    file(GLOB_RECURSE pc_file "${PREFIX}/*/pkgconfig/unetpp.pc")
    if(NOT pc_file)
        message(FATAL_ERROR "FAIL: unetpp.pc was not installed")
    endif()
    # Every header in the source tree must be installed. The header list is globbed at configure
    # time, so a header added since then shows up here until the build re-runs CMake.
    file(GLOB_RECURSE source_headers RELATIVE "${UNETPP_SOURCE_DIR}/include"
        "${UNETPP_SOURCE_DIR}/include/unetpp/*")
    foreach(h IN LISTS source_headers)
        if(NOT EXISTS "${PREFIX}/include/${h}")
            message(FATAL_ERROR "FAIL: include/${h} was not installed under ${PREFIX}/include "
                "(rebuild so CMake re-globs the headers)")
        endif()
    endforeach()

    # The exported target must leave the ISA to the consumer and must not point back into the
    # source or build tree (the package has to work once those are gone).
    file(GLOB targets_files "${config_dir}/unetppTargets*.cmake")
    foreach(f IN LISTS targets_files)
        file(READ "${f}" text)
        if(text MATCHES "march")
            message(FATAL_ERROR "FAIL: ${f} exports an -march flag")
        endif()
        foreach(tree IN ITEMS "${UNETPP_SOURCE_DIR}" "${UNETPP_BINARY_DIR}")
            string(FIND "${text}" "${tree}/" at)
            if(NOT at EQUAL -1)
                message(FATAL_ERROR "FAIL: ${f} refers to ${tree}")
            endif()
        endforeach()
    endforeach()
    message(STATUS "PASS: unetpp installed into ${PREFIX}")

elseif(MODE STREQUAL "find_package")
    configure_consumer("-DCMAKE_PREFIX_PATH=${PREFIX}")
    # Make sure the package came from PREFIX, not from some system-wide installation.
    check_found_in("${PREFIX}")
    build_and_run_consumer()
    message(STATUS "PASS: find_package consumer built and ran")

elseif(MODE STREQUAL "pkg_config")
    file(REMOVE_RECURSE "${CONSUMER_BINARY}")
    file(MAKE_DIRECTORY "${CONSUMER_BINARY}")
    file(GLOB_RECURSE pc_file "${PREFIX}/*/pkgconfig/unetpp.pc")
    if(NOT pc_file)
        message(FATAL_ERROR "FAIL: unetpp.pc was not installed under ${PREFIX}")
    endif()
    list(GET pc_file 0 pc_file)
    get_filename_component(pc_dir "${pc_file}" DIRECTORY)
    execute_process(
        COMMAND "${CMAKE_EXE}" -E env "PKG_CONFIG_PATH=${pc_dir}" "${PKG_CONFIG}" --cflags --libs unetpp
        RESULT_VARIABLE rc OUTPUT_VARIABLE pc_flags ERROR_VARIABLE pc_err
        OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "FAIL: pkg-config --cflags --libs unetpp: ${pc_err}")
    endif()
    separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
    set(exe "${CONSUMER_BINARY}/consumer")
    run_checked("compile with pkg-config flags"
        "${CXX_COMPILER}" -std=c++20 -O2 "${CONSUMER_SOURCE}/main.cpp" ${pc_flags} -o "${exe}")
    run_checked("run consumer" "${exe}")
    message(STATUS "PASS: pkg-config consumer built and ran")

elseif(MODE STREQUAL "add_subdirectory")
    configure_consumer("-DUNETPP_ROOT=${UNETPP_SOURCE_DIR}")
    build_and_run_consumer()
    message(STATUS "PASS: add_subdirectory consumer built and ran")

elseif(MODE STREQUAL "fetchcontent")
    include("${CMAKE_CURRENT_LIST_DIR}/fetchcontent/source_archive.cmake")
    set(archive "${CONSUMER_BINARY}-archive/unetpp-src.tar.gz")
    unetpp_make_source_archive("${UNETPP_SOURCE_DIR}" "${archive}" archive_hash)
    configure_consumer(
        "-DUNETPP_URL=file://${archive}"
        "-DUNETPP_URL_SHA256=${archive_hash}")
    build_and_run_consumer()
    message(STATUS "PASS: FetchContent consumer built and ran from the source archive")

elseif(MODE STREQUAL "conan")
    include("${CMAKE_CURRENT_LIST_DIR}/conan/run_conan_test.cmake")

elseif(MODE STREQUAL "vcpkg_manifest")
    if(NOT PYTHON3)
        unetpp_skip_installable("python3 (to check ports/unetpp/vcpkg.json)"
            "scripts/install_deps.sh installs it (Debian package python3-venv pulls in python3)")
        return()
    endif()
    run_checked("check vcpkg.json" "${PYTHON3}"
        "${CMAKE_CURRENT_LIST_DIR}/vcpkg/check_manifest.py"
        "${UNETPP_SOURCE_DIR}/ports/unetpp" "${UNETPP_SOURCE_DIR}")

elseif(MODE STREQUAL "vcpkg_port")
    include("${CMAKE_CURRENT_LIST_DIR}/vcpkg/run_portfile.cmake")

else()
    message(FATAL_ERROR "run_package_test.cmake: unknown MODE '${MODE}'")
endif()
