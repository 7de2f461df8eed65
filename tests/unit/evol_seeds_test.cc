// evol/seeds: the GSM8K adapter on the real data, rleif's seed JSONL, synthetic seeds, bad input.
#include <gtest/gtest.h>

#include <set>

#include "core/answer.h"
#include "core/error.h"
#include "core/fs.h"
#include "evol/seeds.h"
#include "tests/test_util.h"

namespace rleif::evol {
namespace {

TEST(Seeds, Gsm8kAdapterReadsTheRealTrainSet) {
  SeedOptions o;
  o.path = test::shared_dir() + "/data/gsm8k/train.jsonl";
  RLEIF_REQUIRE_PATH(o.path);
  o.format = SeedFormat::gsm8k;
  auto seeds = load_seeds(o);
  ASSERT_EQ(seeds.size(), 7473u);
  EXPECT_EQ(seeds[0].id, "train-0");
  EXPECT_EQ(seeds[0].answer, "72");  // "Natalia sold 48/2 = ... #### 72"
  std::set<std::string> ids;
  for (auto& s : seeds) {
    ASSERT_TRUE(s.answer);
    EXPECT_TRUE(parse_number(*s.answer)) << s.id << ": " << *s.answer;
    EXPECT_FALSE(s.instruction.empty());
    ids.insert(s.id);
  }
  EXPECT_EQ(ids.size(), seeds.size());
  o.limit = 10;
  EXPECT_EQ(load_seeds(o).size(), 10u);
}

TEST(Seeds, JsonlWithIntegerIdsAndNumericAnswers) {
  std::string dir = test::temp_dir("evol_seeds");
  write_file_atomic(dir + "/s.jsonl",
                    "{\"id\": 7, \"instruction\": \"Q1\", \"answer\": 12, \"source\": \"x\"}\n\n"
                    "{\"id\": \"b\", \"instruction\": \"Q2\"}\n");
  SeedOptions o;
  o.path = dir + "/s.jsonl";
  auto seeds = load_seeds(o);
  ASSERT_EQ(seeds.size(), 2u);
  EXPECT_EQ(seeds[0].id, "7");
  EXPECT_EQ(seeds[0].answer, "12");
  EXPECT_FALSE(seeds[1].answer);
}

TEST(Seeds, SyntheticSeedsComeFromTheMathDomain) {
  SeedOptions o;
  o.format = SeedFormat::synth;
  o.synth_count = 5;
  auto seeds = load_seeds(o);
  ASSERT_EQ(seeds.size(), 5u);
  EXPECT_EQ(seeds[4].id, "synth-4");
  EXPECT_TRUE(seeds[4].answer);
}

TEST(Seeds, BadInputNamesFileLineAndField) {
  std::string dir = test::temp_dir("evol_seeds_bad");
  auto expect = [&](const std::string& text, SeedFormat f, const std::vector<std::string>& parts) {
    write_file_atomic(dir + "/s.jsonl", text);
    SeedOptions o;
    o.path = dir + "/s.jsonl";
    o.format = f;
    try {
      load_seeds(o);
      ADD_FAILURE() << "expected an error for " << text;
    } catch (const Error& e) {
      for (auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  expect("{\"instruction\": \"Q\"}\n", SeedFormat::jsonl, {"s.jsonl:1", "missing required field 'id'"});
  expect("{\"id\": \"a\", \"instruction\": 3}\n", SeedFormat::jsonl, {"s.jsonl:1", "'instruction' must be a string"});
  expect("{\"id\": \"a\", \"instruction\": \"Q\"}\n{\"id\": \"a\", \"instruction\": \"R\"}\n", SeedFormat::jsonl,
         {"s.jsonl:2", "'a' repeats line 1"});
  expect("{\"id\": \"a\", \"instruction\": \"  \"}\n", SeedFormat::jsonl, {"s.jsonl:1", "instruction is empty"});
  expect("{\"id\": \"a\", \"instruction\": \"Q\", \"answer\": [1]}\n", SeedFormat::jsonl, {"'answer' must be"});
  expect("{\"id\": \"a\", \"instruction\": \"Q\"\n", SeedFormat::jsonl, {"s.jsonl:1", "not valid JSON"});
  expect("{\"question\": \"Q\"}\n", SeedFormat::gsm8k, {"s.jsonl:1", "missing required field 'answer'"});
  expect("", SeedFormat::jsonl, {"has no records"});
  SeedOptions missing;
  missing.path = dir + "/nope.jsonl";
  EXPECT_THROW(load_seeds(missing), Error);
  SeedOptions empty;
  EXPECT_THROW(empty.validate(), Error);
}

}  // namespace
}  // namespace rleif::evol
