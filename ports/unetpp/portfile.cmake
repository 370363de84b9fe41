# vcpkg overlay port for unetpp (header-only).
#
#   vcpkg install unetpp --overlay-ports=<unetpp checkout>/ports
#
# Before use, set UNETPP_GIT_URL to the repository you fetch unetpp from and UNETPP_GIT_REF to
# the full commit hash to package (vcpkg_from_git needs a commit, not a branch or tag name).
set(UNETPP_GIT_URL "https://git.example.invalid/unetpp.git")
set(UNETPP_GIT_REF "0000000000000000000000000000000000000000")

# Header-only: there is nothing to build per configuration, so only the release tree is made.
set(VCPKG_BUILD_TYPE release)

vcpkg_from_git(
    OUT_SOURCE_PATH SOURCE_PATH
    URL "${UNETPP_GIT_URL}"
    REF "${UNETPP_GIT_REF}"
)

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        openmp  UNETPP_WITH_OPENMP
        cuda    UNETPP_WITH_CUDA
)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DUNETPP_INSTALL=ON
        -DUNETPP_BUILD_TESTS=OFF
        -DUNETPP_BUILD_EXAMPLES=OFF
        -DUNETPP_BUILD_BENCH=OFF
        -DUNETPP_BUILD_TOOLS=OFF
        -DUNETPP_NATIVE=OFF
        -DUNETPP_WITH_LIBJPEG=ON
)
vcpkg_cmake_install()

# unetpp installs its CMake package under share/cmake/unetpp; vcpkg wants it in share/unetpp.
vcpkg_cmake_config_fixup(PACKAGE_NAME unetpp CONFIG_PATH share/cmake/unetpp)
vcpkg_fixup_pkgconfig()

# Header-only: no debug tree, no libraries.
file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug/include"
    "${CURRENT_PACKAGES_DIR}/debug/share"
)
foreach(dir IN ITEMS "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/debug")
    if(IS_DIRECTORY "${dir}")
        file(GLOB_RECURSE leftovers "${dir}/*")
        if(NOT leftovers)
            file(REMOVE_RECURSE "${dir}")
        endif()
    endif()
endforeach()

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
if(EXISTS "${SOURCE_PATH}/LICENSE")
    vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
else()
    # unetpp 0.1.0 has no license file yet; vcpkg still requires share/<port>/copyright.
    file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
        "unetpp ${VERSION} is distributed without a license file. Ask the authors for terms of use.\n")
endif()
