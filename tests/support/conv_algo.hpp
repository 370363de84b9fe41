#pragma once
// Forces a convolution algorithm for a scope and puts back the one that was in force (which may
// come from UNETPP_CONV_ALGO), for tests that need the direct kernels or Winograd specifically.
// Test support only; not installed.

#include <unetpp/backend/cpu/kernels/conv2d.hpp>

namespace unetpp::test {

class conv_algo_scope {
public:
    explicit conv_algo_scope(backend::cpu_kernels::conv_algo a) { backend::cpu_kernels::set_conv2d_algorithm(a); }
    ~conv_algo_scope() { backend::cpu_kernels::set_conv2d_algorithm(keep_); }
    conv_algo_scope(const conv_algo_scope&) = delete;
    conv_algo_scope& operator=(const conv_algo_scope&) = delete;

private:
    backend::cpu_kernels::conv_algo keep_ = backend::cpu_kernels::conv2d_algorithm();
};

}  // namespace unetpp::test
