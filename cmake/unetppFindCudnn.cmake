# Locate cuDNN and define the imported target `unetpp::cudnn`.
#
# cuDNN ships no CMake package, so unetpp finds it here, both while building unetpp and from the
# installed unetppConfig.cmake. Hints, in order: the cache/environment variable CUDNN_ROOT, the
# CUDA toolkit found by find_package(CUDAToolkit), /usr/local/cuda, then the system paths.
# Sets UNETPP_CUDNN_FOUND, UNETPP_CUDNN_LIBRARY and UNETPP_CUDNN_INCLUDE_DIR; the caller decides
# what a missing cuDNN means (an error in unetpp's build, unetpp_FOUND=FALSE in the package).
if(TARGET unetpp::cudnn)
    set(UNETPP_CUDNN_FOUND TRUE)
    return()
endif()

set(_unetpp_cudnn_hints)
if(CUDNN_ROOT)
    list(APPEND _unetpp_cudnn_hints "${CUDNN_ROOT}")
endif()
if(DEFINED ENV{CUDNN_ROOT})
    list(APPEND _unetpp_cudnn_hints "$ENV{CUDNN_ROOT}")
endif()
if(CUDAToolkit_LIBRARY_ROOT)
    list(APPEND _unetpp_cudnn_hints "${CUDAToolkit_LIBRARY_ROOT}")
endif()
if(CUDAToolkit_TARGET_DIR)
    list(APPEND _unetpp_cudnn_hints "${CUDAToolkit_TARGET_DIR}")
endif()
list(APPEND _unetpp_cudnn_hints /usr/local/cuda)

find_library(UNETPP_CUDNN_LIBRARY
    NAMES cudnn
    HINTS ${_unetpp_cudnn_hints} ${CUDAToolkit_LIBRARY_DIR}
    PATH_SUFFIXES lib64 lib lib/x64
    DOC "cuDNN library used by the unetpp CUDA backend")
find_path(UNETPP_CUDNN_INCLUDE_DIR
    NAMES cudnn.h
    HINTS ${_unetpp_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include
    DOC "Directory holding cudnn.h")
unset(_unetpp_cudnn_hints)

if(UNETPP_CUDNN_LIBRARY AND UNETPP_CUDNN_INCLUDE_DIR)
    set(UNETPP_CUDNN_FOUND TRUE)
    add_library(unetpp::cudnn UNKNOWN IMPORTED)
    set_target_properties(unetpp::cudnn PROPERTIES
        IMPORTED_LOCATION "${UNETPP_CUDNN_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${UNETPP_CUDNN_INCLUDE_DIR}")
else()
    set(UNETPP_CUDNN_FOUND FALSE)
endif()
