// Writes damaged copies of a checkpoint for the tool tests (tests/tools/checkpoint_path.cmake):
//
//   unetpp_damage_checkpoint nan  IN OUT   the first model tensor's first value set to NaN, the
//                                          file rewritten with valid checksums (only the finite
//                                          check of the loaders can catch it)
//   unetpp_damage_checkpoint flip IN OUT   one exponent bit of the first model tensor flipped
//                                          in the bytes, checksums left as they were (the
//                                          checksum check catches it)
//   unetpp_damage_checkpoint plain IN OUT  not damage: the model tensors without the training
//                                          record (unetpp.extra.*) and optimiser state, as a
//                                          plain weights file (predicted at the native scale)
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

const char* plain_or(const std::string& mode) { return mode == "plain" ? "plain weights, first tensor" : "damaged"; }

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc == 4 ? argv[1] : "";
    if (mode != "nan" && mode != "flip" && mode != "plain") {
        std::fprintf(stderr, "usage: unetpp_damage_checkpoint nan|flip|plain IN OUT\n");
        return 2;
    }
    try {
        namespace io = unetpp::io;
        const io::safetensors_file f = io::safetensors_file::load(argv[2]);
        const std::string victim = first_model_tensor(f);
        if (mode == "nan" || mode == "plain") {
            const bool plain = mode == "plain";
            io::safetensors_writer w;
            for (const auto& [k, v] : f.metadata())  // checksums are recomputed
                if (!plain || (k.rfind("unetpp.extra.", 0) != 0 && k.rfind("unetpp.checkpoint.", 0) != 0 &&
                               k.rfind("unetpp.optim.", 0) != 0 && k.rfind("unetpp.train.", 0) != 0 &&
                               k.rfind("unetpp.schedule.", 0) != 0))
                    w.set_metadata(k, v);
            for (const auto& n : f.names()) {
                if (plain && n.rfind("optim.", 0) == 0) continue;
                unetpp::tensor<float> t = f.get<float>(n);
                if (n == victim && !plain) t[0] = std::numeric_limits<float>::quiet_NaN();
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
        std::printf("%s: %s %s\n", argv[3], plain_or(mode), victim.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unetpp_damage_checkpoint: %s\n", e.what());
        return 1;
    }
}
