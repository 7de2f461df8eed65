// The config system: YAML files, dotted overrides, unknown keys with suggestions, enums, validation,
// and the resolved-config dump that --print-config prints and checkpoints store.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/options.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

enum class Kl { k1, k2, k3 };

}  // namespace
}  // namespace rleif::test

RLEIF_ENUM_NAMES(rleif::test::Kl, {rleif::test::Kl::k1, "k1"}, {rleif::test::Kl::k2, "k2"}, {rleif::test::Kl::k3, "k3"});

namespace rleif::test {
namespace {

struct PpoLike {
  double clip_eps = 0.2;
  int64_t epochs = 1;
  bool whiten = true;
  Kl kl = Kl::k1;
  std::string name = "run";
  std::vector<int64_t> stops{2};
  template <class V>
  void visit(V& v) {
    v.field("clip_eps", clip_eps, "PPO ratio clip");
    v.field("epochs", epochs, "inner epochs");
    v.field("whiten", whiten, "whiten advantages");
    v.field("kl", kl, "KL estimator");
    v.field("name", name, "run name");
    v.field("stops", stops, "stop ids");
  }
  void validate() const { RLEIF_CHECK(clip_eps > 0, "ppo.clip_eps must be > 0, got ", clip_eps); }
};

struct Root {
  PpoLike ppo;
  int64_t seed = 0;
  template <class V>
  void visit(V& v) {
    v.field("seed", seed, "global seed");
    v.section("ppo", ppo, "PPO settings");
  }
};

TEST(Options, YamlThenOverridesInOrder) {
  std::string dir = temp_dir("opts");
  write_file_atomic(dir + "/c.yaml", "seed: 3\nppo:\n  clip_eps: 0.1\n  kl: k3\n  stops: [5, 6]\n");
  Root r;
  load_options(r, dir + "/c.yaml", {"ppo.epochs=4", "ppo.clip_eps=0.3", "ppo.name=hello world"});
  EXPECT_EQ(r.seed, 3);
  EXPECT_DOUBLE_EQ(r.ppo.clip_eps, 0.3);  // the override wins over the file
  EXPECT_EQ(r.ppo.epochs, 4);
  EXPECT_EQ(r.ppo.kl, Kl::k3);
  EXPECT_EQ(r.ppo.stops, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(r.ppo.name, "hello world");
}

TEST(Options, UnknownKeySuggestsTheNearest) {
  Root r;
  std::string e = error_of([&] { load_options(r, "", {"ppo.clip_epss=0.1"}); });
  EXPECT_NE(e.find("unknown key 'ppo.clip_epss'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'ppo.clip_eps'"), std::string::npos) << e;
  std::string dir = temp_dir("opts");
  write_file_atomic(dir + "/c.yaml", "sed: 1\n");
  e = error_of([&] { load_options(r, dir + "/c.yaml", {}); });
  EXPECT_NE(e.find(dir + "/c.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'seed'"), std::string::npos) << e;
}

TEST(Options, WrongTypesAndEnumsNameTheKey) {
  Root r;
  std::string e = error_of([&] { load_options(r, "", {"ppo.epochs=many"}); });
  EXPECT_NE(e.find("'ppo.epochs'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected int"), std::string::npos) << e;
  e = error_of([&] { load_options(r, "", {"ppo.kl=k9"}); });
  EXPECT_NE(e.find("k1 | k2 | k3"), std::string::npos) << e;
  e = error_of([&] { load_options(r, "", {"ppo.whiten=yes"}); });
  EXPECT_NE(e.find("true or false"), std::string::npos) << e;
  e = error_of([&] { load_options(r, "", {"ppo=1"}); });
  EXPECT_NE(e.find("is a section"), std::string::npos) << e;
  e = error_of([&] { load_options(r, "", {"noequals"}); });
  EXPECT_NE(e.find("key=value"), std::string::npos) << e;
}

TEST(Options, ValidateRunsOnSections) {
  Root r;
  std::string e = error_of([&] { load_options(r, "", {"ppo.clip_eps=-1"}); });
  EXPECT_NE(e.find("ppo.clip_eps must be > 0"), std::string::npos) << e;
}

TEST(Options, BadYamlFilesNameTheFile) {
  Root r;
  std::string e = error_of([&] { load_options(r, "/nonexistent/c.yaml", {}); });
  EXPECT_NE(e.find("/nonexistent/c.yaml: cannot open"), std::string::npos) << e;
  std::string dir = temp_dir("opts");
  write_file_atomic(dir + "/bad.yaml", "ppo: [1, 2\n");
  e = error_of([&] { load_options(r, dir + "/bad.yaml", {}); });
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  // A key that is a list or a mapping (valid YAML, not a config): the file, line and section.
  write_file_atomic(dir + "/listkey.yaml", "seed: 1\n[a, b]: 2\n");
  e = error_of([&] { load_options(r, dir + "/listkey.yaml", {}); });
  EXPECT_NE(e.find(dir + "/listkey.yaml:2: a key is a list"), std::string::npos) << e;
  write_file_atomic(dir + "/mapkey.yaml", "ppo:\n  epochs: 2\n  ? {x: 1}\n  : 3\n");
  e = error_of([&] { load_options(r, dir + "/mapkey.yaml", {}); });
  EXPECT_NE(e.find(dir + "/mapkey.yaml:3: a key under 'ppo' is a mapping"), std::string::npos) << e;
}

TEST(Options, DumpRoundTripsAndHelpListsEveryKey) {
  Root a;
  load_options(a, "", {"seed=9", "ppo.kl=k2", "ppo.clip_eps=0.125", "ppo.stops=[1,2,3]"});
  std::string dir = temp_dir("opts");
  write_file_atomic(dir + "/resolved.yaml", dump_options(a));
  Root b;
  load_options(b, dir + "/resolved.yaml", {});
  EXPECT_EQ(dump_options(a), dump_options(b));
  EXPECT_EQ(b.ppo.kl, Kl::k2);
  EXPECT_DOUBLE_EQ(b.ppo.clip_eps, 0.125);
  std::string help = options_help(a);
  for (auto k : {"seed", "ppo.clip_eps", "ppo.epochs", "ppo.whiten", "ppo.kl", "ppo.name", "ppo.stops"})
    EXPECT_NE(help.find(k), std::string::npos) << k;
  EXPECT_NE(help.find("PPO ratio clip"), std::string::npos);
}

}  // namespace
}  // namespace rleif::test
