// Replays every fuzz target (tests/fuzz/targets.h) on its seed corpus and on every input a fuzzing
// run found (tests/fuzz/regressions/<target>/), then on seeded mutations of the seeds: a small,
// deterministic fuzz pass in every ctest run. scripts/fuzz runs the same targets under libFuzzer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/fuzz/targets.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using rleif::fuzz::Target;

namespace {

std::vector<std::string> inputs_in(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out.push_back(s.str());
  }
  return out;
}

int run(const Target& t, const std::string& bytes) {
  return t.fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// libFuzzer-like mutations: flip, insert, erase, duplicate a span, truncate, splice another seed.
std::string mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t n = s.size();
    switch (rng() % 6) {
      case 0:
        if (n) s[rng() % n] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1: s.insert(s.begin() + (n ? rng() % (n + 1) : 0), static_cast<char>(rng() % 256)); break;
      case 2:
        if (n) s.erase(rng() % n, 1 + rng() % 8);
        break;
      case 3:
        if (n) {
          size_t a = rng() % n, len = 1 + rng() % std::min<size_t>(n - a, 32);
          s.insert(rng() % (n + 1), s.substr(a, len));
        }
        break;
      case 4:
        if (n) s.resize(rng() % n);
        break;
      default: {
        const std::string& o = seeds[rng() % seeds.size()];
        if (!o.empty()) s += o.substr(rng() % o.size());
      }
    }
  }
  return s;
}

class FuzzReplay : public ::testing::TestWithParam<size_t> {
 protected:
  const Target& target() const { return rleif::fuzz::targets()[GetParam()]; }
  fs::path dir(const char* kind) const { return fs::path(rleif::test::source_dir()) / "tests/fuzz" / kind / target().name; }
};

TEST_P(FuzzReplay, SeedsAndRegressionsRunClean) {
  auto seeds = inputs_in(dir("seeds"));
  ASSERT_FALSE(seeds.empty()) << "no seed inputs in " << dir("seeds") << " (set RLEIF_SOURCE to the repository)";
  for (size_t i = 0; i < seeds.size(); ++i) EXPECT_EQ(run(target(), seeds[i]), 0) << "seed " << i;
  auto found = inputs_in(dir("regressions"));
  for (size_t i = 0; i < found.size(); ++i) EXPECT_EQ(run(target(), found[i]), 0) << "regression " << i;
}

TEST_P(FuzzReplay, SeededMutationsRunClean) {
  auto seeds = inputs_in(dir("seeds"));
  ASSERT_FALSE(seeds.empty()) << "no seed inputs in " << dir("seeds");
  std::mt19937_64 rng(20261206 + GetParam());
  for (int i = 0; i < 300; ++i) {
    std::string in = mutate(seeds[i % seeds.size()], seeds, rng);
    ASSERT_EQ(run(target(), in), 0) << "mutation " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::Range<size_t>(0, rleif::fuzz::targets().size()),
                         [](const auto& info) { return std::string(rleif::fuzz::targets()[info.param].name); });

}  // namespace
