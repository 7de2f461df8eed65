// The rleif binary as a user runs it: --version, --help for every subcommand, the config system
// on the command line, and clear errors for bad input.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/test_util.h"

namespace rleif::test {
namespace {

CommandResult rleif(std::vector<std::string> args) {
  args.insert(args.begin(), rleif_bin());
  return run_command(args, 120);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Cli, VersionAndHelp) {
  auto v = rleif({"--version"});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_TRUE(contains(v.out, "rleif ")) << v.out;
  auto h = rleif({"--help"});
  EXPECT_EQ(h.exit_code, 0) << h.out;
  EXPECT_TRUE(contains(h.out, "generate")) << h.out;
  EXPECT_TRUE(contains(h.out, "convert")) << h.out;
}

TEST(Cli, EverySubcommandHasHelp) {
  auto h = rleif({"--help"});
  // Subcommand names are listed under "Subcommands:" (CLI11 2.x; "SUBCOMMANDS:" in 2.4+), one a line.
  auto pos = h.out.find("Subcommands:");
  if (pos == std::string::npos) pos = h.out.find("SUBCOMMANDS:");
  ASSERT_NE(pos, std::string::npos) << h.out;
  std::istringstream lines(h.out.substr(pos));
  std::string line;
  std::getline(lines, line);
  int n = 0;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (!(words >> name)) continue;
    auto r = rleif({name, "--help"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.out;
    EXPECT_TRUE(contains(r.out, "Usage")) << name << ": " << r.out;
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(Cli, UnknownSubcommandFails) {
  auto r = rleif({"frobnicate"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(Cli, PrintConfigShowsResolvedValues) {
  auto r = rleif({"generate", "--model", "m", "--prompt", "x", "--temperature", "0.5", "sampling.top_k=7",
                  "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "temperature: 0.5")) << r.out;
  EXPECT_TRUE(contains(r.out, "top_k: 7")) << r.out;
  auto h = rleif({"generate", "--help-config"});
  ASSERT_EQ(h.exit_code, 0) << h.out;
  EXPECT_TRUE(contains(h.out, "sampling.temperature")) << h.out;
}

TEST(Cli, UnknownKeySuggestsNearest) {
  auto r = rleif({"generate", "--model", "m", "sampling.temprature=0.7"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "unknown key 'sampling.temprature'")) << r.out;
  EXPECT_TRUE(contains(r.out, "did you mean 'sampling.temperature'")) << r.out;
}

TEST(Cli, MissingModelDirectoryIsAClearError) {
  auto r = rleif({"generate", "--model", "/nonexistent/model", "--prompt", "hi"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "/nonexistent/model")) << r.out;
  EXPECT_TRUE(contains(r.out, "does not exist")) << r.out;
}

TEST(Cli, BadOptionValuesAreErrors) {
  auto r = rleif({"generate", "--model", "m", "--temperature", "-1", "--prompt", "x"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "sampling.temperature")) << r.out;
  EXPECT_TRUE(contains(r.out, "-1")) << r.out;
}

}  // namespace
}  // namespace rleif::test
