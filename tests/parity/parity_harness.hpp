#pragma once
// Harness for the PyTorch parity tests: runs a unetpp layer or network forward and backward on
// seeded random data, hands everything to tests/parity/torch_parity.py (run with
// /usr/bin/python3) in a safetensors file, and compares torch's results with unetpp's.
//
// Comparison rule, per tensor: max_i |unetpp_i - torch_i| <= atol + rtol * max_i |torch_i|.
// The error is measured against the tensor's largest magnitude rather than element by element,
// because float32 sums of many terms give elements near zero a large relative error that says
// nothing about correctness. Every compared tensor is reported with a doctest MESSAGE:
//   max abs err  = max_i |unetpp_i - torch_i|
//   max rel err  = max abs err / max_i |torch_i|
//
// A case may name tensors that are exactly zero in exact arithmetic (e.g. the gradient of a bias
// that a training-mode batch norm cancels). Both sides then hold only float32 cancellation
// noise, so the relative rule is meaningless for them; instead both unetpp's and torch's values
// must stay below zero_rtol * (largest |torch| of any tensor in the case), which still catches
// any real gradient flowing into them.
//
// Test support only; not installed.

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unetpp/io/safetensors.hpp>
#include <unetpp/tensor/rng.hpp>
#include <unetpp/tensor/tensor.hpp>

#include "../support/skip.hpp"

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

#ifndef UNETPP_SOURCE_DIR
#error "UNETPP_SOURCE_DIR must name the source tree (the parity tests run tests/parity/torch_parity.py from it)"
#endif

namespace unetpp::parity {

/// The interpreter with PyTorch (other python3 interpreters on PATH may lack it). Overridable
/// at compile time, e.g. to check the skip path with an interpreter that has no torch.
#ifndef UNETPP_PARITY_PYTHON
#define UNETPP_PARITY_PYTHON "/usr/bin/python3"
#endif
inline constexpr const char* python = UNETPP_PARITY_PYTHON;

struct tolerance {
    double rtol;
    double atol;
};

/// Bound for tensors that are zero in exact arithmetic, relative to the case's largest value.
inline constexpr double zero_rtol = 1e-5;

/// Configuration strings passed to torch_parity.py as safetensors metadata.
using config = std::map<std::string, std::string>;

inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

inline int process_id() {
#if defined(_WIN32)
    return _getpid();
#else
    return static_cast<int>(getpid());
#endif
}

/// Runs a shell command with stdout and stderr sent to `log`; returns true on exit status 0.
inline bool run_command(const std::string& command, const std::filesystem::path& log) {
    const std::string full = command + " > " + shell_quote(log.string()) + " 2>&1";
    return std::system(full.c_str()) == 0;
}

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Directory for this process's case files: <temp>/unetpp_parity_<pid>. Files of passing cases
/// are deleted as they finish; the directory is removed at exit when nothing is left in it.
inline const std::filesystem::path& work_dir() {
    struct dir_holder {
        std::filesystem::path path;
        dir_holder() : path(std::filesystem::temp_directory_path() / ("unetpp_parity_" + std::to_string(process_id()))) {
            std::filesystem::create_directories(path);
        }
        ~dir_holder() {
            std::error_code ec;
            std::filesystem::remove(path, ec);  // fails, harmlessly, while files are kept in it
        }
    };
    static const dir_holder dir;
    return dir.path;
}

/// Whether /usr/bin/python3 can import torch (checked once per process).
inline bool torch_available() {
    static const bool ok = [] {
        const auto log = work_dir() / "torch_check.log";
        const bool r = run_command(shell_quote(python) + " -c \"import torch\"", log);
        std::error_code ec;
        std::filesystem::remove(log, ec);
        return r;
    }();
    return ok;
}

/// Skips the test case (tests/support/skip.hpp: exit 77, or a failure under CI=true since the
/// install script provides torch) when torch is unavailable. Returns true when it skipped.
inline bool skip_without_torch() {
    if (torch_available()) return false;
    return test::skip_missing_installable("PyTorch for " + std::string(python),
                                          "scripts/install_deps.sh installs it (Debian package python3-torch)");
}

template <class T>
void fill_normal(tensor<T>& t, rng& r, double scale = 1.0, double shift = 0.0) {
    for (auto& v : t) v = static_cast<T>(shift + scale * r.normal());
}
template <class T>
void fill_uniform(tensor<T>& t, rng& r, double lo, double hi) {
    for (auto& v : t) v = static_cast<T>(r.uniform(lo, hi));
}

/// Result of comparing one tensor.
struct tensor_error {
    std::string name;
    double max_abs = 0;
    double max_rel = 0;
    bool ok = false;
};

/// One parity case: the input file for torch_parity.py and unetpp's results to compare.
class parity_case {
public:
    parity_case(std::string name, config cfg) : name_(std::move(name)) {
        in_.set_metadata("case", name_);
        for (auto& [k, v] : cfg) in_.set_metadata(k, v);
    }

    /// Adds an input, parameter or buffer (not compared).
    void add_input(const std::string& name, const tensor<float>& t) { in_.add(name, t); }
    /// Adds one of unetpp's results; torch's tensor of the same name is compared against it.
    void add_result(const std::string& name, const tensor<float>& t) {
        in_.add(name, t);
        results_.emplace_back(name, t);
    }

    /// Declares that result `name` is zero in exact arithmetic (see the file comment).
    void expect_zero(const std::string& name) { zero_valued_.push_back(name); }

    /// Runs torch and compares every result. Returns false when torch could not run.
    bool run_and_compare(tolerance tol) {
        std::string stem = name_;
        for (auto& c : stem)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        const auto in_path = work_dir() / (stem + ".in.safetensors");
        const auto out_path = work_dir() / (stem + ".out.safetensors");
        const auto log_path = work_dir() / (stem + ".log");
        in_.save(in_path);
        const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/parity/torch_parity.py";
        const std::string cmd = shell_quote(python) + " " + shell_quote(script) + " " + shell_quote(in_path.string()) +
                                " " + shell_quote(out_path.string());
        const bool ran = run_command(cmd, log_path);
        if (!ran) {
            FAIL_CHECK(name_ << ": torch_parity.py failed (" << cmd << "):\n" << read_text(log_path));
            MESSAGE(name_ << ": case files kept in " << work_dir().string());
            return false;
        }
        const auto ref = io::safetensors_file::load(out_path);
        // The largest magnitude of any torch result sets the scale for the zero-valued tensors.
        double case_scale = 0;
        for (const auto& [name, ours] : results_)
            if (ref.contains(name))
                for (double v : ref.get<double>(name)) case_scale = std::max(case_scale, std::abs(v));
        for (const auto& z : zero_valued_) {
            const bool known = std::any_of(results_.begin(), results_.end(), [&](const auto& r) { return r.first == z; });
            CHECK_MESSAGE(known, name_ << ": expect_zero names \"" << z << "\", which is not a result");
        }
        bool all_ok = true;
        tensor_error worst;
        for (const auto& [name, ours] : results_) {
            const bool zero = std::find(zero_valued_.begin(), zero_valued_.end(), name) != zero_valued_.end();
            const auto e = zero ? compare_zero(ref, name, ours, case_scale) : compare(ref, name, ours, tol);
            if (zero) {
                all_ok = all_ok && e.ok;
                continue;  // its relative error is noise over noise; not a useful "worst"
            }
            all_ok = all_ok && e.ok;
            if (e.max_rel >= worst.max_rel) worst = e;
        }
        MESSAGE(name_ << ": " << results_.size() << " tensors, worst max rel err " << fmt(worst.max_rel) << " ("
                      << worst.name << ", max abs err " << fmt(worst.max_abs) << "); tolerance rtol "
                      << fmt(tol.rtol) << ", atol " << fmt(tol.atol));
        if (all_ok) {
            // Keep the files of failing cases for inspection; remove the rest.
            std::error_code ec;
            for (const auto& p : {in_path, out_path, log_path}) std::filesystem::remove(p, ec);
        } else {
            MESSAGE(name_ << ": case files kept in " << work_dir().string());
        }
        return true;
    }

    const std::string& name() const noexcept { return name_; }

private:
    static std::string fmt(double v) {
        std::ostringstream s;
        s << std::scientific << std::setprecision(2) << v;
        return s.str();
    }

    tensor_error compare(const io::safetensors_file& ref, const std::string& name, const tensor<float>& ours,
                         tolerance tol) const {
        tensor_error e{name};
        if (!ref.contains(name)) {
            FAIL_CHECK(name_ << ": torch produced no tensor \"" << name << "\"");
            return e;
        }
        const tensor<double> theirs = ref.get<double>(name);
        if (theirs.shape() != ours.shape()) {
            FAIL_CHECK(name_ << ": " << name << " has shape " << ours.shape().str() << " in unetpp but "
                             << theirs.shape().str() << " in torch");
            return e;
        }
        double max_ref = 0;
        bool finite = true;
        for (std::size_t i = 0; i < ours.size(); ++i) {
            const double a = ours[i], b = theirs[i];
            finite = finite && std::isfinite(a) && std::isfinite(b);
            e.max_abs = std::max(e.max_abs, std::abs(a - b));
            max_ref = std::max(max_ref, std::abs(b));
        }
        e.max_rel = max_ref > 0 ? e.max_abs / max_ref : e.max_abs;
        const double bound = tol.atol + tol.rtol * max_ref;
        e.ok = finite && e.max_abs <= bound;
        MESSAGE(name_ << " | " << name << ": max abs err " << fmt(e.max_abs) << ", max rel err " << fmt(e.max_rel)
                      << " (max |torch| " << fmt(max_ref) << ", bound " << fmt(bound) << ")");
        CHECK_MESSAGE(finite, name_ << " | " << name << ": non-finite values");
        CHECK_MESSAGE(e.max_abs <= bound, name_ << " | " << name << ": max abs err " << fmt(e.max_abs)
                                                << " exceeds " << fmt(bound));
        return e;
    }

    /// Both sides of a tensor that is zero in exact arithmetic must be below zero_rtol * scale.
    tensor_error compare_zero(const io::safetensors_file& ref, const std::string& name, const tensor<float>& ours,
                              double case_scale) const {
        tensor_error e{name};
        if (!ref.contains(name)) {
            FAIL_CHECK(name_ << ": torch produced no tensor \"" << name << "\"");
            return e;
        }
        const tensor<double> theirs = ref.get<double>(name);
        if (theirs.shape() != ours.shape()) {
            FAIL_CHECK(name_ << ": " << name << " has shape " << ours.shape().str() << " in unetpp but "
                             << theirs.shape().str() << " in torch");
            return e;
        }
        double max_ours = 0, max_theirs = 0;
        for (std::size_t i = 0; i < ours.size(); ++i) {
            max_ours = std::max(max_ours, std::abs(static_cast<double>(ours[i])));
            max_theirs = std::max(max_theirs, std::abs(theirs[i]));
            e.max_abs = std::max(e.max_abs, std::abs(static_cast<double>(ours[i]) - theirs[i]));
        }
        e.max_rel = max_theirs > 0 ? e.max_abs / max_theirs : e.max_abs;
        const double bound = zero_rtol * case_scale;
        e.ok = std::isfinite(max_ours) && std::isfinite(max_theirs) && max_ours <= bound && max_theirs <= bound;
        MESSAGE(name_ << " | " << name << " (zero in exact arithmetic): max |unetpp| " << fmt(max_ours)
                      << ", max |torch| " << fmt(max_theirs) << ", max abs err " << fmt(e.max_abs) << " (bound "
                      << fmt(bound) << " = " << fmt(zero_rtol) << " x largest |torch| in the case)");
        CHECK_MESSAGE(max_ours <= bound, name_ << " | " << name << ": unetpp value " << fmt(max_ours)
                                               << " is not float32 noise around zero (bound " << fmt(bound) << ")");
        CHECK_MESSAGE(max_theirs <= bound, name_ << " | " << name << ": torch value " << fmt(max_theirs)
                                                 << " is not float32 noise around zero (bound " << fmt(bound)
                                                 << "); the expect_zero assumption is wrong");
        return e;
    }

    std::string name_;
    std::vector<std::string> zero_valued_;
    io::safetensors_writer in_;
    std::vector<std::pair<std::string, tensor<float>>> results_;
};

/// Sets parameters and buffers to seeded random values: the layer's own seeded initialisation,
/// then non-trivial batch-norm scales, shifts and running statistics (a freshly built
/// batch norm has weight 1, bias 0, mean 0 and variance 1, which would hide mistakes).
template <class L>
void randomize(L& layer, rng& r) {
    if constexpr (requires { layer.init(r); }) layer.init(r);
    // Batch norms are found through their buffers: "<prefix>.running_mean".
    std::vector<std::string> bn_prefixes;
    layer.visit_buffers(std::string_view{}, [&](std::string_view name, auto&) {
        constexpr std::string_view leaf = "running_mean";
        if (name.size() >= leaf.size() && name.substr(name.size() - leaf.size()) == leaf) {
            std::string prefix(name.substr(0, name.size() - leaf.size()));
            bn_prefixes.push_back(prefix);  // empty or ending in '.'
        }
    });
    const auto bn_param = [&](std::string_view name, std::string_view leaf) {
        for (const auto& p : bn_prefixes)
            if (name == p + std::string(leaf)) return true;
        return false;
    };
    layer.visit_parameters(std::string_view{}, [&](std::string_view name, auto& value, auto&) {
        if (bn_param(name, "weight")) fill_uniform(value, r, 0.5, 1.5);
        if (bn_param(name, "bias")) fill_uniform(value, r, -0.3, 0.3);
    });
    layer.visit_buffers(std::string_view{}, [&](std::string_view name, auto& value) {
        const std::string n(name);
        if (n.ends_with("running_mean")) fill_uniform(value, r, -0.5, 0.5);
        if (n.ends_with("running_var")) fill_uniform(value, r, 0.5, 2.0);
        if (n.ends_with("num_batches_tracked")) value.fill(3);
    });
}

/// Options of a single-input case.
struct case_opts {
    bool train = true;
    double x_scale = 1.0;  ///< input ~ x_shift + x_scale * N(0, 1)
    double x_shift = 0.0;
    std::uint64_t seed = 1;
    std::vector<std::string> expect_zero = {};  ///< results that are zero in exact arithmetic
};

/// Runs `layer` forward (in training or eval mode) and backward on random x and dy, then
/// compares y, dx, every parameter gradient and every buffer after the forward with torch.
template <class L>
void run_layer_case(const std::string& name, config cfg, L& layer, shape4 in_shape, tolerance tol,
                    case_opts opt = {}) {
    rng r(opt.seed);
    randomize(layer, r);
    layer.train(opt.train);
    layer.visit_parameters(std::string_view{}, [](std::string_view, auto&, auto& grad) { grad.zero(); });

    cfg["train"] = opt.train ? "1" : "0";
    parity_case c(name, std::move(cfg));
    for (const auto& z : opt.expect_zero) c.expect_zero(z);
    tensor<float> x(in_shape);
    fill_normal(x, r, opt.x_scale, opt.x_shift);
    c.add_input("x", x);
    layer.visit_parameters(std::string_view{},
                           [&](std::string_view n, auto& value, auto&) { c.add_input(std::string(n), value); });
    layer.visit_buffers(std::string_view{}, [&](std::string_view n, auto& value) { c.add_input(std::string(n), value); });

    const tensor<float> y = layer.forward(x);
    tensor<float> dy(y.shape());
    fill_normal(dy, r);
    c.add_input("dy", dy);
    c.add_result("y", y);
    layer.visit_buffers(std::string_view{},
                        [&](std::string_view n, auto& value) { c.add_result("after." + std::string(n), value); });

    const tensor<float> dx = layer.backward(x, dy);
    c.add_result("dx", dx);
    layer.visit_parameters(std::string_view{}, [&](std::string_view n, auto&, auto& grad) {
        c.add_result("grad." + std::string(n), grad);
    });
    c.run_and_compare(tol);
}

}  // namespace unetpp::parity
