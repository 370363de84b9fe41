// expect: heads::threshold takes probabilities, not logits
#include <unetpp/unet.hpp>
using namespace unetpp;
// Thresholding raw logits at 0.5.
int main() {
    tensor<float> t(shape4{1, 1, 2, 2});
    heads::logits<float> z(t);
    auto mask = heads::threshold(z, 0.5);
    (void)mask;
}
