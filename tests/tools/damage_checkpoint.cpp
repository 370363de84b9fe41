// Writes damaged copies of a checkpoint for the tool tests (tests/tools/checkpoint_path.cmake):
//
//   unetpp_damage_checkpoint nan  IN OUT   the first model tensor's first value set to NaN, the
//                                          file rewritten with valid checksums (only the finite
//                                          check of the loaders can catch it)
//   unetpp_damage_checkpoint flip IN OUT   one exponent bit of the first model tensor flipped
//                                          in the bytes, checksums left as they were (the
//                                          checksum check catches it)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <unetpp/io/safetensors.hpp>

namespace {

/// The first tensor that is part of the model (not optimiser state).
std::string first_model_tensor(const unetpp::io::safetensors_file& f) {
    for (const auto& n : f.names())
        if (n.rfind("optim.", 0) != 0 && f.dtype(n) == "F32") return n;
    throw std::runtime_error("no F32 model tensor in the file");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || (std::strcmp(argv[1], "nan") != 0 && std::strcmp(argv[1], "flip") != 0)) {
        std::fprintf(stderr, "usage: unetpp_damage_checkpoint nan|flip IN OUT\n");
        return 2;
    }
    try {
        namespace io = unetpp::io;
        const io::safetensors_file f = io::safetensors_file::load(argv[2]);
        const std::string victim = first_model_tensor(f);
        if (std::strcmp(argv[1], "nan") == 0) {
            io::safetensors_writer w;
            for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);  // checksums are recomputed
            for (const auto& n : f.names()) {
                unetpp::tensor<float> t = f.get<float>(n);
                if (n == victim) t[0] = std::numeric_limits<float>::quiet_NaN();
                w.add(n, t, f.shape(n));
            }
            w.save(argv[3]);
        } else {
            std::ifstream in(argv[2], std::ios::binary);
            std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            std::uint64_t header = 0;
            std::memcpy(&header, bytes.data(), 8);  // little-endian length of the JSON header
            const std::size_t at = 8 + header + f.entry(victim).begin + 3;  // high byte of the first float
            bytes.at(at) ^= 0x40;                                              // an exponent bit
            std::ofstream out(argv[3], std::ios::binary);
            out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
            if (!out) throw std::runtime_error("cannot write the output");
        }
        std::printf("%s: damaged %s\n", argv[3], victim.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unetpp_damage_checkpoint: %s\n", e.what());
        return 1;
    }
}
