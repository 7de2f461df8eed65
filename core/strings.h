// Small string helpers shared across modules.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace rleif {

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `key` by edit distance, or "" when none is reasonably close.
std::string nearest(std::string_view key, const std::vector<std::string>& candidates);
// Human-readable byte count / duration ("1.2 GiB", "3m12s").
std::string human_bytes(double bytes);
std::string human_seconds(double seconds);

}  // namespace rleif
