// Helpers shared by the evol integration tests.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/fs.h"
#include "core/strings.h"

namespace rleif::test {

// Lines in a file (0 when it does not exist yet).
inline int64_t count_lines(const std::string& path) {
  if (!path_exists(path)) return 0;
  const std::string s = read_file(path);
  return static_cast<int64_t>(std::count(s.begin(), s.end(), '\n'));
}

// The output files of an evol run that must match between runs.
inline const char* const kEvolOutputs[] = {"evolved.jsonl", "sft.jsonl", "irm_lists.jsonl", "prm_steps.jsonl"};

// Success when every output file of the two run directories is byte-identical; otherwise names the
// first differing file and line (not the whole files).
inline ::testing::AssertionResult same_evol_outputs(const std::string& a, const std::string& b) {
  for (const char* f : kEvolOutputs) {
    std::string pa = a + "/" + f, pb = b + "/" + f;
    bool ea = path_exists(pa), eb = path_exists(pb);
    if (ea != eb) return ::testing::AssertionFailure() << f << " exists in only one of " << a << " and " << b;
    if (!ea) continue;
    std::string da = read_file(pa), db = read_file(pb);
    if (da == db) continue;
    auto la = split(da, '\n'), lb = split(db, '\n');
    size_t i = 0;
    while (i < la.size() && i < lb.size() && la[i] == lb[i]) ++i;
    auto show = [](const std::vector<std::string>& l, size_t i) {
      return i < l.size() ? l[i].substr(0, 300) : std::string("(end of file)");
    };
    return ::testing::AssertionFailure() << f << " differs first at line " << i + 1 << " (" << la.size() << " vs "
                                         << lb.size() << " lines)\n  " << a << ": " << show(la, i) << "\n  " << b
                                         << ": " << show(lb, i);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace rleif::test
