// Reading the files of a run for the HTML report: evaluate's per-image CSV, the flat config.json
// of unetpp-train, PNG headers, and base64 for embedding pictures. Every file is untrusted input:
// sizes are bounded, malformed content is refused with the file and the position named.
// Standard library and cli_args.hpp only. Tests: tests/unit/report/test_report_files.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unetpp/io/json.hpp>

#include "../cli_args.hpp"

namespace report {

/// One row of unetpp-evaluate's --csv: the image's name and its numbers by column.
struct score_row {
    std::string image;
    std::vector<double> values;  ///< one per score column, NaN where the cell is "nan"
};

struct score_table {
    std::vector<std::string> columns;  ///< the score columns (after "image"), e.g. dice, iou, ...
    std::vector<score_row> rows;
    /// Index of a column in `values`, or -1.
    [[nodiscard]] int column(std::string_view name) const {
        for (std::size_t i = 0; i < columns.size(); ++i)
            if (columns[i] == name) return static_cast<int>(i);
        return -1;
    }
};

/// The records of CSV text (RFC 4180: cells separated by commas, a cell in double quotes may hold
/// commas, line breaks and doubled quotes; lines end with LF or CRLF), each with the line it
/// starts on. A quote left open is refused, naming the line.
inline std::vector<std::pair<std::size_t, std::vector<std::string>>> parse_csv_records(std::string_view text,
                                                                                       const std::string& file) {
    std::vector<std::pair<std::size_t, std::vector<std::string>>> out;
    std::vector<std::string> cells;
    std::string cell;
    std::size_t line = 1, start = 1;
    bool quoted = false, any = false;
    const auto end_record = [&] {
        if (any || !cell.empty() || !cells.empty()) {
            cells.push_back(std::move(cell));
            out.emplace_back(start, std::move(cells));
        }
        cells.clear();
        cell.clear();
        any = false;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (quoted) {
            if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                cell += '"';
                ++i;
            } else if (ch == '"') {
                quoted = false;
            } else {
                if (ch == '\n') ++line;
                cell += ch;
            }
            continue;
        }
        if (ch == '"' && cell.empty()) {
            quoted = any = true;
        } else if (ch == ',') {
            cells.push_back(std::move(cell));
            cell.clear();
            any = true;
        } else if (ch == '\n' || ch == '\r') {
            if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            end_record();
            start = ++line;
        } else {
            cell += ch;
            any = true;
        }
    }
    if (quoted)
        throw cli::usage_error("'" + file + "' line " + std::to_string(start) +
                               ": a quoted cell is not closed; give the --csv file that unetpp-evaluate wrote");
    end_record();
    return out;
}

/// Parses the per-image CSV of unetpp-evaluate (header "image,dice,..."; image names as RFC 4180
/// text, other cells numbers, "inf" or "nan"). The header must start with image and contain dice;
/// at most `max_rows` rows.
inline score_table parse_scores_csv(std::string_view text, const std::string& file, std::size_t max_rows = 1000000) {
    score_table t;
    const auto records = parse_csv_records(text, file);
    if (records.empty())
        throw cli::usage_error("'" + file + "' is empty; give the --csv file that unetpp-evaluate wrote");
    const std::vector<std::string>& head = records.front().second;
    if (head.empty() || head[0] != "image")
        throw cli::usage_error("'" + file +
                               "' does not start with an 'image,dice,...' header; is it the --csv of unetpp-evaluate?");
    t.columns.assign(head.begin() + 1, head.end());
    if (t.column("dice") < 0)
        throw cli::usage_error("'" + file + "' has no dice column; give the --csv file that unetpp-evaluate wrote");
    for (std::size_t k = 1; k < records.size(); ++k) {
        const auto& [row, cells] = records[k];
        if (cells.size() == 1 && cells[0].empty()) continue;  // a blank line
        if (t.rows.size() >= max_rows)
            throw cli::usage_error("'" + file + "' has more than " + std::to_string(max_rows) + " rows");
        if (cells.size() != head.size())
            throw cli::usage_error("'" + file + "' line " + std::to_string(row) + " has " +
                                   std::to_string(cells.size()) + " cells, the header " + std::to_string(head.size()));
        score_row r{cells[0], {}};
        for (std::size_t i = 1; i < cells.size(); ++i) {
            const std::string& c = cells[i];
            char* end = nullptr;
            const double v = std::strtod(c.c_str(), &end);
            if (c.empty() || end != c.c_str() + c.size())
                throw cli::usage_error("'" + file + "' line " + std::to_string(row) + ": '" + c.substr(0, 40) +
                                       "' in column " + head[i] + " is not a number");
            r.values.push_back(v);
        }
        t.rows.push_back(std::move(r));
    }
    return t;
}

/// The top-level members of a JSON object, each value as text: strings decoded, anything else
/// (numbers, true/false/null, nested arrays and objects) as compact JSON. Read by the library's
/// JSON reader (unetpp/io/json.hpp): what is not a JSON object is refused, naming the byte.
inline std::vector<std::pair<std::string, std::string>> parse_flat_json(std::string_view s, const std::string& file) {
    unetpp::io::json_value doc;
    try {
        doc = unetpp::io::json_parse(s, "'" + file + "' is not valid JSON");
    } catch (const std::runtime_error& e) {
        throw cli::usage_error(e.what());
    }
    const auto* members = doc.object_if();
    if (!members) throw cli::usage_error("'" + file + "' is not a JSON object");
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [key, value] : *members)
        out.emplace_back(key, value.string_if() ? *value.string_if() : unetpp::io::json_write(value));
    return out;
}

/// Width and height from a PNG's IHDR, or {0, 0} when `b` does not start like a PNG.
inline std::pair<std::uint32_t, std::uint32_t> png_size(std::string_view b) {
    static constexpr unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (b.size() < 24) return {0, 0};
    for (int k = 0; k < 8; ++k)
        if (static_cast<unsigned char>(b[k]) != sig[k]) return {0, 0};
    if (b.substr(12, 4) != "IHDR") return {0, 0};
    const auto be = [&](std::size_t at) {
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) v = v << 8 | static_cast<unsigned char>(b[at + k]);
        return v;
    };
    return {be(16), be(20)};
}

/// Standard base64 (RFC 4648, with padding).
inline std::string base64(std::string_view b) {
    static constexpr char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string o;
    o.reserve((b.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= b.size(); i += 3) {
        const std::uint32_t v = static_cast<unsigned char>(b[i]) << 16 | static_cast<unsigned char>(b[i + 1]) << 8 |
                                static_cast<unsigned char>(b[i + 2]);
        o += a[v >> 18], o += a[(v >> 12) & 63], o += a[(v >> 6) & 63], o += a[v & 63];
    }
    if (const std::size_t rest = b.size() - i; rest > 0) {
        std::uint32_t v = static_cast<unsigned char>(b[i]) << 16;
        if (rest == 2) v |= static_cast<unsigned char>(b[i + 1]) << 8;
        o += a[v >> 18], o += a[(v >> 12) & 63];
        o += rest == 2 ? a[(v >> 6) & 63] : '=';
        o += '=';
    }
    return o;
}

}  // namespace report
