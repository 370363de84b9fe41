#pragma once
/// \file Saving and loading a U-Net's parameters and buffers as safetensors, by name.
///
///   unetpp::io::save_weights(net, "model.safetensors");
///   unetpp::io::load_weights(net, "model.safetensors");   // all-or-nothing; throws on mismatch
///
/// Tensor names are the names unet::visit_parameters / visit_buffers report, which are the
/// state_dict keys of the PyTorch module in tools/unetpp_torch.py (enc1.conv1.weight,
/// enc1.bn1.running_mean, up1.bias, head.weight, ...). Shapes are stored as PyTorch stores them:
///   convolution weights   [out, in, k, k]      transposed convolutions [in, out, k, k]
///   biases, batch-norm weight/bias/running_mean/running_var   [C]
///   num_batches_tracked   [1] in the network's dtype; PyTorch keeps an int64 scalar [] (the
///                         safetensors writer has no 0-d form and the reader takes F32/F64
///                         only), so tools/unetpp_export_torch.py converts it both ways
/// Everything else loads into the PyTorch module with `load_state_dict` unchanged.
///
/// Metadata written (all strings):
///   format               "pt"
///   unetpp.describe      unet::describe(), e.g. "unet<in=1, classes=1, base=8, depth=3, ...>"
///   unetpp.config        the unet_cfg as a JSON object whose keys are the keyword arguments of
///                        unetpp_torch.UNet: {"in_channels":1,"classes":1,"base":8,"depth":3,
///                        "kernel":3,"pad":"same","norm":"batch","dropout":0,"up":"transposed"}
///   unetpp.parameters    "name=d0xd1x...;..." for every trainable parameter, in visiting order
///   unetpp.buffers       the same for the buffers
///
/// Loading (the file is untrusted):
///   - every byte of the file is validated by safetensors_file (truncation, header, offsets);
///   - the network's tensors are checked in visiting order and the FIRST problem is reported by
///     name: a missing tensor, or a shape whose element count or dimensions differ (leading 1s
///     are ignored, so [C] and unetpp's [1, 1, 1, C] agree);
///   - a tensor in the file that the network does not have is an error naming it;
///   - dtypes F32 and F64 are converted to the network's element type; others are errors;
///   - a missing `*.num_batches_tracked` is accepted (the counter is then left as it is): PyTorch
///     state_dicts saved without buffers of that kind are common and the counter does not affect
///     inference or training with a fixed momentum;
///   - when the file carries unetpp.config, its architecture fields (everything but dropout) must
///     equal the network's, unless load_options::check_config is false (shapes alone cannot tell
///     zero from reflect padding, or bilinear from nothing in some configurations);
///   - nothing is written into the network unless every check passes.
/// All errors are std::runtime_error whose message starts with "weights: <file>: ".

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../models/unet.hpp"
#include "safetensors.hpp"

namespace unetpp::inline UNETPP_ABI::io {

struct load_options {
    /// Compare the file's unetpp.config metadata (when present) with the network's unet_cfg.
    bool check_config = true;
    /// Accept a file without the batch-norm `num_batches_tracked` counters.
    bool allow_missing_num_batches_tracked = true;
};

namespace detail {

inline const char* padding_name(padding p) {
    switch (p) {
        case padding::valid: return "valid";
        case padding::same: return "same";
        case padding::reflect: return "reflect";
    }
    return "?";
}
inline const char* norm_name(norm_kind n) { return n == norm_kind::batch ? "batch" : "none"; }
inline const char* up_name(up_mode u) { return u == up_mode::bilinear ? "bilinear" : "transposed"; }

using io::json_number;

/// The unet_cfg as a flat JSON object (keys = unetpp_torch.UNet keyword arguments).
inline std::string config_json(const unet_cfg& c) {
    return std::string("{\"in_channels\":") + std::to_string(c.in_channels) +
           ",\"classes\":" + std::to_string(c.classes) + ",\"base\":" + std::to_string(c.base) +
           ",\"depth\":" + std::to_string(c.depth) + ",\"kernel\":" + std::to_string(c.kernel) + ",\"pad\":\"" +
           padding_name(c.pad) + "\",\"norm\":\"" + norm_name(c.norm) + "\",\"dropout\":" + json_number(c.dropout) +
           ",\"up\":\"" + up_name(c.up) + "\"}";
}

/// Parses a flat JSON object whose values are strings or numbers (the unetpp.config metadata)
/// into key -> value text (numbers as written). The text comes from a file: it goes through the
/// library's strict JSON reader (io/json.hpp), and nesting, arrays, booleans and null are refused.
inline std::map<std::string, std::string> parse_flat_json(std::string_view s, const std::string& what) {
    const json_value doc = json_parse(s, what + ": malformed JSON", {.max_depth = 1});
    const auto* obj = doc.object_if();
    if (!obj) throw std::runtime_error(what + ": malformed JSON: expected an object");
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : *obj) {
        if (const auto* str = v.string_if())
            out.emplace(k, *str);
        else if (const auto* num = v.number_text_if())
            out.emplace(k, *num);
        else
            throw std::runtime_error(what + ": malformed JSON: expected a string or a number for \"" + k + "\"");
    }
    return out;
}

/// Whether a name ends with "." + leaf (or is exactly leaf).
inline bool has_leaf(std::string_view name, std::string_view leaf) {
    if (name == leaf) return true;
    return name.size() > leaf.size() && name.ends_with(leaf) && name[name.size() - leaf.size() - 1] == '.';
}
inline std::string_view parent_of(std::string_view name) {
    const auto dot = name.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : name.substr(0, dot);
}

/// The tensor type of a network's parameters (in its backend's memory space).
template <class Net>
using net_tensor_t = tensor<typename Net::value_type, typename Net::backend_type::memory>;

/// One tensor of a network as weights.hpp sees it.
template <class Tensor>
struct named_tensor {
    std::string name;
    Tensor* value;
    bool buffer;
    std::vector<std::int64_t> torch_shape;
};

/// The PyTorch shape of a unetpp tensor (see the file comment).
inline std::vector<std::int64_t> torch_shape_of(std::string_view name, shape4 s, const std::set<std::string>& bn_prefixes) {
    if (has_leaf(name, "num_batches_tracked")) return {1};  // see the file comment
    const bool one_d = has_leaf(name, "bias") || has_leaf(name, "running_mean") || has_leaf(name, "running_var") ||
                       (has_leaf(name, "weight") && bn_prefixes.count(std::string(parent_of(name))));
    if (one_d || (s.n == 1 && s.c == 1 && s.h == 1 && !has_leaf(name, "weight"))) return {s.w};
    return {s.n, s.c, s.h, s.w};
}

/// Every parameter and buffer of `net`, in visiting order (parameters first).
template <class Net>
auto collect_tensors(Net& net) {
    using Tensor = net_tensor_t<Net>;
    std::vector<named_tensor<Tensor>> out;
    std::set<std::string> bn_prefixes;  // modules with running statistics are batch norms
    net.visit_buffers([&](std::string_view name, Tensor&) {
        if (has_leaf(name, "running_mean")) bn_prefixes.emplace(parent_of(name));
    });
    net.visit_parameters([&](std::string_view name, Tensor& v, Tensor&) {
        out.push_back({std::string(name), &v, false, {}});
    });
    net.visit_buffers([&](std::string_view name, Tensor& v) { out.push_back({std::string(name), &v, true, {}}); });
    for (auto& t : out) t.torch_shape = torch_shape_of(t.name, t.value->shape(), bn_prefixes);
    return out;
}

inline std::string shape_text(const std::vector<std::int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i) r += ", ";
        r += std::to_string(s[i]);
    }
    return r + "]";
}
inline std::vector<std::int64_t> strip_leading_ones(std::vector<std::int64_t> s) {
    std::size_t k = 0;
    while (k + 1 < s.size() && s[k] == 1) ++k;  // keep at least one dimension
    s.erase(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k));
    if (s.empty()) s.push_back(1);
    return s;
}
inline std::uint64_t element_count(const std::vector<std::int64_t>& s) {
    std::uint64_t n = 1;
    for (auto d : s) n *= static_cast<std::uint64_t>(d);
    return n;
}

}  // namespace detail

/// The unet_cfg of a network as the JSON text stored in the unetpp.config metadata.
inline std::string config_json(const unet_cfg& c) { return detail::config_json(c); }

/// The fields of unetpp.config metadata (a flat JSON object, as config_json writes it), each value
/// as its text ("in_channels" -> "3", "pad" -> "same"). The text is untrusted: anything else than
/// an object of strings and numbers is a std::runtime_error naming `what`.
inline std::map<std::string, std::string> config_fields(std::string_view json, const std::string& what) {
    return detail::parse_flat_json(json, what);
}

namespace detail {
/// A network object's configuration with its run-time channel counts filled in (a network with
/// runtime_channels knows them only as an object), and its name with them.
template <class Net>
unet_cfg object_cfg(const Net& net) {
    unet_cfg c = Net::cfg;
    if constexpr (requires { net.channels(); }) {
        c.in_channels = net.in_channels();
        c.classes = net.classes();
    }
    return c;
}
template <class Net>
std::string object_describe(const Net& net) {
    if constexpr (requires { Net::describe(net.channels()); })
        return Net::describe(net.channels());
    else
        return Net::describe();
}
}  // namespace detail

/// The file contents save_weights would write, as a writer (e.g. to add more tensors or
/// metadata before saving). Reads the network only (visit_* are non-const in unet).
template <class Net>
safetensors_writer weights_writer(const Net& cnet) {
    auto& net = const_cast<Net&>(cnet);  // visiting does not modify
    safetensors_writer w;
    std::string params, buffers;
    for (const auto& t : detail::collect_tensors(net)) {
        if constexpr (std::remove_pointer_t<decltype(t.value)>::host_accessible)
            w.add(t.name, *t.value, t.torch_shape);
        else
            w.add(t.name, to_host(*t.value), t.torch_shape);  // a device network's tensors are copied out
        std::string& list = t.buffer ? buffers : params;
        if (!list.empty()) list += ';';
        list += t.name + '=';
        for (std::size_t i = 0; i < t.torch_shape.size(); ++i) {
            if (i) list += 'x';
            list += std::to_string(t.torch_shape[i]);
        }
    }
    w.set_metadata("format", "pt");
    w.set_metadata("unetpp.describe", detail::object_describe(net));
    w.set_metadata("unetpp.config", detail::config_json(detail::object_cfg(net)));
    w.set_metadata("unetpp.parameters", params);
    w.set_metadata("unetpp.buffers", buffers);
    return w;
}

/// Writes every parameter and buffer of `net` to `path` atomically and durably, with CRC-32C
/// checksums (see safetensors_writer::save).
template <class Net>
void save_weights(const Net& net, const std::filesystem::path& path) {
    weights_writer(net).save(path);
}

/// Loads parameters and buffers from an already opened safetensors file (see the file comment
/// for every check). Throws std::runtime_error; `net` is untouched unless all checks pass.
template <class Net>
void load_weights(Net& net, const safetensors_file& file, const load_options& opt = {}) {
    using T = typename Net::value_type;
    using Tensor = detail::net_tensor_t<Net>;
    const std::string where = "weights: " + file.source() + ": ";
    const auto& md = file.metadata();
    const auto saved_from = [&]() -> std::string {
        const auto it = md.find("unetpp.describe");
        return it == md.end() ? std::string() : " (the file was saved from " + it->second + ")";
    };

    const auto tensors = detail::collect_tensors(net);
    std::set<std::string, std::less<>> expected;
    for (const auto& t : tensors) {
        expected.insert(t.name);
        const std::vector<std::int64_t> want{t.value->shape().n, t.value->shape().c, t.value->shape().h,
                                             t.value->shape().w};
        if (!file.contains(t.name)) {
            if (opt.allow_missing_num_batches_tracked && detail::has_leaf(t.name, "num_batches_tracked")) continue;
            throw std::runtime_error(where + "missing tensor \"" + t.name + "\" (" + detail::object_describe(net) + " expects shape " +
                                     detail::shape_text(t.torch_shape) + ")" + saved_from());
        }
        const auto& have = file.shape(t.name);
        const auto a = detail::strip_leading_ones(have), b = detail::strip_leading_ones(want);
        if (a != b) {
            const auto nh = detail::element_count(have), nw = detail::element_count(want);
            throw std::runtime_error(where + "tensor \"" + t.name + "\" has shape " + detail::shape_text(have) + " (" +
                                     std::to_string(nh) + " elements) but " + detail::object_describe(net) + " expects " +
                                     detail::shape_text(t.torch_shape) + " (" + std::to_string(nw) + " elements)" +
                                     saved_from());
        }
    }
    for (const auto& name : file.names())
        if (!expected.count(name))
            throw std::runtime_error(where + "unexpected tensor \"" + name + "\": " + detail::object_describe(net) +
                                     " has no parameter or buffer of that name" + saved_from());

    if (opt.check_config) {
        const auto it = md.find("unetpp.config");
        if (it != md.end()) {
            const auto theirs = detail::parse_flat_json(it->second, where + "metadata unetpp.config");
            const auto ours = detail::parse_flat_json(detail::config_json(detail::object_cfg(net)), "unetpp.config");
            for (const auto& [k, v] : ours) {
                if (k == "dropout") continue;  // training-only; does not change the weights' meaning
                const auto f = theirs.find(k);
                if (f == theirs.end())
                    throw std::runtime_error(where + "metadata unetpp.config lacks \"" + k + "\"");
                if (f->second != v)
                    throw std::runtime_error(where + "architecture mismatch: the file's unetpp.config has " + k + "=" +
                                             f->second + " but " + detail::object_describe(net) + " has " + k + "=" + v +
                                             " (pass load_options{.check_config = false} to load anyway)");
            }
        }
    }

    // Convert everything first, then assign: a failure leaves the network unchanged.
    std::vector<std::pair<Tensor*, tensor<T>>> staged;
    for (const auto& t : tensors) {
        if (!file.contains(t.name)) continue;
        tensor<T> v = file.get<T>(t.name);
        staged.emplace_back(t.value, std::move(v));
    }
    // Same element count (checked above); the network keeps its own shapes.
    for (auto& [dst, src] : staged) dst->copy_from_host(std::as_const(src).span());
}

/// Opens `path` and loads it into `net` (see the overload above).
template <class Net>
void load_weights(Net& net, const std::filesystem::path& path, const load_options& opt = {}) {
    load_weights(net, safetensors_file::load(path), opt);
}

}  // namespace unetpp::io
