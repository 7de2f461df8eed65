// Reward-model record readers (rm/data.h): every bad-input case names file:line and the problem;
// skip mode counts; and the real data sets under ../shared parse with values checked by hand or by
// Python (counts noted next to each test).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/fs.h"
#include "core/jsonl.h"
#include "rm/data.h"
#include "tests/test_util.h"

namespace rleif::rm {
namespace {

// Whether an error message contains `part` (gmock is not linked).
::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message '" << text << "'\n  lacks '" << part << "'";
}
class RmData : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("rmdata"); }
  // Writes one JSON record (or raw text) a line; returns the path.
  std::string write(const std::string& name, const std::vector<std::string>& lines) {
    std::string text;
    for (auto& l : lines) text += l + "\n";
    write_file_atomic(dir_ + "/" + name, text);
    return dir_ + "/" + name;
  }
  template <class F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::string irm_error(const json& rec) {
    std::string p = write("irm.jsonl", {"", json{{"seed_id", "ok"}, {"candidates", {"a", "b"}}, {"ranking", {1, 0}}}.dump(), rec.dump()});
    return error_of([&] { read_irm_lists(p); });
  }
  std::string prm_error(const json& rec, PrmReadOptions o = {}) {
    std::string p = write("prm.jsonl", {rec.dump()});
    return error_of([&] { read_prm_examples(p, o); });
  }
  // file:line of the bad record irm_error / prm_error write.
  std::string irm_at() const { return dir_ + "/irm.jsonl:3"; }
  std::string prm_at() const { return dir_ + "/prm.jsonl:1"; }
  std::string dir_;
};

json shepherd(const std::string& input, const std::string& label) { return json{{"input", input}, {"label", label}}; }

// ---------------------------------------------------------------- IRM lists

TEST_F(RmData, IrmReadsListsAndIds) {
  std::string p = write("irm.jsonl", {json{{"seed_id", "s7"}, {"round", 2}, {"candidates", {"a", "b", "c"}}, {"ranking", {2, 0, 1}}}.dump(),
                                      "   ", json{{"candidates", {"x", "y"}}, {"ranking", {0, 1}}}.dump()});
  auto r = read_irm_lists(p);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].id, "s7:2");
  EXPECT_EQ(r.items[0].ranking, (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(r.items[0].candidates[2], "c");
  EXPECT_EQ(r.items[0].loc.str(), p + ":1");
  EXPECT_EQ(r.items[1].id, "line 3");
  EXPECT_EQ(r.stats.records, 2);  // the blank line is not a record
  EXPECT_EQ(r.stats.summary(), "2 records, 2 used");
}

TEST_F(RmData, IrmRankingNotAPermutation) {
  json c = {"a", "b", "c"};
  std::string e = irm_error(json{{"candidates", c}, {"ranking", {0, 0, 2}}});
  EXPECT_TRUE(contains(e, irm_at() + ": 'ranking' repeats index 0"));
  EXPECT_TRUE(contains(e, "permutation of 0..2"));
  e = irm_error(json{{"candidates", c}, {"ranking", {0, 5, 1}}});
  EXPECT_TRUE(contains(e, irm_at() + ": 'ranking' entry 5 at position 1 is out of range 0..2"));
  e = irm_error(json{{"candidates", c}, {"ranking", {2, 0}}});
  EXPECT_TRUE(contains(e, irm_at() + ": 'ranking' is missing index 1 (2 entries for 3 candidates)"));
}

TEST_F(RmData, IrmDuplicateCandidates) {
  std::string e = irm_error(json{{"candidates", {"same text", "other", " same text"}}, {"ranking", {0, 1, 2}}});
  EXPECT_TRUE(contains(e, irm_at() + ": candidates 0 and 2 are the same text ('same text')"));
}

TEST_F(RmData, IrmFewerThanTwoCandidates) {
  std::string e = irm_error(json{{"candidates", {"only"}}, {"ranking", {0}}});
  EXPECT_TRUE(contains(e, irm_at() + ": 'candidates' has 1 entry; a ranking needs at least 2 candidates"));
}

TEST_F(RmData, IrmEmptyCandidateAndMissingFields) {
  EXPECT_TRUE(contains(irm_error(json{{"candidates", {"a", "  "}}, {"ranking", {0, 1}}}), irm_at() + ": candidate 1 is empty"));
  EXPECT_TRUE(contains(irm_error(json{{"candidates", {"a", "b"}}}), irm_at() + ": missing required field 'ranking'"));
  EXPECT_TRUE(contains(irm_error(json{{"candidates", "a b"}, {"ranking", {0, 1}}}), irm_at() + ": field 'candidates' must be a list of strings, got string"));
  EXPECT_TRUE(contains(irm_error(json{{"candidates", {"a", "b"}}, {"ranking", {"first", "second"}}}), irm_at() + ": field 'ranking' must be a list of candidate indices"));
}

// ---------------------------------------------------------------- PRM: rleif and TRL

TEST_F(RmData, PrmRleifReadsLabelsOfEveryKind) {
  std::string p = write("prm.jsonl", {json{{"question", "Q?"}, {"steps", {"a", "b", "c", "d"}}, {"labels", {true, 0.25, nullptr, 0}},
                                           {"source_id", "g12"}, {"sample", 3}}.dump()});
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 1u);
  const PrmExample& ex = r.items[0];
  EXPECT_EQ(ex.id, "g12:3");
  EXPECT_EQ(ex.prompt, "Q?");
  EXPECT_EQ(ex.labels, (std::vector<float>{1.0f, 0.25f, -1.0f, 0.0f}));
  EXPECT_EQ(ex.first_error(), 1);  // 0.25 < 0.5
}

TEST_F(RmData, PrmLabelsStepsCountMismatch) {
  std::string e = prm_error(json{{"prompt", "Q"}, {"steps", {"a", "b", "c"}}, {"labels", {1, 0}}});
  EXPECT_TRUE(contains(e, prm_at() + ": 'labels' has 2 entries but 'steps' has 3; give one label per step"));
  e = prm_error(json{{"prompt", "Q"}, {"completions", {"a", "b"}}, {"labels", {true, false, true}}});  // TRL
  EXPECT_TRUE(contains(e, prm_at() + ": 'labels' has 3 entries but 'completions' has 2"));
}

TEST_F(RmData, PrmEmptyStep) {
  std::string e = prm_error(json{{"prompt", "Q"}, {"steps", {"a", "b", " \n "}}, {"labels", {1, 1, 0}}});
  EXPECT_TRUE(contains(e, prm_at() + ": step 3 is empty"));
  e = prm_error(json{{"prompt", "Q"}, {"steps", json::array()}, {"labels", json::array()}});
  EXPECT_TRUE(contains(e, prm_at() + ": 'steps' is empty"));
}

TEST_F(RmData, PrmLabelOutOfRange) {
  std::string e = prm_error(json{{"prompt", "Q"}, {"steps", {"a", "b"}}, {"labels", {1, 1.5}}});
  EXPECT_TRUE(contains(e, prm_at() + ": 'labels' entry 2 is 1.5, outside [0, 1]"));
  // -1 is a rating, not a label: rejected rather than read as "unlabelled".
  e = prm_error(json{{"prompt", "Q"}, {"steps", {"a", "b"}}, {"labels", {-1, 1}}});
  EXPECT_TRUE(contains(e, prm_at() + ": 'labels' entry 1 is -1, outside [0, 1]"));
  e = prm_error(json{{"prompt", "Q"}, {"steps", {"a"}}, {"labels", {"yes"}}});
  EXPECT_TRUE(contains(e, prm_at() + ": 'labels' entry 1 is \"yes\"; a label is"));
}

TEST_F(RmData, PrmTrlReads) {
  std::string p = write("trl.jsonl", {json{{"prompt", "Q"}, {"completions", {"s1", "s2"}}, {"labels", {true, false}}}.dump()});
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].steps, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(r.items[0].labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(r.items[0].id, "line 1");
  EXPECT_EQ(detect_prm_format(p), PrmFormat::trl);
}

// ---------------------------------------------------------------- PRM: Math-Shepherd

TEST_F(RmData, MathShepherdSplitsAtTags) {
  std::string p = write("ms.jsonl", {shepherd("What is 1+1? Step 1: 1 + 1 = 2. ки\nStep 2: The answer is: 2 ки",
                                              "What is 1+1? Step 1: 1 + 1 = 2. +\nStep 2: The answer is: 2 -").dump(),
                                     shepherd("no marker here ки then more ки", "no marker here - then more +").dump()});
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].prompt, "What is 1+1?");
  EXPECT_EQ(r.items[0].steps, (std::vector<std::string>{"Step 1: 1 + 1 = 2.", "Step 2: The answer is: 2"}));
  EXPECT_EQ(r.items[0].labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(r.items[1].prompt, "");
  EXPECT_EQ(r.items[1].steps, (std::vector<std::string>{"no marker here", "then more"}));
  EXPECT_EQ(r.items[1].labels, (std::vector<float>{0, 1}));
  EXPECT_EQ(detect_prm_format(p), PrmFormat::math_shepherd);
}

TEST_F(RmData, MathShepherdCustomTag) {
  PrmReadOptions o;
  o.step_tag = "<tag>";
  std::string p = write("ms.jsonl", {shepherd("Q Step 1: a <tag> Step 2: b <tag>", "Q Step 1: a - Step 2: b +").dump()});
  auto r = read_prm_examples(p, o);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].labels, (std::vector<float>{0, 1}));
}

TEST_F(RmData, MathShepherdMissingStepTags) {
  std::string e = prm_error(shepherd("Q Step 1: a\nStep 2: b", "Q Step 1: a +\nStep 2: b +"));
  EXPECT_TRUE(contains(e, prm_at() + ": missing step tags: 'input' has no 'ки'"));
}

TEST_F(RmData, MathShepherdTagLabelCountMismatch) {
  std::string e = prm_error(shepherd("Q Step 1: a ки\nStep 2: b ки\nStep 3: c ки", "Q Step 1: a +\nStep 2: b -\nStep 3: c"));
  EXPECT_TRUE(contains(e, prm_at() + ": 'input' has 3 step tags but 'label' gives 2 +/- labels"));
  e = prm_error(shepherd("Q Step 1: a ки", "Q Step 1: a + extra -"));
  EXPECT_TRUE(contains(e, prm_at() + ": 'input' has 1 step tags but 'label' goes on differently"));
}

TEST_F(RmData, MathShepherdEmptyStep) {
  std::string e = prm_error(shepherd("Q Step 1: a ки\n ки", "Q Step 1: a +\n -"));
  EXPECT_TRUE(contains(e, prm_at() + ": step 2 is empty"));
}

// ---------------------------------------------------------------- PRM: PRMBench, MR-GSM8K, detection

TEST_F(RmData, PrmBenchAndMrGsm8kLabelsFromTheFirstError) {
  std::string p = write("pb.jsonl", {json{{"idx", "p1"}, {"classification", "circular"}, {"question", "Q"},
                                          {"modified_process", {"a", "b", "c", "d"}}, {"error_steps", {4, 2}}}.dump()});
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].id, "p1:circular");
  EXPECT_EQ(r.items[0].labels, (std::vector<float>{1, 0, -1, -1}));
  EXPECT_EQ(r.items[0].first_error(), 1);
  p = write("mr.jsonl", {json{{"uuid", "u1"}, {"question", "Q"}, {"model_output_steps", {"Step 1: a", "Step 2: \r", "Step 3:     x = 1\r", "Step 10:c"}},
                              {"model_output_solution_first_error_step", 0}}.dump()});
  r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].steps, (std::vector<std::string>{"a", "    x = 1", "c"}));  // blank step 2 dropped
  EXPECT_EQ(r.items[0].labels, (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(r.items[0].first_error(), -1);
}

TEST_F(RmData, AnnotatedErrorPastTheEnd) {
  std::string e = prm_error(json{{"idx", "p"}, {"question", "Q"}, {"modified_process", {"a", "b"}}, {"error_steps", {3}}});
  EXPECT_TRUE(contains(e, prm_at() + ": first error step 3 is past the end of 'modified_process' (2 steps)"));
  e = prm_error(json{{"uuid", "u"}, {"question", "Q"}, {"model_output_steps", {"a"}}, {"model_output_solution_first_error_step", 2}});
  EXPECT_TRUE(contains(e, prm_at() + ": 'model_output_solution_first_error_step' is 2 but 'model_output_steps' has 1 steps"));
}

TEST_F(RmData, DetectNamesTheFileWhenNoFormatFits) {
  std::string p = write("x.jsonl", {"", json{{"text", "hello"}, {"score", 1}}.dump()});
  std::string e = error_of([&] { detect_prm_format(p); });
  EXPECT_TRUE(contains(e, p + ":2: cannot tell the PRM format from the keys [score, text]"));
  e = error_of([&] { read_prm_examples(p); });
  EXPECT_TRUE(contains(e, p + ":2: cannot tell the PRM format"));
  std::string empty = write("empty.jsonl", {});
  EXPECT_TRUE(contains(error_of([&] { detect_prm_format(empty); }), empty + ": no records"));
}

// ---------------------------------------------------------------- every reader: errors, skip, limit

TEST_F(RmData, NotAJsonObjectNamesFileLine) {
  std::string p = write("bad.jsonl", {json{{"prompt", "Q"}, {"response", "R"}, {"label", 1}}.dump(), "[1, 2]", "{not json"});
  EXPECT_TRUE(contains(error_of([&] { read_orm_examples(p); }), p + ":2: expected a JSON object, got array"));
}

TEST_F(RmData, SkipModeCountsBadRecords) {
  std::string good = json{{"prompt", "Q"}, {"steps", {"a"}}, {"labels", {1}}}.dump();
  std::string p = write("mixed.jsonl", {good, "{not json", json{{"prompt", "Q"}, {"steps", {"a"}}, {"labels", {1, 0}}}.dump(), "",
                                        good, good});
  PrmReadOptions o;
  o.format = PrmFormat::rleif;
  o.on_error = BadRecord::skip;
  auto r = read_prm_examples(p, o);
  EXPECT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.stats.records, 5);
  EXPECT_EQ(r.stats.used, 3);
  EXPECT_EQ(r.stats.bad, 2);
  EXPECT_TRUE(contains(r.stats.first_bad, p + ":2: not valid JSON"));
  EXPECT_EQ(r.stats.summary(), "5 records, 3 used, 2 malformed skipped (first: " + r.stats.first_bad + ")");
  EXPECT_EQ(r.items[1].loc.line, 5u);
  // The same file with on_error=error stops at the first bad line.
  o.on_error = BadRecord::error;
  EXPECT_TRUE(contains(error_of([&] { read_prm_examples(p, o); }), p + ":2: not valid JSON"));
  // limit keeps the first N usable records.
  o.on_error = BadRecord::skip;
  o.limit = 2;
  r = read_prm_examples(p, o);
  EXPECT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[1].loc.line, 5u);
  EXPECT_EQ(r.stats.records, 4);
}

TEST_F(RmData, FirstErrorSkipsUnlabelledSteps) {
  PrmExample ex;
  ex.labels = {1, -1, 0.7f, 0.5f};
  EXPECT_EQ(ex.first_error(), -1);
  ex.labels = {1, -1, 0.49f, 0};
  EXPECT_EQ(ex.first_error(), 2);
  ex.labels = {-1, 0};
  EXPECT_EQ(ex.first_error(), 1);
}

// ---------------------------------------------------------------- ORM and pairwise

TEST_F(RmData, OrmReadsBothShapes) {
  std::string p = write("orm.jsonl", {json{{"question", "Q"}, {"response", "R"}, {"label", false}, {"id", 7}}.dump(),
                                      json{{"question", "Q2"}, {"ground_truth", "G"},
                                           {"m_b", {{"is_correct", true}, {"solution", "S1"}}},
                                           {"m_a", {{"is_correct", false}, {"solution", "S2"}}}}.dump()});
  auto r = read_orm_examples(p);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].id, "7");
  EXPECT_EQ(r.items[0].label, 0.0f);
  EXPECT_EQ(r.items[1].id, "line 2:m_a");  // model keys in sorted order
  EXPECT_EQ(r.items[1].response, "S2");
  EXPECT_EQ(r.items[1].label, 0.0f);
  EXPECT_EQ(r.items[2].id, "line 2:m_b");
  EXPECT_EQ(r.items[2].prompt, "Q2");
  EXPECT_EQ(r.items[2].label, 1.0f);
}

TEST_F(RmData, OrmBadRecords) {
  std::string p = write("orm.jsonl", {json{{"prompt", "Q"}, {"response", "R"}, {"label", 2}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_orm_examples(p); }), p + ":1: 'label' is 2, outside [0, 1]"));
  p = write("orm.jsonl", {json{{"prompt", "Q"}, {"response", ""}, {"label", 1}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_orm_examples(p); }), p + ":1: the response of 'line 1' is empty"));
  p = write("orm.jsonl", {json{{"prompt", "Q"}, {"response", "R"}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_orm_examples(p); }), p + ":1: missing required field 'label'"));
}

TEST_F(RmData, PairsPlainAndConversational) {
  json conv_c = json::array({{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "Q?"}},
                             {{"role", "assistant"}, {"content", "good"}}});
  json conv_r = conv_c;
  conv_r[2]["content"] = "bad";
  std::string p = write("pairs.jsonl", {json{{"prompt", "P"}, {"chosen", "c"}, {"rejected", "r"}, {"margin", 1.5}}.dump(),
                                        json{{"chosen", conv_c}, {"rejected", conv_r}}.dump(),
                                        json{{"prompt", {{{"role", "user"}, {"content", "Q2"}}}},
                                             {"chosen", {{{"role", "assistant"}, {"content", "y"}}}},
                                             {"rejected", {{{"role", "assistant"}, {"content", "n"}}}}}.dump()});
  auto r = read_pair_examples(p);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].prompt, "P");
  EXPECT_EQ(r.items[0].margin, 1.5f);
  EXPECT_EQ(r.items[1].prompt, "Q?");
  EXPECT_EQ(r.items[1].chosen, "good");
  EXPECT_EQ(r.items[1].rejected, "bad");
  EXPECT_EQ(r.items[1].margin, 0.0f);
  EXPECT_EQ(r.items[2].prompt, "Q2");
  EXPECT_EQ(r.items[2].chosen, "y");
}

TEST_F(RmData, PairBadRecords) {
  std::string p = write("pairs.jsonl", {json{{"prompt", "P"}, {"chosen", "same"}, {"rejected", "same"}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_pair_examples(p); }), p + ":1: 'chosen' and 'rejected' are the same text"));
  p = write("pairs.jsonl", {json{{"chosen", {{{"role", "user"}, {"content", "Q"}}}}, {"rejected", "r"}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_pair_examples(p); }), p + ":1: 'chosen' is a message list without an assistant turn"));
  p = write("pairs.jsonl", {json{{"chosen", {{{"role", "user"}, {"content", "Q1"}}, {{"role", "assistant"}, {"content", "a"}}}},
                                 {"rejected", {{{"role", "user"}, {"content", "Q2"}}, {{"role", "assistant"}, {"content", "b"}}}}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_pair_examples(p); }), p + ":1: 'chosen' and 'rejected' have different user turns"));
  p = write("pairs.jsonl", {json{{"prompt", "P"}, {"chosen", "c"}}.dump()});
  EXPECT_TRUE(contains(error_of([&] { read_pair_examples(p); }), p + ":1: missing required field 'rejected'"));
}

// ---------------------------------------------------------------- real data under ../shared

std::string shared_file(const std::string& rel) {
  std::string p = test::shared_dir() + "/" + rel;
  EXPECT_TRUE(test::path_present(p)) << "missing shared data: " << p;
  return p;
}

TEST(RmDataShared, MathShepherdSamples) {
  std::string p = shared_file("data/prm/samples/math_shepherd_samples.jsonl");
  ASSERT_TRUE(test::path_present(p));
  EXPECT_EQ(detect_prm_format(p), PrmFormat::math_shepherd);
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 7u);
  // Labels read with Python at the tag positions of each record's input.
  const std::vector<std::vector<float>> want = {{1, 1, 1, 1, 0}, {0, 0, 0}, {0, 0}, {0, 0, 0, 0, 0}, {1, 0, 0, 0, 0}, {0, 0}, {0, 0, 0}};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(r.items[i].labels, want[i]) << "record " << i + 1;
  const PrmExample& ex = r.items[0];
  ASSERT_EQ(ex.steps.size(), 5u);
  EXPECT_EQ(ex.prompt.rfind("Janet pays $40/hour", 0), 0u);
  EXPECT_EQ(ex.prompt.back(), '?');
  EXPECT_EQ(ex.steps[0], "Step 1: Janet spends 3 hours + 5 hours = <<3+5=8>>8 hours per week on music lessons.");
  EXPECT_EQ(ex.steps[4], "Step 5: She spends 260 * 52 = <<260*52=13520>>13520 on music lessons in a year. The answer is: 13520");
  EXPECT_EQ(ex.first_error(), 4);
}

TEST(RmDataShared, Prm800kSamples) {
  std::string p = shared_file("data/prm/samples/prm800k_samples.jsonl");
  ASSERT_TRUE(test::path_present(p));
  EXPECT_EQ(detect_prm_format(p), PrmFormat::prm800k);
  auto r = read_prm_examples(p);
  // 6 records; line 5 (finish_reason give_up) is left out, not malformed.
  EXPECT_EQ(r.stats.records, 6);
  EXPECT_EQ(r.stats.bad, 0);
  ASSERT_EQ(r.items.size(), 5u);
  EXPECT_EQ(r.items[3].loc.line, 4u);
  EXPECT_EQ(r.items[4].loc.line, 6u);
  // Line 1: step 2 is the labeller's own (unrated) completion.
  ASSERT_EQ(r.items[0].labels, (std::vector<float>{1, -1, 1, 1, 1, 1}));
  EXPECT_EQ(r.items[0].steps[1], "We have $3p+e=1.24$ and $5p+e=1.82$.");
  EXPECT_EQ(r.items[0].prompt.rfind("Three pencils and a jumbo eraser cost", 0), 0u);
  // Line 2 (found_error): 6 chosen steps, step 2 rated 0, then the first completion rated -1 ends it.
  ASSERT_EQ(r.items[1].labels, (std::vector<float>{1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(r.items[1].steps[6].rfind("For the Democrats, there are 5! ways to ", 0), 0u);
  EXPECT_EQ(r.items[1].first_error(), 6);
  EXPECT_EQ(r.items[2].steps.size(), 5u);
  EXPECT_EQ(r.items[3].steps.size(), 7u);
  EXPECT_EQ(r.items[4].steps.size(), 12u);
  PrmReadOptions strict;
  strict.neutral_positive = false;
  auto s = read_prm_examples(p, strict);
  ASSERT_EQ(s.items.size(), 5u);
  EXPECT_EQ(s.items[1].labels[1], 0.0f);
  EXPECT_EQ(s.items[1].first_error(), 1);
}

// The first annotated error step (1-based) of every record, read independently of rm/data.
std::vector<int64_t> annotated_first_errors(const std::string& path, const char* key, bool list) {
  std::vector<int64_t> out;
  for (const json& rec : read_jsonl(path)) {
    int64_t first = 0;
    if (list) {
      for (const json& e : rec[key]) first = first == 0 ? e.get<int64_t>() : std::min(first, e.get<int64_t>());
    } else {
      first = rec[key].get<int64_t>();
    }
    out.push_back(first);
  }
  return out;
}

TEST(RmDataShared, PrmBench) {
  std::string p = shared_file("data/prm/prmbench/prmbench_subset400_target_data.jsonl");
  ASSERT_TRUE(test::path_present(p));
  EXPECT_EQ(detect_prm_format(p), PrmFormat::prmbench);
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 394u);  // counted with Python: 394 non-blank lines
  auto want = annotated_first_errors(p, "error_steps", true);
  ASSERT_EQ(want.size(), 394u);
  std::set<std::string> ids;
  int64_t without_error = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.items[i].first_error(), want[i] - 1) << r.items[i].id;
    without_error += want[i] == 0;
    ids.insert(r.items[i].id);
  }
  EXPECT_EQ(without_error, 10);  // the multi_solutions class
  EXPECT_EQ(ids.size(), 394u);
  EXPECT_EQ(r.items[0].id, "prm_test_p1_0:confidence");
  EXPECT_EQ(r.items[0].steps.size(), 6u);
  EXPECT_EQ(r.items[0].labels, (std::vector<float>{1, 1, 1, 1, 0, -1}));
}

// Whether an MR-GSM8K step is blank once "Step N:" is removed (empty lines of program-of-thought code).
bool blank_step(const std::string& s) {
  size_t colon = s.find(':');
  return s.rfind("Step ", 0) == 0 && colon != std::string::npos &&
         s.find_first_not_of(" \t\r\n", colon + 1) == std::string::npos;
}

TEST(RmDataShared, MrGsm8k) {
  std::string p = shared_file("data/prm/mr_gsm8k/mr_gsm8k_wrong_solutions_first_error_step.jsonl");
  ASSERT_TRUE(test::path_present(p));
  EXPECT_EQ(detect_prm_format(p), PrmFormat::mr_gsm8k);
  auto r = read_prm_examples(p);
  ASSERT_EQ(r.items.size(), 590u);
  auto recs = read_jsonl(p);
  ASSERT_EQ(recs.size(), 590u);
  int64_t blanks = 0;
  for (size_t i = 0; i < recs.size(); ++i) {
    // The annotated step (1-based), less the blank steps before it, which the reader drops.
    int64_t annotated = recs[i]["model_output_solution_first_error_step"].get<int64_t>();
    ASSERT_GE(annotated, 1) << "every MR-GSM8K solution in this file is wrong";
    auto given = recs[i]["model_output_steps"].get<std::vector<std::string>>();
    int64_t before = 0;
    for (int64_t k = 0; k < annotated - 1; ++k) before += blank_step(given[static_cast<size_t>(k)]);
    for (auto& s : given) blanks += blank_step(s);
    EXPECT_EQ(r.items[i].first_error(), annotated - 1 - before) << r.items[i].id;
    for (auto& s : r.items[i].steps) EXPECT_NE(s.rfind("Step ", 0), 0u) << r.items[i].id << ": " << s;
  }
  EXPECT_EQ(blanks, 5);  // counted with Python: lines 281 (steps 4, 6) and 514 (steps 2, 6, 8)
  EXPECT_EQ(r.items[280].steps.size(), 5u);
  EXPECT_EQ(r.items[280].first_error(), 3);  // annotated step 5, after the blank step 4
  EXPECT_EQ(r.items[513].steps.size(), 6u);
  EXPECT_EQ(r.items[513].first_error(), 1);  // annotated step 3, after the blank step 2
  EXPECT_EQ(r.items[0].id, "0056b847-5e9a-4ba9-b47b-b6dbcaa0be0e");
  EXPECT_EQ(r.items[0].steps.size(), 6u);
  EXPECT_EQ(r.items[0].steps[0].rfind("Isaias has 300 chickens", 0), 0u);
  EXPECT_EQ(r.items[0].first_error(), 2);
}

TEST(RmDataShared, Gsm8kModelSolutionsAsOrm) {
  std::string p = shared_file("data/gsm8k/example_model_solutions.jsonl");
  ASSERT_TRUE(test::path_present(p));
  auto r = read_orm_examples(p);
  // Counted with Python: 1,319 questions x 4 model solutions, 2,001 of them correct.
  EXPECT_EQ(r.stats.records, 1319);
  ASSERT_EQ(r.items.size(), 5276u);
  int64_t correct = 0;
  for (auto& ex : r.items) correct += ex.label == 1.0f;
  EXPECT_EQ(correct, 2001);
  EXPECT_EQ(r.items[0].id, "line 1:175b_finetuning");
  EXPECT_EQ(r.items[1].id, "line 1:175b_verification");
  EXPECT_EQ(r.items[1].label, 1.0f);
  EXPECT_EQ(r.items[0].prompt.rfind("Janet", 0), 0u);
  ReadOptions o;
  o.limit = 10;
  EXPECT_EQ(read_orm_examples(p, o).items.size(), 10u);
}

}  // namespace
}  // namespace rleif::rm
