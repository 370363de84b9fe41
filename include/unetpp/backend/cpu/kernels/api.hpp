#pragma once
// How the fast float kernels are compiled: in every translation unit (the default, header-only)
// or once, in the unetpp::kernels library.
//
// Header-only (default): the kernels' definitions are visible everywhere and `inline`.
//
// Compiled once: a program that links the CMake target unetpp::kernels gets UNETPP_SEPARATE_KERNELS
// defined. Its translation units then see only the declarations of the fast kernels (and of the
// Eigen-based dense kernels), not their definitions and not Eigen, and the library supplies them.
// This takes the kernels and Eigen out of every TU that instantiates a network, which is most of
// the compile time left after the layers share their run-time code (docs/ARCHITECTURES.md, compile
// time). The library compiles the definitions with UNETPP_BUILDING_KERNELS defined.
//
// A program must use one mode everywhere: the target sets the macro for every TU that links it.

#if defined(UNETPP_SEPARATE_KERNELS)
#define UNETPP_KERNEL_API
#else
#define UNETPP_KERNEL_API inline
#endif

// Whether this translation unit compiles the kernels' definitions.
#if !defined(UNETPP_SEPARATE_KERNELS) || defined(UNETPP_BUILDING_KERNELS)
#define UNETPP_KERNEL_DEFINITIONS 1
#else
#define UNETPP_KERNEL_DEFINITIONS 0
#endif
