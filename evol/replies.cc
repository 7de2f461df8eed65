#include "evol/replies.h"

#include <algorithm>
#include <cctype>

#include "core/strings.h"

namespace rleif::evol {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool digit(char c) { return c >= '0' && c <= '9'; }

// All integers in s, in order, with where each starts.
std::vector<std::pair<long, size_t>> integers(std::string_view s) {
  std::vector<std::pair<long, size_t>> out;
  for (size_t i = 0; i < s.size();) {
    if (!digit(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    long v = 0;
    while (j < s.size() && digit(s[j]) && j - i < 9) v = v * 10 + (s[j++] - '0');
    while (j < s.size() && digit(s[j])) ++j;
    out.push_back({v, i});
    i = j;
  }
  return out;
}

// Keeps values in 1..n, first occurrence only, as 0-based indices; fills in one missing candidate.
std::optional<std::vector<int>> finish_ranking(const std::vector<long>& values, int n) {
  std::vector<int> order;
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (long v : values) {
    if (v < 1 || v > n || seen[static_cast<size_t>(v - 1)]) continue;
    seen[static_cast<size_t>(v - 1)] = true;
    order.push_back(static_cast<int>(v - 1));
  }
  if (static_cast<int>(order.size()) < n - 1 || order.empty()) return std::nullopt;
  for (int i = 0; i < n; ++i)
    if (!seen[static_cast<size_t>(i)]) order.push_back(i);
  return order;
}

}  // namespace

std::optional<std::vector<int>> parse_ranking(std::string_view reply, int n) {
  if (n <= 0) return std::nullopt;
  if (n == 1) return std::vector<int>{0};
  std::string low = lower(reply);
  // 0. The last "a > b > c" line: replies that first echo the numbered candidates end with it.
  auto lines = split(low, '\n');
  for (size_t li = lines.size(); li-- > 0;) {
    if (lines[li].find('>') == std::string::npos) continue;
    std::vector<long> v;
    for (auto& [x, at] : integers(lines[li])) v.push_back(x);
    if (auto r = finish_ranking(v, n)) return r;
    break;
  }
  // 1. Bracketed indices: "[2], [1] and [3]", "1. [3]".
  std::vector<long> bracketed;
  for (size_t i = 0; i + 2 < low.size(); ++i) {
    if (low[i] != '[' || !digit(low[i + 1])) continue;
    size_t j = i + 1;
    long v = 0;
    while (j < low.size() && digit(low[j]) && j - i < 9) v = v * 10 + (low[j++] - '0');
    if (j < low.size() && low[j] == ']') bracketed.push_back(v);
  }
  if (auto r = finish_ranking(bracketed, n)) return r;
  // 2. Named indices: "candidate 2", "instruction 3", "version 1", "#2".
  std::vector<long> named;
  for (auto& [v, at] : integers(low)) {
    size_t b = at;
    while (b > 0 && (low[b - 1] == ' ' || low[b - 1] == '#')) --b;
    for (const char* w : {"candidate", "instruction", "version", "question", "prompt", "option"}) {
      size_t len = std::char_traits<char>::length(w);
      if (b >= len && low.compare(b - len, len, w) == 0) named.push_back(v);
    }
    if (at > 0 && low[at - 1] == '#') named.push_back(v);
  }
  if (auto r = finish_ranking(named, n)) return r;
  // 3. Numbered lines ("1. 3", "2) 1"): the last integer of each line that has one.
  std::vector<long> per_line;
  int lines_with_numbers = 0;
  for (auto& line : lines) {
    auto ints = integers(line);
    if (ints.empty()) continue;
    ++lines_with_numbers;
    per_line.push_back(ints.back().first);
  }
  if (lines_with_numbers >= n - 1)
    if (auto r = finish_ranking(per_line, n)) return r;
  // 4. Every integer in order: "2, 1, 3", "2 > 1 > 3".
  std::vector<long> all;
  for (auto& [v, at] : integers(low)) all.push_back(v);
  return finish_ranking(all, n);
}

std::optional<std::vector<int>> parse_step_labels(std::string_view reply, int n) {
  if (n <= 0) return std::nullopt;
  std::vector<int> labels(static_cast<size_t>(n), -1);
  bool any_line = false;
  for (auto& raw : split(reply, '\n')) {
    std::string line = lower(raw);
    size_t p = line.find("step");
    if (p == std::string::npos) continue;
    size_t i = p + 4;
    while (i < line.size() && (line[i] == ' ' || line[i] == '#')) ++i;
    if (i >= line.size() || !digit(line[i])) continue;
    long k = 0;
    while (i < line.size() && digit(line[i]) && k < 100000) k = k * 10 + (line[i++] - '0');
    std::string rest = line.substr(i);
    int verdict = -1;
    // Negative words first: "incorrect" contains "correct".
    for (const char* w : {"incorrect", "not correct", "wrong", "invalid", "error", "false", "\xE2\x9C\x97", "\xE2\x9D\x8C"})
      if (verdict < 0 && rest.find(w) != std::string::npos) verdict = 0;
    for (const char* w : {"correct", "right", "valid", "true", "\xE2\x9C\x93", "\xE2\x9C\x85"})
      if (verdict < 0 && rest.find(w) != std::string::npos) verdict = 1;
    if (verdict < 0) {
      std::string t = trim(rest);
      while (!t.empty() && (t.front() == ':' || t.front() == '-' || t.front() == ' ')) t.erase(0, 1);
      if (starts_with(t, "+") || starts_with(t, "yes") || t == "1") verdict = 1;
      else if (starts_with(t, "no") || t == "0") verdict = 0;
    }
    if (verdict < 0 || k < 1 || k > n) continue;
    any_line = true;
    int& slot = labels[static_cast<size_t>(k - 1)];
    if (slot != -1 && slot != verdict) return std::nullopt;  // contradicts itself
    slot = verdict;
  }
  if (!any_line) {
    // A bare list of 0/1: "[1, 1, 0]".
    std::vector<int> bare;
    for (char c : reply) {
      if (c == '0' || c == '1') bare.push_back(c - '0');
      else if (digit(c)) return std::nullopt;
    }
    if (static_cast<int>(bare.size()) == n) return bare;
    return std::nullopt;
  }
  for (int v : labels)
    if (v < 0) return std::nullopt;
  return labels;
}

std::optional<bool> parse_equal(std::string_view reply) {
  std::string low = lower(reply);
  if (low.find("not equal") != std::string::npos || low.find("unequal") != std::string::npos ||
      low.find("not the same") != std::string::npos)
    return false;
  if (low.find("equal") != std::string::npos || low.find("the same") != std::string::npos) return true;
  return std::nullopt;
}

}  // namespace rleif::evol
