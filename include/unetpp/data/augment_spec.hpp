#pragma once
/// \file Augmentation pipelines written as text, as on unetpp-train's command line:
///
///   auto spec = data::parse_augment("flip,rot90,rotate=15,scale=0.9:1.1,gamma=0.8:1.25");
///   loader_options{.augment = spec.pipeline};   // spec.text: the normalised spelling
///
/// A comma-separated list of steps, applied in the order given; each step may end in "@P", the
/// probability that it runs for one sample (default in brackets):
///   flip             hflip and vflip, each with probability P (0.5)
///   hflip, vflip     one mirror (0.5)
///   rot90            rotation by 90, 180 or 270 degrees (0.75, so that 0, 90, 180 and 270 are
///                    equally likely); square images keep their size, others swap H and W
///   rotate=D         rotation by an angle uniform in [-D, D] degrees, 0 < D <= 180 (0.5)
///   scale=A:B        zoom by a factor uniform in [A, B], 0 < A <= B <= 4 (0.5)
///   brightness=B     image + b, b uniform in [-B, B], 0 <= B <= 1 (0.5)
///   contrast=C       (image - mean) c + mean, c uniform in [1 - C, 1 + C], 0 <= C <= 1 (0.5)
///   gamma=A:B        image^g, g uniform in [A, B], 0 < A <= B <= 10 (0.5)
///   noise=S          additive Gaussian noise of standard deviation S, 0 < S <= 1 (0.2)
///   elastic[=S]      elastic deformation, displacement sigma S pixels, 0 < S <= 100 (10; 0.3)
/// "on" is the preset flip,rotate=15 (what --augment on has always meant: hflip, vflip and
/// rotate 15, each with probability 0.5) and "off" (or "") is no augmentation. Geometric steps
/// move image, mask and region of interest together (masks nearest neighbour); the intensity steps
/// (brightness, contrast, gamma, noise) change the image only. Seeding: augment.hpp.

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../config/abi.hpp"
#include "augment.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// A parsed augmentation list: the pipeline and its normalised text (numbers in one spelling, so
/// that two spellings of one pipeline compare equal, e.g. in a resume check).
struct augment_spec {
    augment_pipeline pipeline;
    std::string text;  ///< "off", "on", or the normalised list
};

namespace detail {

inline std::string aug_number(double v) {
    char b[64];
    const auto r = std::to_chars(b, b + sizeof b, v);
    return std::string(b, r.ptr);
}

inline double aug_parse(std::string_view step, std::string_view text, double lo, double hi, bool lo_open) {
    double v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    const std::string range = std::string(lo_open ? "> " : ">= ") + aug_number(lo) + " and <= " + aug_number(hi);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || !std::isfinite(v))
        throw std::invalid_argument("augment step '" + std::string(step) + "': '" + std::string(text) +
                                    "' is not a number; use a number " + range);
    if ((lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi))
        throw std::invalid_argument("augment step '" + std::string(step) + "': " + std::string(text) +
                                    " is out of range; use a number " + range);
    return v;
}

}  // namespace detail

/// Parses an augmentation list (see the file comment). Errors (std::invalid_argument) name the
/// step, the value and what is accepted.
[[nodiscard]] inline augment_spec parse_augment(std::string_view text) {
    augment_spec out;
    if (text.empty() || text == "off") {
        out.text = "off";
        return out;
    }
    if (text == "on") {
        out.pipeline.add(aug::hflip(), 0.5).add(aug::vflip(), 0.5).add(aug::rotate(15.0), 0.5);
        out.text = "on";
        return out;
    }
    const std::string known = "flip, hflip, vflip, rot90, rotate=D, scale=A:B, brightness=B, contrast=C, "
                              "gamma=A:B, noise=S, elastic[=S] (each optionally @P)";
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = text.find(',', start);
        const std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                                         : comma - start);
        start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        if (item.empty()) throw std::invalid_argument("augment list '" + std::string(text) + "' has an empty step");
        std::string_view body = item, prob_text;
        if (const auto at = item.find('@'); at != std::string_view::npos) {
            body = item.substr(0, at);
            prob_text = item.substr(at + 1);
        }
        std::string_view name = body, value;
        if (const auto eq = body.find('='); eq != std::string_view::npos) {
            name = body.substr(0, eq);
            value = body.substr(eq + 1);
        }
        const auto need_value = [&](bool needed) {
            if (needed && value.empty())
                throw std::invalid_argument("augment step '" + std::string(item) + "' needs a value, e.g. " +
                                            std::string(name) + (name == "rotate" ? "=15" : "=0.1"));
            if (!needed && !value.empty())
                throw std::invalid_argument("augment step '" + std::string(item) + "' takes no value");
        };
        const auto pair = [&](double lo, double hi) {
            const auto colon = value.find(':');
            if (colon == std::string_view::npos)
                throw std::invalid_argument("augment step '" + std::string(item) + "' needs a range A:B, e.g. " +
                                            std::string(name) + (name == "scale" ? "=0.9:1.1" : "=0.8:1.25"));
            const double a = detail::aug_parse(item, value.substr(0, colon), lo, hi, true);
            const double b = detail::aug_parse(item, value.substr(colon + 1), lo, hi, true);
            if (b < a)
                throw std::invalid_argument("augment step '" + std::string(item) + "': " + detail::aug_number(a) +
                                            " is above " + detail::aug_number(b) + "; write the smaller bound first");
            return std::pair{a, b};
        };
        double p = 0.5;
        std::string norm;
        std::vector<augment_step> steps;
        if (name == "flip" || name == "hflip" || name == "vflip") {
            need_value(false);
            if (name != "vflip") steps.push_back(aug::hflip());
            if (name != "hflip") steps.push_back(aug::vflip());
            norm = std::string(name);
        } else if (name == "rot90") {
            need_value(false);
            p = 0.75;
            steps.push_back(aug::rot90());
            norm = "rot90";
        } else if (name == "rotate") {
            need_value(true);
            const double d = detail::aug_parse(item, value, 0.0, 180.0, true);
            steps.push_back(aug::rotate(d));
            norm = "rotate=" + detail::aug_number(d);
        } else if (name == "scale" || name == "gamma") {
            need_value(true);
            const auto [a, b] = pair(0.0, name == "scale" ? 4.0 : 10.0);
            steps.push_back(name == "scale" ? aug::scale(a, b) : aug::gamma(a, b));
            norm = std::string(name) + "=" + detail::aug_number(a) + ":" + detail::aug_number(b);
        } else if (name == "brightness" || name == "contrast") {
            need_value(true);
            const double v = detail::aug_parse(item, value, 0.0, 1.0, false);
            steps.push_back(name == "brightness" ? aug::brightness_contrast(v, 0.0) : aug::brightness_contrast(0.0, v));
            norm = std::string(name) + "=" + detail::aug_number(v);
        } else if (name == "noise") {
            need_value(true);
            p = 0.2;
            const double v = detail::aug_parse(item, value, 0.0, 1.0, true);
            steps.push_back(aug::gaussian_noise(v));
            norm = "noise=" + detail::aug_number(v);
        } else if (name == "elastic") {
            p = 0.3;
            const double sigma = value.empty() ? 10.0 : detail::aug_parse(item, value, 0.0, 100.0, true);
            steps.push_back(aug::elastic({.sigma = sigma}));
            norm = "elastic=" + detail::aug_number(sigma);
        } else {
            throw std::invalid_argument("augment step '" + std::string(item) + "' is unknown; use " + known);
        }
        if (item.find('@') != std::string_view::npos) p = detail::aug_parse(item, prob_text, 0.0, 1.0, false);
        for (auto& st : steps) out.pipeline.add(std::move(st), p);
        out.text += (out.text.empty() ? "" : ",") + norm + "@" + detail::aug_number(p);
    }
    return out;
}

}  // namespace unetpp::data
