// The one binder of command-line flags to config keys (cli/command.h ConfigArgs) every subcommand
// uses: typed flags, verbatim text and list flags, precedence (file < flags < key=value overrides),
// validation that sees the flags, and errors that name the flag and the key.
#include <gtest/gtest.h>

#include "cli/command.h"
#include "core/fs.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

enum class Agg { min, prod };

}  // namespace
}  // namespace rleif::test

RLEIF_ENUM_NAMES(rleif::test::Agg, {rleif::test::Agg::min, "min"}, {rleif::test::Agg::prod, "prod"});

namespace rleif::test {
namespace {

struct Sampling {
  double temperature = 1.0;
  int64_t seed = -1;
  std::vector<std::string> stop;
  template <class V>
  void visit(V& v) {
    v.field("temperature", temperature, "softmax temperature");
    v.field("seed", seed, "seed");
    v.field("stop", stop, "stop strings");
  }
};

struct Config {
  std::string model;
  std::string title = "report";
  int64_t seed = 0;
  Agg aggregation = Agg::min;
  std::vector<std::string> rm;
  Sampling sampling;
  template <class V>
  void visit(V& v) {
    v.field("model", model, "model directory");
    v.field("title", title, "title");
    v.field("seed", seed, "seed");
    v.field("aggregation", aggregation, "min | prod");
    v.field("rm", rm, "NAME=DIR");
    v.section("sampling", sampling, "sampling");
  }
  void validate() const { RLEIF_CHECK(!model.empty(), "give a model directory with --model DIR"); }
};

// A subcommand's flags, bound the way cli/cmd_*.cc bind theirs.
struct Cli {
  CLI::App app{"test"};
  cli::ConfigArgs args;
  CLI::Option* title = nullptr;
  Cli() {
    args.bind_text(app, "--model", "model", "model directory");
    title = args.bind_text(app, "--title,--name", "title", "title");
    args.bind(app, "--temperature", {"sampling.temperature"}, "temperature");
    args.bind(app, "--seed", {"seed", "sampling.seed"}, "both seeds");
    args.bind(app, "--aggregation", {"aggregation"}, "min | prod");
    args.bind_list(app, "--rm", "rm", "NAME=DIR (repeatable)");
    args.bind_list(app, "--stop", "sampling.stop", "stop string (repeatable)");
    args.add_to(app);
  }
  // Parses argv (after the program name) and resolves a fresh Config.
  Config resolve(std::vector<std::string> argv) {
    argv.insert(argv.begin(), "test");
    std::vector<char*> p;
    for (auto& a : argv) p.push_back(a.data());
    app.parse(static_cast<int>(p.size()), p.data());
    Config c;
    EXPECT_TRUE(cli::resolve_config(c, args));
    return c;
  }
};

TEST(ConfigArgs, TypedFlagsSetTheirKeys) {
  Cli cli;
  Config c = cli.resolve({"--model", "m", "--temperature", "0.25", "--seed", "7", "--aggregation", "prod"});
  EXPECT_EQ(c.model, "m");
  EXPECT_DOUBLE_EQ(c.sampling.temperature, 0.25);
  EXPECT_EQ(c.seed, 7);           // one flag, two keys
  EXPECT_EQ(c.sampling.seed, 7);
  EXPECT_EQ(c.aggregation, Agg::prod);
  EXPECT_EQ(c.title, "report");   // flags not given leave the defaults
  EXPECT_TRUE(c.rm.empty());
}

TEST(ConfigArgs, TextFlagsAreVerbatim) {
  for (const std::string text : {std::string("runs/a b/model"), std::string("Q: {prompt} # not a comment, [x]"),
                                 std::string("\"quoted\" \\ back\tslash"), std::string("null"), std::string("0.5"),
                                 std::string("naïve ☃"), std::string("")}) {
    Cli cli;
    Config c = cli.resolve({"--model", "m", "--title", text});
    EXPECT_EQ(c.title, text);
    EXPECT_EQ(cli.title->count(), 1u);
  }
  Cli alias;
  EXPECT_EQ(alias.resolve({"--model", "m", "--name", "by alias"}).title, "by alias");
}

TEST(ConfigArgs, ListFlagsTakeOneValueEachAndLeaveTrailingOverrides) {
  Cli cli;
  Config c = cli.resolve({"--model", "m", "--rm", "prm=runs/p, q", "--stop", "\n\n", "--rm", "orm=runs/o",
                          "sampling.temperature=0"});
  EXPECT_EQ(c.rm, (std::vector<std::string>{"prm=runs/p, q", "orm=runs/o"}));
  EXPECT_EQ(c.sampling.stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_DOUBLE_EQ(c.sampling.temperature, 0.0);
}

TEST(ConfigArgs, PrecedenceFileThenFlagsThenOverrides) {
  const std::string dir = temp_dir("config_args");
  write_file_atomic(dir + "/c.yaml", "model: from_file\ntitle: file title\nseed: 1\nsampling:\n  temperature: 0.5\n");
  Cli cli;
  Config c = cli.resolve({"--config", dir + "/c.yaml", "--model", "from_flag", "--seed", "2", "seed=3"});
  EXPECT_EQ(c.model, "from_flag");     // a flag beats the file
  EXPECT_EQ(c.title, "file title");    // the file beats the default
  EXPECT_EQ(c.seed, 3);                // a key=value override beats the flag
  EXPECT_EQ(c.sampling.seed, 2);
  EXPECT_DOUBLE_EQ(c.sampling.temperature, 0.5);
}

TEST(ConfigArgs, ValidationSeesTheFlags) {
  Cli without;
  EXPECT_NE(error_of([&] { without.resolve({"--seed", "1"}); }).find("give a model directory with --model DIR"),
            std::string::npos);
  Cli with;
  EXPECT_EQ(with.resolve({"--model", "m"}).model, "m");
}

TEST(ConfigArgs, BadValueNamesTheFlagAndTheKey) {
  Cli a;
  std::string e = error_of([&] { a.resolve({"--model", "m", "--temperature", "hot"}); });
  EXPECT_NE(e.find("--temperature 'hot'"), std::string::npos) << e;
  EXPECT_NE(e.find("'sampling.temperature': expected float, got 'hot'"), std::string::npos) << e;
  Cli b;
  e = error_of([&] { b.resolve({"--model", "m", "--aggregation", "mean"}); });
  EXPECT_NE(e.find("--aggregation 'mean'"), std::string::npos) << e;
  EXPECT_NE(e.find("'mean' is not one of min | prod"), std::string::npos) << e;
  Cli c;
  e = error_of([&] { c.resolve({"--model", "m", "--seed", "1.5"}); });
  EXPECT_NE(e.find("--seed '1.5'"), std::string::npos) << e;
  EXPECT_NE(e.find("'seed': expected int"), std::string::npos) << e;
}

}  // namespace
}  // namespace rleif::test
