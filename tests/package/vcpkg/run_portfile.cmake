# Included by run_package_test.cmake for MODE=vcpkg_port. Inputs: UNETPP_SOURCE_DIR,
# CONSUMER_SOURCE, CONSUMER_BINARY, CMAKE_EXE, GENERATOR, CXX_COMPILER, CONFIG, PKG_CONFIG.
#
# The vcpkg tool cannot run here (no network, no vcpkg checkout), so this runs the real
# ports/unetpp/portfile.cmake with small stand-ins for the vcpkg helper functions it calls. Each
# stand-in does the plain CMake step the real helper does for a header-only port:
#
#   vcpkg_from_git            checks URL and a 40-hex REF were given; the source is this checkout
#   vcpkg_check_features      the real mapping: -D<option>=ON/OFF from FEATURES (default: openmp)
#   vcpkg_cmake_configure     cmake -S <source> -B <buildtree> with the port's OPTIONS, a Release
#                             build type and CMAKE_INSTALL_PREFIX=<packages dir>, plus the options
#                             vcpkg itself always passes that matter here
#   vcpkg_cmake_install       cmake --build <buildtree> --target install
#   vcpkg_cmake_config_fixup  moves CONFIG_PATH to share/<PACKAGE_NAME>, deletes a parent named
#                             cmake, and corrects the _IMPORT_PREFIX / PACKAGE_PREFIX_DIR depth
#   vcpkg_fixup_pkgconfig     sets prefix=${pcfiledir}/../.. in the installed .pc files
#   vcpkg_install_copyright   concatenates FILE_LIST into share/<port>/copyright
#
# Then it applies the post-build checks vcpkg makes on every port that matter for a header-only
# one, and builds tests/package/find_package against the resulting tree with find_package and
# with pkg-config. What this cannot prove is listed in docs/INSTALL.md.
set(work "${CONSUMER_BINARY}-port")
set(port_dir "${UNETPP_SOURCE_DIR}/ports/unetpp")
file(REMOVE_RECURSE "${work}")

file(READ "${port_dir}/vcpkg.json" manifest)
string(JSON PORT GET "${manifest}" name)
string(JSON VERSION GET "${manifest}" version)
if(NOT DEFINED FEATURES)
    set(FEATURES core)
    string(JSON n LENGTH "${manifest}" default-features)
    math(EXPR last "${n} - 1")
    foreach(i RANGE ${last})
        string(JSON f GET "${manifest}" default-features ${i})
        list(APPEND FEATURES "${f}")
    endforeach()
endif()
set(TARGET_TRIPLET x64-linux)
set(CURRENT_PACKAGES_DIR "${work}/packages/${PORT}_${TARGET_TRIPLET}")
set(CURRENT_BUILDTREES_DIR "${work}/buildtrees/${PORT}")
set(CURRENT_INSTALLED_DIR "${work}/installed/${TARGET_TRIPLET}")
set(VCPKG_TARGET_IS_LINUX ON)
message(STATUS "emulating vcpkg: port ${PORT} ${VERSION}, features ${FEATURES}")

function(vcpkg_from_git)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_SOURCE_PATH;URL;REF;FETCH_REF;HEAD_REF" "PATCHES")
    if(NOT arg_OUT_SOURCE_PATH OR NOT arg_URL OR NOT arg_REF)
        message(FATAL_ERROR "FAIL: vcpkg_from_git needs OUT_SOURCE_PATH, URL and REF")
    endif()
    if(NOT arg_REF MATCHES "^[0-9a-f]+$")
        message(FATAL_ERROR "FAIL: vcpkg_from_git REF must be a commit hash, got '${arg_REF}'")
    endif()
    message(STATUS "vcpkg_from_git: would fetch ${arg_URL} at ${arg_REF}; using ${UNETPP_SOURCE_DIR}")
    set(${arg_OUT_SOURCE_PATH} "${UNETPP_SOURCE_DIR}" PARENT_SCOPE)
endfunction()

function(vcpkg_check_features)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_FEATURE_OPTIONS" "FEATURES;INVERTED_FEATURES")
    set(out)
    set(pairs ${arg_FEATURES})
    while(pairs)
        list(POP_FRONT pairs feature option)
        if(feature IN_LIST FEATURES)
            list(APPEND out "-D${option}=ON")
        else()
            list(APPEND out "-D${option}=OFF")
        endif()
    endwhile()
    set(${arg_OUT_FEATURE_OPTIONS} "${out}" PARENT_SCOPE)
endfunction()

function(vcpkg_cmake_configure)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "SOURCE_PATH"
        "OPTIONS;OPTIONS_RELEASE;OPTIONS_DEBUG;MAYBE_UNUSED_VARIABLES")
    if(NOT VCPKG_BUILD_TYPE STREQUAL "release")
        message(FATAL_ERROR "FAIL: a header-only port should set VCPKG_BUILD_TYPE release")
    endif()
    set(build "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-rel")
    set_property(GLOBAL PROPERTY unetpp_vcpkg_build "${build}")
    run_checked("vcpkg_cmake_configure" "${CMAKE_EXE}" -S "${arg_SOURCE_PATH}" -B "${build}"
        -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
        -DCMAKE_BUILD_TYPE=Release
        "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}"
        -DCMAKE_INSTALL_LIBDIR:STRING=lib -DCMAKE_INSTALL_BINDIR:STRING=bin
        -DCMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION=ON
        -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
        -DFETCHCONTENT_FULLY_DISCONNECTED=ON
        ${arg_OPTIONS} ${arg_OPTIONS_RELEASE})
    # Record the options the port passed, so the test can show them.
    file(STRINGS "${build}/CMakeCache.txt" cached REGEX "^UNETPP_[A-Z_]+:BOOL=")
    message(STATUS "unetpp options as the port configures them: ${cached}")
endfunction()

function(vcpkg_cmake_install)
    get_property(build GLOBAL PROPERTY unetpp_vcpkg_build)
    run_checked("vcpkg_cmake_install" "${CMAKE_EXE}" --build "${build}" --target install)
endfunction()

function(vcpkg_cmake_config_fixup)
    cmake_parse_arguments(PARSE_ARGV 0 arg "DO_NOT_DELETE_PARENT_CONFIG_PATH;NO_PREFIX_CORRECTION"
        "PACKAGE_NAME;CONFIG_PATH;TOOLS_PATH" "")
    if(NOT arg_PACKAGE_NAME)
        set(arg_PACKAGE_NAME "${PORT}")
    endif()
    if(NOT arg_CONFIG_PATH)
        set(arg_CONFIG_PATH "share/${arg_PACKAGE_NAME}")
    endif()
    set(from "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}")
    set(to "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}")
    if(NOT IS_DIRECTORY "${from}")
        message(FATAL_ERROR "FAIL: vcpkg_cmake_config_fixup: '${from}' does not exist "
            "(CONFIG_PATH does not match where unetpp installs its CMake package)")
    endif()
    if(NOT from STREQUAL to)
        file(GLOB files "${from}/*")
        file(MAKE_DIRECTORY "${to}")
        file(COPY ${files} DESTINATION "${to}")
        file(REMOVE_RECURSE "${from}")
        get_filename_component(parent "${from}" DIRECTORY)
        get_filename_component(parent_name "${parent}" NAME)
        if(parent_name STREQUAL "cmake" AND NOT arg_DO_NOT_DELETE_PARENT_CONFIG_PATH)
            file(REMOVE_RECURSE "${parent}")
        endif()
    endif()
    if(NOT arg_NO_PREFIX_CORRECTION)
        # share/<name> is two levels below the prefix.
        file(GLOB cmake_files "${to}/*.cmake")
        foreach(f IN LISTS cmake_files)
            file(READ "${f}" text)
            string(REGEX REPLACE
                "get_filename_component\\(_IMPORT_PREFIX \"\\\${CMAKE_CURRENT_LIST_FILE}\" PATH\\)(\nget_filename_component\\(_IMPORT_PREFIX \"\\\${_IMPORT_PREFIX}\" PATH\\))*"
                "get_filename_component(_IMPORT_PREFIX \"\${CMAKE_CURRENT_LIST_FILE}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)"
                text "${text}")
            string(REGEX REPLACE
                "get_filename_component\\(PACKAGE_PREFIX_DIR \"\\\${CMAKE_CURRENT_LIST_DIR}/[./]*\" ABSOLUTE\\)"
                "get_filename_component(PACKAGE_PREFIX_DIR \"\${CMAKE_CURRENT_LIST_DIR}/../../\" ABSOLUTE)"
                text "${text}")
            file(WRITE "${f}" "${text}")
        endforeach()
    endif()
endfunction()

function(vcpkg_fixup_pkgconfig)
    file(GLOB_RECURSE pcs "${CURRENT_PACKAGES_DIR}/*.pc")
    foreach(pc IN LISTS pcs)
        if(pc MATCHES "/debug/")
            continue()
        endif()
        file(READ "${pc}" text)
        string(REGEX REPLACE "(^|\n)prefix=[^\n]*" "\\1prefix=\${pcfiledir}/../.." text "${text}")
        file(WRITE "${pc}" "${text}")
    endforeach()
endfunction()

function(vcpkg_install_copyright)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "COMMENT" "FILE_LIST")
    set(text "")
    foreach(f IN LISTS arg_FILE_LIST)
        file(READ "${f}" part)
        string(APPEND text "${part}")
    endforeach()
    file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
endfunction()

function(vcpkg_copy_pdbs)
endfunction()

# --- run the real portfile ------------------------------------------------------------------
include("${port_dir}/portfile.cmake")

# --- the post-build checks vcpkg would make -------------------------------------------------
set(p "${CURRENT_PACKAGES_DIR}")
foreach(required IN ITEMS "share/${PORT}/copyright" "share/${PORT}/usage"
        "share/unetpp/unetppConfig.cmake" "share/unetpp/unetppConfigVersion.cmake"
        "share/unetpp/unetppTargets.cmake" "include/unetpp/unet.hpp")
    if(NOT EXISTS "${p}/${required}")
        message(FATAL_ERROR "FAIL: ${required} is missing from the port's package")
    endif()
endforeach()
foreach(forbidden IN ITEMS debug lib bin share/cmake lib/cmake)
    if(EXISTS "${p}/${forbidden}")
        message(FATAL_ERROR "FAIL: a header-only port must not leave ${forbidden}/ behind")
    endif()
endforeach()
file(GLOB_RECURSE all_files "${p}/*")
foreach(f IN LISTS all_files)
    if(f MATCHES "\\.(cmake|pc)$")
        file(READ "${f}" text)
        foreach(tree IN ITEMS "${p}" "${UNETPP_SOURCE_DIR}" "${CURRENT_BUILDTREES_DIR}")
            string(FIND "${text}" "${tree}" at)
            if(NOT at EQUAL -1)
                message(FATAL_ERROR "FAIL: ${f} contains the absolute path ${tree}")
            endif()
        endforeach()
        if(f MATCHES "(Targets[^/]*\\.cmake|\\.pc)$" AND text MATCHES "-march")
            message(FATAL_ERROR "FAIL: ${f} exports an -march flag")
        endif()
    endif()
endforeach()
message(STATUS "port package at ${p} passes the header-only post-build checks")

# --- consume it -----------------------------------------------------------------------------
configure_consumer("-DCMAKE_PREFIX_PATH=${p}")
check_found_in("${p}")
build_and_run_consumer()

if(PKG_CONFIG)
    execute_process(
        COMMAND "${CMAKE_EXE}" -E env "PKG_CONFIG_PATH=${p}/share/pkgconfig" "${PKG_CONFIG}"
            --cflags --libs unetpp
        RESULT_VARIABLE rc OUTPUT_VARIABLE pc_flags ERROR_VARIABLE pc_err
        OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "FAIL: pkg-config on the port's unetpp.pc: ${pc_err}")
    endif()
    separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
    run_checked("compile with the port's pkg-config flags" "${CXX_COMPILER}" -std=c++20 -O2
        "${CONSUMER_SOURCE}/main.cpp" ${pc_flags} -o "${CONSUMER_BINARY}/consumer-pc")
    run_checked("run pkg-config consumer" "${CONSUMER_BINARY}/consumer-pc")
endif()
message(STATUS "PASS: the portfile's steps produced a package that find_package and pkg-config consumers use")
