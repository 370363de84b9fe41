#pragma once
// The input format of the fuzz_datasets target (tests/fuzz/fuzz_datasets.cpp), shared with the
// seed generator (tests/fuzz/make_seeds.cpp). An input describes a small file tree:
//
//   byte 0        options: bits 0-1 which reader (0 busi, 1 isbi2012, 2 paired_folders, 3 all
//                 three), bits 2-3 reader_options::channels (0, 1, 3, 4), bit 4 mask_rule::strict,
//                 bit 5 missing_mask::skip, bit 6 cache, bit 7 mask_suffix "_mask" (paired_folders)
//                 and foreground cell_interior (isbi2012)
//   then records, until the input ends:
//     u8   folder: bits 0-6 index into tree_folders (modulo its size), bit 7 set: make a folder
//          named `name` there instead of a file
//     u8   name length n (modulo 48), then n bytes of name; bytes outside [A-Za-z0-9 ._()-] become
//          '_', and "", "." and ".." become "_"
//     u16  content length (little endian; cut to what is left of the input), then the content
//
// Nothing in a decoded tree can leave its root: names have no '/', and the folders are fixed.
// Test support only.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace unetpp::fuzz {

/// Folders a record can put a file in (relative to the tree's root; "" is the root itself).
inline const std::vector<std::string>& tree_folders() {
    static const std::vector<std::string> f{
        "",       "Dataset_BUSI_with_GT", "Dataset_BUSI_with_GT/benign", "Dataset_BUSI_with_GT/malignant",
        "Dataset_BUSI_with_GT/normal", "benign", "malignant", "normal", "images", "labels", "masks"};
    return f;
}

struct tree_file {
    std::size_t folder = 0;  ///< index into tree_folders()
    bool is_folder = false;
    std::string name;
    std::string content;
};

struct tree_input {
    std::uint8_t options = 0;
    std::vector<tree_file> files;
};

inline std::string sanitize_name(std::string_view raw) {
    std::string n;
    for (char c : raw) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' ||
                        c == '.' || c == '_' || c == '(' || c == ')' || c == '-';
        n += ok ? c : '_';
    }
    if (n.empty() || n == "." || n == "..") n = "_";
    return n;
}

/// Decodes fuzz bytes into a tree description (never fails; at most `max_files` records).
inline tree_input decode_tree(const std::uint8_t* data, std::size_t size, std::size_t max_files = 64) {
    tree_input t;
    if (size == 0) return t;
    t.options = data[0];
    std::size_t p = 1;
    while (p + 2 <= size && t.files.size() < max_files) {
        tree_file f;
        const std::uint8_t where = data[p++];
        f.folder = (where & 0x7f) % tree_folders().size();
        f.is_folder = (where & 0x80) != 0;
        const std::size_t want = data[p++] % 48;
        const std::size_t n = std::min(want, size - p);
        f.name = sanitize_name(std::string_view(reinterpret_cast<const char*>(data + p), n));
        p += n;
        std::size_t len = 0;
        if (p + 2 <= size) {
            len = static_cast<std::size_t>(data[p]) | (static_cast<std::size_t>(data[p + 1]) << 8);
            p += 2;
        } else {
            p = size;
        }
        len = std::min(len, size - p);
        f.content.assign(reinterpret_cast<const char*>(data + p), len);
        p += len;
        t.files.push_back(std::move(f));
    }
    return t;
}

/// The inverse of decode_tree for well-formed descriptions (names up to 47 characters, contents
/// up to 65535 bytes), used to write seeds.
inline std::string encode_tree(const tree_input& t) {
    std::string out(1, static_cast<char>(t.options));
    for (const auto& f : t.files) {
        out += static_cast<char>((f.folder & 0x7f) | (f.is_folder ? 0x80 : 0));
        out += static_cast<char>(f.name.size());
        out += f.name;
        out += static_cast<char>(f.content.size() & 0xff);
        out += static_cast<char>((f.content.size() >> 8) & 0xff);
        out += f.content;
    }
    return out;
}

}  // namespace unetpp::fuzz
