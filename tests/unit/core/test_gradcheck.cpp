// The public gradient checker (include/unetpp/testing/gradcheck.hpp) on a user-written layer:
// y = a * x^2 + b with a trainable a and b. The right backward passes; a backward with a wrong
// input gradient or a wrong parameter gradient fails, and the report names the tensor.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <unetpp/testing/gradcheck.hpp>

namespace {

using namespace unetpp;

enum class bug { none, input, parameter };

template <bug Bug>
struct square_scale {
    using value_type = double;
    tensor<double> a{shape4{1, 1, 1, 1}}, b{shape4{1, 1, 1, 1}}, ga{a.shape()}, gb{b.shape()};
    tensor<double> y, dx;
    square_scale() {
        a[0] = 0.7;
        b[0] = -0.2;
    }
    const tensor<double>& forward(const tensor<double>& x) {
        y = tensor<double>(x.shape());
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = a[0] * x[i] * x[i] + b[0];
        return y;
    }
    const tensor<double>& backward(const tensor<double>& x, const tensor<double>& dy) {
        dx = tensor<double>(x.shape());
        for (std::size_t i = 0; i < x.size(); ++i) {
            dx[i] = dy[i] * 2 * a[0] * x[i] * (Bug == bug::input && i == 3 ? 1.5 : 1.0);
            ga[0] += dy[i] * x[i] * x[i] * (Bug == bug::parameter ? 0.9 : 1.0);
            gb[0] += dy[i];
        }
        return dx;
    }
    template <class F>
    void visit_parameters(std::string_view, F&& f) {
        f("a", a, ga);
        f("b", b, gb);
    }
};

}  // namespace

TEST_CASE("check_gradients: a correct user layer passes, every derivative compared") {
    square_scale<bug::none> l;
    const auto rep = testing::check_gradients(l, shape4{2, 1, 3, 3});
    CHECK(rep.ok);
    CHECK(rep.checked == 18 + 2);
    CHECK(rep.where.empty());
    CHECK(l.a[0] == 0.7);  // parameters restored after probing
}

TEST_CASE("check_gradients: a wrong input gradient fails and is located") {
    square_scale<bug::input> l;
    const auto rep = testing::check_gradients(l, shape4{2, 1, 3, 3});
    CHECK_FALSE(rep.ok);
    CHECK(rep.where.rfind("input[3]:", 0) == 0);
    CHECK(rep.worst > 0.3);
}

TEST_CASE("check_gradients: a wrong parameter gradient fails and is named") {
    square_scale<bug::parameter> l;
    const auto rep = testing::check_gradients(l, shape4{1, 1, 4, 4});
    CHECK_FALSE(rep.ok);
    CHECK(rep.where.rfind("a[0]:", 0) == 0);
}

TEST_CASE("check_gradients: sampling caps the number of probes per tensor") {
    square_scale<bug::none> l;
    const auto rep = testing::check_gradients(l, shape4{4, 1, 8, 8}, {.max_checks_per_tensor = 10});
    CHECK(rep.ok);
    CHECK(rep.checked == 10 + 1 + 1);
}
