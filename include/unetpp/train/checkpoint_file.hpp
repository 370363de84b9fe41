#pragma once
/// \file The model-independent half of training checkpoints (see checkpoint.hpp for the file
/// layout): the bookkeeping (checkpoint_info) and reading it from a verified file, the name of
/// the previous checkpoint, and the choice of the checkpoint to resume from. It needs only the
/// safetensors reader, so tools and fuzz targets can check a checkpoint without the model
/// headers.
///
///   auto info = train::read_checkpoint_info("run/last.safetensors");   // whole file verified
///   std::string why;
///   auto c = train::find_resume_checkpoint("run", &why);   // last, else last.prev; why: skipped

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "../config/abi.hpp"
#include "../io/safetensors.hpp"

namespace unetpp::inline UNETPP_ABI::train {

inline constexpr std::string_view checkpoint_format_version = "1";

/// Progress and bookkeeping stored with a checkpoint.
struct checkpoint_info {
    long epoch = 0;          ///< completed epochs
    long step = 0;           ///< training steps (batches) done
    std::uint64_t seed = 0;  ///< the run's seed (data order / augmentation derive from (seed, epoch))
    std::string monitor{};   ///< metric deciding "best" (e.g. "val_loss")
    double best_metric = std::numeric_limits<double>::quiet_NaN();
    long best_epoch = -1;    ///< 1-based epoch of best_metric (-1: none yet)
    double es_best = std::numeric_limits<double>::quiet_NaN();  ///< early stopping's reference value
    int es_bad_epochs = 0;   ///< early stopping's count of epochs without improvement
    std::string schedule_name{};
    std::map<std::string, double> schedule_state{};
    std::map<std::string, std::string> extra{};  ///< stored as unetpp.extra.<key>
    /// Batches of epoch `epoch` (0-based, the one after the completed ones) already done: 0 for
    /// a checkpoint written at an epoch's end, > 0 for one written when a stop was requested
    /// mid-epoch (the resume continues that epoch at the next batch).
    long epoch_step = 0;
    double epoch_loss_sum = 0.0;  ///< mid-epoch: sum over those batches of loss * batch size
    long epoch_loss_count = 0;    ///< mid-epoch: the images in those batches
};

namespace detail {

inline std::string num(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

inline const std::string& md_get(const std::map<std::string, std::string, std::less<>>& md, const std::string& key,
                                 const std::string& where) {
    const auto it = md.find(key);
    if (it == md.end()) throw std::runtime_error(where + "metadata \"" + key + "\" is missing (not a unetpp checkpoint, or damaged)");
    return it->second;
}

inline double md_double(const std::map<std::string, std::string, std::less<>>& md, const std::string& key,
                        const std::string& where) {
    const std::string& s = md_get(md, key, where);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size())
        throw std::runtime_error(where + "metadata \"" + key + "\" = \"" + s + "\" is not a number");
    return v;
}

inline long md_long(const std::map<std::string, std::string, std::less<>>& md, const std::string& key,
                    const std::string& where) {
    const double v = md_double(md, key, where);
    if (!(v == std::floor(v)) || std::fabs(v) > 9e15)
        throw std::runtime_error(where + "metadata \"" + key + "\" is not an integer");
    return static_cast<long>(v);
}

inline checkpoint_info parse_info(const io::safetensors_file& f, const std::string& where) {
    const auto& md = f.metadata();
    const std::string& fmt = md_get(md, "unetpp.checkpoint.format", where);
    if (fmt != checkpoint_format_version)
        throw std::runtime_error(where + "checkpoint format \"" + fmt + "\" is not supported (this build reads \"" +
                                 std::string(checkpoint_format_version) + "\")");
    checkpoint_info c;
    c.epoch = md_long(md, "unetpp.train.epoch", where);
    c.step = md_long(md, "unetpp.train.step", where);
    {
        const std::string& s = md_get(md, "unetpp.train.seed", where);
        char* end = nullptr;
        c.seed = std::strtoull(s.c_str(), &end, 10);
        if (s.empty() || end != s.c_str() + s.size())
            throw std::runtime_error(where + "metadata \"unetpp.train.seed\" is not an integer");
    }
    c.monitor = md_get(md, "unetpp.train.monitor", where);
    c.best_metric = md_double(md, "unetpp.train.best_metric", where);
    c.best_epoch = md_long(md, "unetpp.train.best_epoch", where);
    c.es_best = md_double(md, "unetpp.train.es_best", where);
    c.es_bad_epochs = static_cast<int>(md_long(md, "unetpp.train.es_bad_epochs", where));
    c.schedule_name = md_get(md, "unetpp.schedule.name", where);
    const std::string sp = "unetpp.schedule.state.", ep = "unetpp.extra.";
    for (const auto& [k, v] : md) {
        if (k.starts_with(sp)) c.schedule_state[k.substr(sp.size())] = md_double(md, k, where);
        if (k.starts_with(ep)) c.extra[k.substr(ep.size())] = v;
    }
    // mid-epoch position (absent in checkpoints written before it existed: an epoch's end)
    if (md.count("unetpp.train.epoch_step")) {
        c.epoch_step = md_long(md, "unetpp.train.epoch_step", where);
        c.epoch_loss_sum = md_double(md, "unetpp.train.epoch_loss_sum", where);
        c.epoch_loss_count = md_long(md, "unetpp.train.epoch_loss_count", where);
    }
    if (c.epoch < 0 || c.step < 0) throw std::runtime_error(where + "negative epoch or step");
    if (c.epoch_step < 0 || c.epoch_loss_count < 0 || !std::isfinite(c.epoch_loss_sum) ||
        (c.epoch_step == 0 && (c.epoch_loss_count != 0 || c.epoch_loss_sum != 0.0)) ||
        (c.epoch_step > 0 && c.epoch_loss_count == 0))
        throw std::runtime_error(where + "inconsistent mid-epoch position (unetpp.train.epoch_step, epoch_loss_sum, "
                                         "epoch_loss_count)");
    return c;
}

inline std::string where_of(const std::filesystem::path& p) { return "checkpoint '" + p.string() + "': "; }

}  // namespace detail

/// Reads only the bookkeeping of a checkpoint (validating the whole file).
inline checkpoint_info read_checkpoint_info(const std::filesystem::path& path) {
    const std::string where = detail::where_of(path);
    try {
        return detail::parse_info(io::safetensors_file::load(path), where);
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        if (m.starts_with("checkpoint '")) throw;
        throw std::runtime_error(where + m);
    }
}

/// The name under which the checkpoint before `path` is kept: "run/last.safetensors" ->
/// "run/last.prev.safetensors".
inline std::filesystem::path previous_checkpoint_path(const std::filesystem::path& path) {
    std::filesystem::path p = path.parent_path() / path.stem();
    p += ".prev";
    p += path.extension();
    return p;
}

/// The checkpoint a resume should use, as find_resume_checkpoint chose it.
struct resume_checkpoint {
    std::filesystem::path path;  ///< the file to load
    checkpoint_info info;        ///< its bookkeeping (already read and verified)
    bool fell_back = false;      ///< true when a newer candidate was skipped
};

/// Chooses the newest checkpoint to resume from that loads and verifies: for a folder, its
/// last.safetensors, else last.prev.safetensors; for a file, that file, else the one kept
/// before it (previous_checkpoint_path). A candidate is verified by reading the whole file
/// (safetensors structure, every CRC-32C checksum, the checkpoint bookkeeping); the network
/// itself is not touched. When a candidate is skipped, `message` (if given) says which and why,
/// e.g. "last.safetensors is corrupt (...); resuming from last.prev.safetensors, epoch 4";
/// otherwise it is cleared. Throws std::runtime_error listing every candidate's problem when
/// none is usable.
inline resume_checkpoint find_resume_checkpoint(const std::filesystem::path& where, std::string* message = nullptr) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path newest = fs::is_directory(where, ec) ? where / "last.safetensors" : where;
    const fs::path candidates[2] = {newest, previous_checkpoint_path(newest)};
    std::string skipped;
    for (const auto& c : candidates) {
        std::string why;
        if (!fs::exists(c, ec)) {
            why = "does not exist";
        } else {
            try {
                resume_checkpoint r{c, read_checkpoint_info(c), !skipped.empty()};
                if (message) {
                    message->clear();
                    if (r.fell_back)
                        *message = skipped + "; resuming from " + c.string() + ", epoch " + std::to_string(r.info.epoch);
                }
                return r;
            } catch (const std::exception& e) {
                std::string reason = e.what();
                for (const std::string& pre : {detail::where_of(c), "safetensors: " + c.string() + ": "})
                    if (reason.starts_with(pre)) reason = reason.substr(pre.size());
                const std::string corrupt = "corrupt: ";
                why = reason.starts_with(corrupt) ? "is corrupt (" + reason.substr(corrupt.size()) + ")"
                                                  : "cannot be loaded (" + reason + ")";
            }
        }
        if (!skipped.empty()) skipped += "; ";
        skipped += c.string() + " " + why;
    }
    throw std::runtime_error("no checkpoint to resume from: " + skipped +
                             "; start a new run (in another output folder) instead of resuming");
}

}  // namespace unetpp::train
