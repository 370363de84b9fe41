# Locate GDCM (DICOM) and nifticlib (NIfTI) and define the imported targets `unetpp::gdcm` and
# `unetpp::nifti`, used by unetpp::medical.
#
# Why not find_package(GDCM) / find_package(NIFTI): Debian 12's packages install CMake config
# files that cannot be loaded as shipped. GDCMTargets.cmake checks for the command-line tools
# (/usr/bin/gdcmdump, ... from libgdcm-tools) and NIFTITargets.cmake for /usr/lib/libznz.so.3.0.0
# (the library is in /usr/lib/<multiarch>); either failure stops the configure step with an error
# that QUIET does not silence. So unetpp looks for the headers and libraries itself, here, both
# while building unetpp and from the installed unetppConfig.cmake. Hints: GDCM_ROOT and
# NIFTI_ROOT (cache or environment variables), then the system paths.
#
# Sets UNETPP_GDCM_FOUND and UNETPP_NIFTI_FOUND; the caller decides what a missing library means.
if(NOT TARGET unetpp::gdcm)
    set(_unetpp_gdcm_hints)
    foreach(_v IN ITEMS GDCM_ROOT)
        if(${_v})
            list(APPEND _unetpp_gdcm_hints "${${_v}}")
        endif()
        if(DEFINED ENV{${_v}})
            list(APPEND _unetpp_gdcm_hints "$ENV{${_v}}")
        endif()
    endforeach()
    find_path(UNETPP_GDCM_INCLUDE_DIR NAMES gdcmImageReader.h
        HINTS ${_unetpp_gdcm_hints}
        PATH_SUFFIXES include/gdcm-3.0 include/gdcm-3.1 include/gdcm-3.2 gdcm-3.0 gdcm-3.1 gdcm-3.2 include
        DOC "Directory holding gdcmImageReader.h (GDCM 3)")
    set(_unetpp_gdcm_libs)
    set(_unetpp_gdcm_ok TRUE)
    # gdcmMSFF (images), gdcmDICT (the data dictionary), gdcmDSED (data sets), gdcmCommon; the codecs
    # come in as their dependencies.
    foreach(_lib IN ITEMS gdcmMSFF gdcmDICT gdcmDSED gdcmCommon)
        find_library(UNETPP_${_lib}_LIBRARY NAMES ${_lib} HINTS ${_unetpp_gdcm_hints} PATH_SUFFIXES lib lib64)
        if(UNETPP_${_lib}_LIBRARY)
            list(APPEND _unetpp_gdcm_libs "${UNETPP_${_lib}_LIBRARY}")
        else()
            set(_unetpp_gdcm_ok FALSE)
        endif()
    endforeach()
    if(_unetpp_gdcm_ok AND UNETPP_GDCM_INCLUDE_DIR)
        add_library(unetpp::gdcm INTERFACE IMPORTED)
        set_target_properties(unetpp::gdcm PROPERTIES
            INTERFACE_INCLUDE_DIRECTORIES "${UNETPP_GDCM_INCLUDE_DIR}"
            INTERFACE_LINK_LIBRARIES "${_unetpp_gdcm_libs}")
    endif()
    unset(_unetpp_gdcm_hints)
    unset(_unetpp_gdcm_libs)
    unset(_unetpp_gdcm_ok)
endif()
if(TARGET unetpp::gdcm)
    set(UNETPP_GDCM_FOUND TRUE)
else()
    set(UNETPP_GDCM_FOUND FALSE)
endif()

if(NOT TARGET unetpp::nifti)
    set(_unetpp_nifti_hints)
    if(NIFTI_ROOT)
        list(APPEND _unetpp_nifti_hints "${NIFTI_ROOT}")
    endif()
    if(DEFINED ENV{NIFTI_ROOT})
        list(APPEND _unetpp_nifti_hints "$ENV{NIFTI_ROOT}")
    endif()
    find_path(UNETPP_NIFTI_INCLUDE_DIR NAMES nifti2_io.h
        HINTS ${_unetpp_nifti_hints} PATH_SUFFIXES include/nifti nifti include
        DOC "Directory holding nifti2_io.h (nifticlib 3)")
    find_library(UNETPP_NIFTI2_LIBRARY NAMES nifti2 HINTS ${_unetpp_nifti_hints} PATH_SUFFIXES lib lib64)
    find_library(UNETPP_ZNZ_LIBRARY NAMES znz HINTS ${_unetpp_nifti_hints} PATH_SUFFIXES lib lib64)
    if(UNETPP_NIFTI_INCLUDE_DIR AND UNETPP_NIFTI2_LIBRARY AND UNETPP_ZNZ_LIBRARY)
        add_library(unetpp::nifti INTERFACE IMPORTED)
        set_target_properties(unetpp::nifti PROPERTIES
            INTERFACE_INCLUDE_DIRECTORIES "${UNETPP_NIFTI_INCLUDE_DIR}"
            INTERFACE_LINK_LIBRARIES "${UNETPP_NIFTI2_LIBRARY};${UNETPP_ZNZ_LIBRARY}")
    endif()
    unset(_unetpp_nifti_hints)
endif()
if(TARGET unetpp::nifti)
    set(UNETPP_NIFTI_FOUND TRUE)
else()
    set(UNETPP_NIFTI_FOUND FALSE)
endif()
