// Compares the model tensors of two checkpoints for the tool tests (tests/tools/mpi_train.cmake):
//
//   unetpp_compare_checkpoints A B BOUND
//
// prints the largest absolute difference over the F32 model tensors (not the optimiser state,
// "optim.*") and the tensor that holds it, and exits 0 when it is at most BOUND (0: bit-equal
// values), 1 when it is larger, 2 when the files cannot be compared (unreadable, or other tensor
// names or shapes).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <unetpp/io/safetensors.hpp>

namespace {

std::vector<std::string> model_tensors(const unetpp::io::safetensors_file& f) {
    std::vector<std::string> out;
    for (const auto& n : f.names())
        if (n.rfind("optim.", 0) != 0 && f.dtype(n) == "F32") out.push_back(n);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: unetpp_compare_checkpoints A B BOUND\n");
        return 2;
    }
    try {
        namespace io = unetpp::io;
        char* end = nullptr;
        const double bound = std::strtod(argv[3], &end);
        if (*end != '\0' || !(bound >= 0)) throw std::invalid_argument(std::string("BOUND '") + argv[3] + "' is not a number >= 0");
        const io::safetensors_file a = io::safetensors_file::load(argv[1]);
        const io::safetensors_file b = io::safetensors_file::load(argv[2]);
        const std::vector<std::string> names = model_tensors(a);
        if (names.empty()) throw std::runtime_error(std::string(argv[1]) + " holds no F32 model tensor");
        if (names != model_tensors(b)) throw std::runtime_error("the two files hold other model tensors");
        double largest = 0.0;
        std::size_t values = 0, differing = 0;
        std::string where = "(none)";
        for (const auto& n : names) {
            if (a.shape(n) != b.shape(n)) throw std::runtime_error("tensor " + n + " has another shape in the second file");
            const auto x = a.get<float>(n), y = b.get<float>(n);
            for (std::size_t i = 0; i < x.size(); ++i) {
                const double d = std::fabs(static_cast<double>(x[i]) - static_cast<double>(y[i]));
                if (!(d <= largest) || std::isnan(d)) {
                    largest = std::isnan(d) ? INFINITY : d;
                    where = n;
                }
                differing += x[i] != y[i];
            }
            values += x.size();
        }
        std::printf("%zu model tensors, %zu values, %zu differ; largest difference %.3g (tensor %s), bound %.3g\n",
                    names.size(), values, differing, largest, where.c_str(), bound);
        return largest <= bound ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unetpp_compare_checkpoints: %s\n", e.what());
        return 2;
    }
}
