#pragma once
// The doctest face of the public gradient checker (include/unetpp/testing/gradcheck.hpp): the
// tests call check_layer_gradients, which CHECKs the report. Test support only; not installed.

#include <doctest/doctest.h>

#include <unetpp/testing/gradcheck.hpp>

namespace unetpp::test {

using gradcheck_opts = testing::gradcheck_options;
using grad_report = testing::gradcheck_report;
using testing::dot;
using testing::fill_normal;
using testing::probe_indices;

/// testing::check_gradients, with the outcome CHECKed (the worst mismatch in the message).
template <class L>
void check_layer_gradients(L& layer, shape4 in_shape, const gradcheck_opts& o = {}) {
    const grad_report rep = testing::check_gradients(layer, in_shape, o);
    INFO("checked " << rep.checked << " derivatives; worst: " << rep.where);
    CHECK(rep.checked > 0);
    CHECK(rep.ok);
}

}  // namespace unetpp::test
