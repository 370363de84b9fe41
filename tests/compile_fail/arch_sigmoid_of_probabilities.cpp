// expect: heads::sigmoid: the argument is already probabilities
#include <unetpp/unet.hpp>
using namespace unetpp;
// Applying sigmoid twice: the second call gets probabilities.
int main() {
    tensor<float> t(shape4{1, 1, 2, 2});
    heads::logits<float> z(t);
    auto p = heads::sigmoid(z);
    auto q = heads::sigmoid(p);
    (void)q;
}
