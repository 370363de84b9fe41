# Work around a broken xsimd package (Debian 12's libxsimd-dev 8.1): its imported target
# `xsimd` links a target named `xtl` that its config file never defines, so every executable
# fails to link with "cannot find -lxtl". xsimd only needs xtl (a header-only library) for
# xtl::xcomplex support, which unetpp does not use.
#
# Prefer the real xtl package when it is installed; otherwise drop the dangling name from the
# target's link interface. Used by unetpp's own build and by the installed unetppConfig.cmake,
# right after find_package(xsimd).
if(TARGET xsimd AND NOT TARGET xtl)
    get_target_property(_unetpp_xsimd_links xsimd INTERFACE_LINK_LIBRARIES)
    if(_unetpp_xsimd_links AND "xtl" IN_LIST _unetpp_xsimd_links)
        find_package(xtl CONFIG QUIET)
        if(NOT TARGET xtl)
            list(REMOVE_ITEM _unetpp_xsimd_links xtl)
            set_property(TARGET xsimd PROPERTY INTERFACE_LINK_LIBRARIES "${_unetpp_xsimd_links}")
        endif()
    endif()
    unset(_unetpp_xsimd_links)
endif()
