// The unetpp::kernels library: the fast float kernels and the Eigen-based dense kernels, compiled
// once. A program that links unetpp::kernels gets UNETPP_SEPARATE_KERNELS on every TU, which then
// sees only the kernels' declarations (include/unetpp/backend/cpu/kernels/api.hpp). The library
// is optional: without it every kernel is compiled inline where it is used (header-only).
#ifndef UNETPP_SEPARATE_KERNELS
#error "compile src/kernels.cpp through the unetpp::kernels CMake target, which defines UNETPP_SEPARATE_KERNELS"
#endif
#define UNETPP_BUILDING_KERNELS 1

#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/backend/cpu/kernels/conv_transpose2d.hpp>
#include <unetpp/backend/cpu/kernels/dense.hpp>

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

// The dense kernels are templates (the reference backend and gradient checks use double).
template void dense_forward<float>(const float*, const float*, const float*, float*, int, int, int);
template void dense_forward<double>(const double*, const double*, const double*, double*, int, int, int);
template void dense_backward<float>(const float*, const float*, const float*, float*, float*, float*, int, int, int);
template void dense_backward<double>(const double*, const double*, const double*, double*, double*, double*, int,
                                     int, int);

}  // namespace unetpp::backend::cpu_kernels
