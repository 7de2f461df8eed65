// Best-of-n estimators on small hand-computed cases, determinism, input errors, and the HTML/SVG
// report's structure (balanced tags here, a strict XML parse by the venv python).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "rm/bestofn.h"
#include "rm/report.h"
#include "tests/test_util.h"

namespace rleif::rm {
namespace {

BonProblem problem(const std::string& id, std::vector<std::pair<std::string, bool>> s) {
  BonProblem p{id, {}};
  for (auto& [a, c] : s) p.samples.push_back({c, a});
  return p;
}
BonScorer sequence_scorer(const std::string& name, std::vector<std::vector<double>> scores) {
  BonScorer s{name, {}};
  for (auto& row : scores) {
    s.scores.emplace_back();
    for (double x : row) s.scores.back().push_back({x, {}});
  }
  return s;
}
BonScorer prm_scorer(const std::string& name, std::vector<std::vector<std::vector<double>>> steps) {
  BonScorer s{name, {}};
  for (auto& row : steps) {
    s.scores.emplace_back();
    for (auto& st : row) s.scores.back().push_back({0.0, st});
  }
  return s;
}
double at(const BestOfNResult& r, const std::string& method, int64_t k) {
  const BonMethod* m = r.find(method);
  EXPECT_NE(m, nullptr) << method;
  if (!m) return NAN;
  for (size_t i = 0; i < r.k.size(); ++i)
    if (r.k[i] == k) return m->mean[i];
  ADD_FAILURE() << "no k=" << k;
  return NAN;
}

TEST(RmBestOfN, PassAtKUnbiasedEstimator) {
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 2), 0.5);             // 1 - C(3,2)/C(4,2) = 1 - 3/6
  EXPECT_NEAR(pass_at_k(5, 2, 2), 0.7, 1e-15);           // 1 - C(3,2)/C(5,2) = 1 - 3/10
  EXPECT_NEAR(pass_at_k(10, 3, 4), 5.0 / 6, 1e-15);      // 1 - C(7,4)/C(10,4) = 1 - 35/210
  EXPECT_DOUBLE_EQ(pass_at_k(10, 0, 10), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 7, 4), 1.0);            // fewer than k wrong samples
  EXPECT_DOUBLE_EQ(pass_at_k(8, 2, 1), 0.25);            // pass@1 = c/n
  EXPECT_THROW(pass_at_k(4, 1, 5), Error);
  // In run_bestofn: the mean over problems of the exact estimator.
  BestOfNInputs in{{problem("a", {{"1", true}, {"2", false}, {"3", false}, {"4", false}}),
                    problem("b", {{"1", true}, {"1", true}, {"2", false}, {"3", false}})},
                   {}};
  BestOfNResult r = run_bestofn(in, {});
  EXPECT_EQ(r.k, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_NEAR(at(r, "pass@k", 1), (0.25 + 0.5) / 2, 1e-15);
  EXPECT_NEAR(at(r, "pass@k", 2), (0.5 + (1 - 1.0 / 6)) / 2, 1e-15);
  EXPECT_NEAR(at(r, "pass@k", 4), 1.0, 1e-15);
}

TEST(RmBestOfN, DefaultKsArePowersOfTwoAndN) {
  BestOfNInputs in{{problem("a", std::vector<std::pair<std::string, bool>>(6, {"1", true}))}, {}};
  EXPECT_EQ(run_bestofn(in, {}).k, (std::vector<int64_t>{1, 2, 4, 6}));
  BestOfNOptions o;
  o.ks = {4, 1, 4};
  EXPECT_EQ(run_bestofn(in, o).k, (std::vector<int64_t>{1, 4}));
  o.ks = {7};
  EXPECT_THROW(run_bestofn(in, o), Error);
}

TEST(RmBestOfN, MajorityWithATie) {
  // Answers a (right), a (right), b (wrong). k=3: a wins. k=2: {a,a} (1/3 of pairs) wins, {a,b}
  // (2/3) is a tie broken at random: 1/3 + 2/3 * 1/2 = 2/3. k=1: 2/3.
  BestOfNInputs in{{problem("p", {{"a", true}, {"a", true}, {"b", false}})}, {}};
  BestOfNOptions o;
  o.subsamples = 4000;
  BestOfNResult r = run_bestofn(in, o);
  EXPECT_DOUBLE_EQ(at(r, "majority", 3), 1.0);
  EXPECT_NEAR(at(r, "majority", 2), 2.0 / 3, 0.03);  // 4000 draws: std of the mean ~0.006
  EXPECT_NEAR(at(r, "majority", 1), 2.0 / 3, 0.03);
  // An exact two-way tie at k=n: right half of the time, and the repeats spread.
  BestOfNInputs tie{{problem("t", {{"x", true}, {"y", false}})}, {}};
  BestOfNResult rt = run_bestofn(tie, o);
  EXPECT_NEAR(at(rt, "majority", 2), 0.5, 0.03);
  EXPECT_NEAR(rt.find("majority")->stddev.back(), 0.5, 0.01);  // each repeat scores 0 or 1
  // Samples without an answer do not vote; none answering is wrong.
  BestOfNInputs blank{{problem("e", {{"", false}, {"", false}, {"z", true}}), problem("f", {{"", false}})}, {}};
  o.ks = {1};
  BestOfNResult rb = run_bestofn(blank, o);
  EXPECT_NEAR(at(rb, "majority", 1), (1.0 / 3 + 0) / 2, 0.03);
  o.ks = {3};
  blank.problems.pop_back();
  EXPECT_DOUBLE_EQ(at(run_bestofn(blank, o), "majority", 3), 1.0);
}

TEST(RmBestOfN, BestOfNPicksTheTopScoredSample) {
  // Sample 1 is the only right one and the ORM scores it highest: best-of-3 always picks it.
  // best-of-1 is a uniformly random sample: 1/3. Weighted voting with sigmoid weights also picks it
  // (sigmoid(2) > sigmoid(-1) and sigmoid(0) individually: every answer differs).
  BestOfNInputs in{{problem("p", {{"4", false}, {"5", true}, {"6", false}})},
                   {sequence_scorer("orm", {{-1.0, 2.0, 0.0}})}};
  BestOfNOptions o;
  o.subsamples = 3000;
  BestOfNResult r = run_bestofn(in, o);
  EXPECT_DOUBLE_EQ(at(r, "best_of/orm", 3), 1.0);
  EXPECT_DOUBLE_EQ(r.find("best_of/orm")->stddev.back(), 0.0);
  EXPECT_DOUBLE_EQ(at(r, "weighted/orm", 3), 1.0);
  EXPECT_NEAR(at(r, "best_of/orm", 1), 1.0 / 3, 0.03);
  // best-of-2: right unless the pair is {0, 2}: 2/3.
  EXPECT_NEAR(at(r, "best_of/orm", 2), 2.0 / 3, 0.03);
  // Tied top scores are broken at random: right half of the time.
  BestOfNInputs tied{{problem("p", {{"4", false}, {"5", true}})}, {sequence_scorer("orm", {{1.0, 1.0}})}};
  EXPECT_NEAR(at(run_bestofn(tied, o), "best_of/orm", 2), 0.5, 0.03);
}

TEST(RmBestOfN, WithinProblemDiscrimination) {
  // Problem a: right samples 1 and 3, wrong 0 and 2; the scorer orders (1 > 0), (1 > 2), (3 = 0: 1/2),
  // (3 < 2): 2.5 of 4 pairs. Problem b is all right (no pairs) and c all wrong (no pairs); problem d
  // has right 0 over wrong 1: 1 of 1. Pooled: 3.5 / 5. A problem's difficulty does not enter: c's
  // low scores and b's high ones change nothing.
  BestOfNInputs in{{problem("a", {{"1", false}, {"2", true}, {"3", false}, {"2", true}}),
                    problem("b", {{"7", true}, {"7", true}}), problem("c", {{"8", false}, {"9", false}}),
                    problem("d", {{"4", true}, {"5", false}})},
                   {sequence_scorer("orm", {{0.2, 0.9, 0.5, 0.2}, {5.0, 5.0}, {-5.0, -5.0}, {0.3, 0.1}}),
                    prm_scorer("prm", {{{0.9}, {0.1}, {0.8}, {0.7}}, {{0.5}, {0.5}}, {{0.5}, {0.5}}, {{0.1}, {0.2}}})}};
  BestOfNOptions o;
  o.aggregations = {"min"};
  o.subsamples = 4;
  BestOfNResult r = run_bestofn(in, o);
  ASSERT_EQ(r.discrimination.size(), 2u);
  EXPECT_EQ(r.discrimination[0].label, "orm");
  EXPECT_DOUBLE_EQ(r.discrimination[0].within_problem_auc, 3.5 / 5);
  EXPECT_EQ(r.discrimination[0].pairs, 5);
  // prm_min: a: (0.1 vs 0.9) 0, (0.1 vs 0.8) 0, (0.7 vs 0.9) 0, (0.7 vs 0.8) 0; d: 0.1 vs 0.2: 0.
  EXPECT_EQ(r.discrimination[1].label, "prm_min");
  EXPECT_DOUBLE_EQ(r.discrimination[1].within_problem_auc, 0.0);
  EXPECT_EQ(r.mixed_problems, 2);
  auto j = r.to_json();
  EXPECT_DOUBLE_EQ(j["within_problem_auc"]["orm"].get<double>(), 0.7);
  EXPECT_EQ(j["within_problem_pairs"]["orm"].get<int64_t>(), 5);
  EXPECT_EQ(j["mixed_problems"].get<int64_t>(), 2);
  // No mixed problem: no pairs, NaN in memory and null in JSON.
  BestOfNInputs none{{problem("b", {{"7", true}, {"7", true}})}, {sequence_scorer("orm", {{1.0, 2.0}})}};
  BestOfNResult rn = run_bestofn(none, o);
  EXPECT_TRUE(std::isnan(rn.discrimination[0].within_problem_auc));
  EXPECT_TRUE(rn.to_json()["within_problem_auc"]["orm"].is_null());
}

TEST(RmBestOfN, WeightedMajorityFlipsPlainMajority) {
  // Answers a, a (wrong) and b (right). Plain majority picks a; a PRM with step scores
  // [0.2, 0.9], [0.3, 0.8], [0.9, 0.95] votes a: 0.2 + 0.3 = 0.5 < b: 0.9 by min, and
  // a: 0.18 + 0.24 = 0.42 < b: 0.855 by prod; best-of-3 picks b too.
  BestOfNInputs in{{problem("p", {{"a", false}, {"a", false}, {"b", true}})},
                   {prm_scorer("prm", {{{0.2, 0.9}, {0.3, 0.8}, {0.9, 0.95}}})}};
  BestOfNResult r = run_bestofn(in, {});
  EXPECT_DOUBLE_EQ(at(r, "majority", 3), 0.0);
  EXPECT_DOUBLE_EQ(at(r, "weighted/prm_min", 3), 1.0);
  EXPECT_DOUBLE_EQ(at(r, "weighted/prm_prod", 3), 1.0);
  EXPECT_DOUBLE_EQ(at(r, "best_of/prm_min", 3), 1.0);
  // Aggregating by the last step instead: a: 0.9 + 0.8 = 1.7 > b: 0.95, the majority stands.
  BestOfNOptions o;
  o.aggregations = {"last"};
  BestOfNResult rl = run_bestofn(in, o);
  EXPECT_DOUBLE_EQ(at(rl, "weighted/prm_last", 3), 0.0);
  EXPECT_DOUBLE_EQ(at(rl, "best_of/prm_last", 3), 1.0);
  EXPECT_EQ(rl.find("weighted/prm_min"), nullptr);
  // Method order: pass@k, majority, then best_of / weighted per label.
  std::vector<std::string> names;
  for (const auto& m : r.methods) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"pass@k", "majority", "best_of/prm_min", "weighted/prm_min",
                                             "best_of/prm_prod", "weighted/prm_prod"}));
}

TEST(RmBestOfN, SequenceWeightsSigmoidOrRaw) {
  // Logits a: -1, -1 (wrong) and b: 0 (right). Raw sums: a -2 < b 0, b wins; sigmoid weights:
  // a 2 * 0.269 = 0.538 > b 0.5, a wins.
  BestOfNInputs in{{problem("p", {{"a", false}, {"a", false}, {"b", true}})},
                   {sequence_scorer("orm", {{-1.0, -1.0, 0.0}})}};
  BestOfNOptions o;
  EXPECT_DOUBLE_EQ(at(run_bestofn(in, o), "weighted/orm", 3), 0.0);
  o.sequence_weight = "raw";
  EXPECT_DOUBLE_EQ(at(run_bestofn(in, o), "weighted/orm", 3), 1.0);
}

TEST(RmBestOfN, DeterministicForASeed) {
  BestOfNInputs in;
  BonScorer orm{"orm", {}};
  for (int p = 0; p < 20; ++p) {
    BonProblem pr{"q" + std::to_string(p), {}};
    orm.scores.emplace_back();
    for (int i = 0; i < 8; ++i) {
      const int ans = (p * 7 + i * 3) % 5;
      pr.samples.push_back({ans == p % 5, std::to_string(ans)});
      orm.scores.back().push_back({static_cast<double>((p * 13 + i * 5) % 7) / 3.0, {}});
    }
    in.problems.push_back(pr);
  }
  in.scorers.push_back(orm);
  BestOfNOptions o;
  o.subsamples = 50;
  o.seed = 11;
  const std::string a = run_bestofn(in, o).to_json().dump(), b = run_bestofn(in, o).to_json().dump();
  EXPECT_EQ(a, b);
  o.seed = 12;
  EXPECT_NE(run_bestofn(in, o).to_json().dump(), a);
  // JSON shape.
  auto j = run_bestofn(in, o).to_json();
  EXPECT_EQ(j["n"], 8);
  EXPECT_EQ(j["problems"], 20);
  EXPECT_EQ(j["subsamples"], 50);
  EXPECT_EQ(j["seed"], 12);
  EXPECT_EQ(j["k"].size(), 4u);
  EXPECT_EQ(j["methods"]["weighted/orm"]["mean"].size(), 4u);
  EXPECT_EQ(j["methods"]["pass@k"]["std"].size(), 4u);
  EXPECT_EQ(j["methods"].begin().key(), "pass@k");
  EXPECT_TRUE(j["spread"].is_string());
}

TEST(RmBestOfN, InputErrorsNameTheProblem) {
  BestOfNInputs in{{problem("p1", {{"a", true}, {"b", false}})}, {sequence_scorer("orm", {{0.5}})}};
  try {
    run_bestofn(in, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'p1'"), std::string::npos) << e.what();
  }
  BestOfNInputs inconsistent{{problem("p2", {{"a", true}, {"a", false}})}, {}};
  EXPECT_THROW(run_bestofn(inconsistent, {}), Error);
  BestOfNInputs nan{{problem("p3", {{"a", true}})}, {sequence_scorer("orm", {{NAN}})}};
  EXPECT_THROW(run_bestofn(nan, {}), Error);
  BestOfNOptions bad;
  bad.aggregations = {"max"};
  EXPECT_THROW(bad.validate(), Error);
  EXPECT_THROW(run_bestofn(BestOfNInputs{}, {}), Error);
}

TEST(RmBestOfN, PairedDifferencesAndStandardErrorsOverProblems) {
  // At k = n = 3 every method is deterministic here (the ORM's tie in r is between two right samples).
  // Per problem, best-of-3 by the ORM: [0, 1, 1]; majority: [1, 0, 1]; pass@3: [1, 1, 1].
  BestOfNInputs in{{problem("p", {{"1", true}, {"1", true}, {"2", false}}),
                    problem("q", {{"3", false}, {"3", false}, {"4", true}}),
                    problem("r", {{"5", true}, {"5", true}, {"6", false}})},
                   {sequence_scorer("orm", {{0.0, 0.0, 1.0}, {0.0, 0.0, 1.0}, {1.0, 1.0, 0.0}})}};
  BestOfNOptions o;
  o.subsamples = 10;
  o.ks = {3};
  BestOfNResult r = run_bestofn(in, o);
  // sem = sample std over problems / sqrt(3): [0, 1, 1] has std sqrt(1/3), so sem 1/3.
  EXPECT_NEAR(r.find("best_of/orm")->sem[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.find("majority")->sem[0], 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(r.find("pass@k")->sem[0], 0.0);
  // Default pairs with one label: best_of vs majority, weighted vs best_of.
  ASSERT_EQ(r.paired.size(), 2u);
  EXPECT_EQ(r.paired[0].a, "best_of/orm");
  EXPECT_EQ(r.paired[0].b, "majority");
  EXPECT_EQ(r.paired[1].a, "weighted/orm");
  EXPECT_EQ(r.paired[1].b, "best_of/orm");
  // Differences [-1, 1, 0]: mean 0, sample std 1, se 1/sqrt(3); one win, one loss. Unpaired, the two
  // sems would add up to more; paired, what the methods share (problem r) drops out.
  EXPECT_NEAR(r.paired[0].diff[0], 0.0, 1e-12);
  EXPECT_NEAR(r.paired[0].se[0], 1.0 / std::sqrt(3.0), 1e-12);
  EXPECT_EQ(r.paired[0].wins[0], 1);
  EXPECT_EQ(r.paired[0].losses[0], 1);
  // weighted/orm at 3: p votes 1 (sigmoid 0 + 0 = 1.0 vs sigmoid 1 = 0.73): right; q: 3 wrong; r: right.
  EXPECT_NEAR(r.paired[1].diff[0], (1 - 0 + 0 - 1 + 1 - 1) / 3.0, 1e-12);
  EXPECT_EQ(r.paired[1].wins[0], 1);
  EXPECT_EQ(r.paired[1].losses[0], 1);
  // An explicit list replaces the default set.
  o.compare = {"pass@k>best_of/orm"};
  r = run_bestofn(in, o);
  ASSERT_EQ(r.paired.size(), 1u);
  EXPECT_NEAR(r.paired[0].diff[0], 1.0 / 3, 1e-12);
  EXPECT_EQ(r.paired[0].wins[0], 1);
  EXPECT_EQ(r.paired[0].losses[0], 0);
  const auto j = r.to_json();
  EXPECT_EQ(j["paired"][0]["a"], "pass@k");
  EXPECT_EQ(j["methods"]["majority"]["sem"].size(), 1u);
  // Bad entries: not "A>B", not a method kind, a method this run does not have.
  for (const char* bad : {"majority", ">majority", "majority>", "a>b>c", "foo>majority"}) {
    o.compare = {bad};
    EXPECT_THROW(o.validate(), Error) << bad;
  }
  o.compare = {"best_of/prm_min>majority"};
  try {
    run_bestofn(in, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'best_of/prm_min'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("best_of/orm"), std::string::npos) << "lists what there is: " << e.what();
  }
}

TEST(RmBestOfN, JsonRoundTripAndOlderFiles) {
  // Everything to_json writes comes back: methods with sem, paired differences, within-problem AUC
  // (a NaN one as null), k and the run's settings.
  BestOfNInputs in{{problem("p", {{"1", true}, {"1", true}, {"2", false}}),
                    problem("q", {{"3", false}, {"3", false}, {"4", true}}), problem("r", {{"5", true}, {"5", true}})},
                   {sequence_scorer("orm", {{0.0, 0.0, 1.0}, {0.0, 0.0, 1.0}, {1.0, 2.0}}),
                    sequence_scorer("flat", {{1.0, 1.0, 1.0}, {1.0, 1.0, 1.0}, {1.0, 1.0}})}};
  BestOfNOptions o;
  o.subsamples = 7;
  o.seed = 11;
  const BestOfNResult r = run_bestofn(in, o);
  ASSERT_FALSE(r.paired.empty());
  const nlohmann::ordered_json j = r.to_json();
  const BestOfNResult back = BestOfNResult::from_json(j, "x.json");
  EXPECT_EQ(back.to_json().dump(), j.dump());
  EXPECT_EQ(back.n, 2);
  EXPECT_EQ(back.seed, 11);
  ASSERT_EQ(back.discrimination.size(), 2u);
  EXPECT_DOUBLE_EQ(back.discrimination[0].within_problem_auc, r.discrimination[0].within_problem_auc);
  BestOfNInputs unmixed{{problem("b", {{"7", true}, {"7", true}})}, {sequence_scorer("orm", {{1.0, 2.0}})}};
  const auto jn = run_bestofn(unmixed, o).to_json();
  EXPECT_TRUE(std::isnan(BestOfNResult::from_json(jn, "x.json").discrimination[0].within_problem_auc));
  // A file from before "sem", "paired" and "within_problem_auc" still reads.
  nlohmann::ordered_json old = j;
  for (const char* key : {"paired", "within_problem_auc", "within_problem_pairs", "mixed_problems"}) old.erase(key);
  for (auto& [name, m] : old["methods"].items()) m.erase("sem");
  const BestOfNResult o2 = BestOfNResult::from_json(old, "old.json");
  EXPECT_TRUE(o2.paired.empty());
  EXPECT_TRUE(o2.discrimination.empty());
  EXPECT_TRUE(o2.methods[0].sem.empty());
  EXPECT_EQ(o2.methods[0].mean, r.methods[0].mean);
  // Missing or mis-sized fields name the file and what is wrong.
  nlohmann::ordered_json bad = j;
  bad.erase("k");
  EXPECT_NE(test::error_of([&] { BestOfNResult::from_json(bad, "b.json"); }).find("b.json: not a bestofn.json"),
            std::string::npos);
  bad = j;
  bad["methods"]["majority"]["std"] = std::vector<double>{0.0};
  const std::string e = test::error_of([&] { BestOfNResult::from_json(bad, "b.json"); });
  EXPECT_NE(e.find("b.json: method 'majority' has"), std::string::npos) << e;
  bad = j;
  bad["paired"][0]["se"] = std::vector<double>{};
  EXPECT_NE(test::error_of([&] { BestOfNResult::from_json(bad, "b.json"); }).find("paired entry"), std::string::npos);
  // From a file: a parse error names its line.
  const std::string dir = test::temp_dir("rm_bestofn_json");
  write_file_atomic(dir + "/bestofn.json", j.dump(2));
  EXPECT_EQ(BestOfNResult::read(dir + "/bestofn.json").to_json().dump(), j.dump());
  write_file_atomic(dir + "/broken.json", "{\n\"n\": 2,\n oops\n}");
  EXPECT_NE(test::error_of([&] { BestOfNResult::read(dir + "/broken.json"); }).find("broken.json:3: not valid JSON"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { BestOfNResult::read(dir + "/none.json"); }).find("none.json: no such file"),
            std::string::npos);
}

TEST(RmBestOfN, AggregateStepScores) {
  EXPECT_DOUBLE_EQ(aggregate_step_scores({0.5, 0.2, 0.8}, "min"), 0.2);
  EXPECT_DOUBLE_EQ(aggregate_step_scores({0.5, 0.2, 0.8}, "prod"), 0.08);
  EXPECT_DOUBLE_EQ(aggregate_step_scores({0.5, 0.2, 0.8}, "last"), 0.8);
  EXPECT_DOUBLE_EQ(aggregate_step_scores({0.5, 0.2, 0.8}, "mean"), 0.5);
  EXPECT_DOUBLE_EQ(aggregate_step_scores({}, "min"), 1.0);
}

// Tags open and close in order (void HTML elements and "/>" excepted); returns "" or the problem.
std::string unbalanced(const std::string& html) {
  std::vector<std::string> stack;
  for (size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
    const size_t end = html.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    const std::string tag = html.substr(i + 1, end - i - 1);
    if (tag.empty() || tag[0] == '!') continue;
    const bool closing = tag[0] == '/';
    const size_t name_end = tag.find_first_of(" \n/", closing ? 1 : 0);
    const std::string name = tag.substr(closing ? 1 : 0, name_end == std::string::npos ? std::string::npos
                                                                                        : name_end - (closing ? 1 : 0));
    if (closing) {
      if (stack.empty() || stack.back() != name) return "</" + name + "> closes " + (stack.empty() ? "nothing" : stack.back());
      stack.pop_back();
    } else if (tag.back() != '/' && name != "meta" && name != "br") {
      stack.push_back(name);
    }
  }
  return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

size_t count(const std::string& s, const std::string& what) {
  size_t c = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++c;
  return c;
}

TEST(RmReport, LineChartSvg) {
  ChartOptions co;
  co.title = "loss <train>";
  co.x_label = "step";
  co.y_label = "loss";
  co.log2_x = true;
  std::string svg = line_chart_svg({{"a<b", {1, 2, 4, 8}, {0.5, 0.4, 0.3, 0.2}, {0.1, 0.1, 0.1, 0.1}},
                                    {"c", {1, 8}, {0.1, 0.9}, {}}},
                                   co);
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_EQ(count(svg, "<path"), 1u);  // one band: series c has no err
  EXPECT_NE(svg.find("a&lt;b"), std::string::npos);
  EXPECT_NE(svg.find("loss &lt;train&gt;"), std::string::npos);
  for (const char* tick : {">1</text>", ">2</text>", ">4</text>", ">8</text>"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(unbalanced(svg), "");
  // Nothing to draw still gives a valid frame.
  EXPECT_EQ(unbalanced(line_chart_svg({}, co)), "");
}

TEST(RmReport, BestOfNHtmlHasAChartPerLabelEveryMethodAndParses) {
  BestOfNInputs in{{problem("p", {{"a", false}, {"a", false}, {"b", true}, {"c", false}}),
                    problem("q", {{"a", true}, {"d", false}, {"b", false}, {"", false}})},
                   {prm_scorer("prm", {{{0.2}, {0.3}, {0.9}, {0.5}}, {{0.9}, {0.1}, {0.4}, {0.6}}}),
                    sequence_scorer("orm", {{0.0, 1.0, 2.0, 3.0}, {1.0, 0.0, -1.0, 0.5}})}};
  BestOfNOptions o;
  o.subsamples = 20;
  BestOfNResult r = run_bestofn(in, o);
  const std::string html = bestofn_report_html(r, "GSM8K & friends");
  // Labels prm_min, prm_prod, orm: the overview chart and one per label.
  EXPECT_EQ(count(html, "<svg"), 4u);
  EXPECT_EQ(count(html, "</svg>"), 4u);
  for (const auto& m : r.methods) EXPECT_NE(html.find(">" + m.name + "<"), std::string::npos) << m.name;
  EXPECT_NE(html.find("GSM8K &amp; friends"), std::string::npos);
  EXPECT_NE(html.find("<table>"), std::string::npos);
  EXPECT_NE(html.find("Within-problem discrimination"), std::string::npos);
  EXPECT_NE(html.find("Paired differences"), std::string::npos);
  for (const auto& d : r.paired) EXPECT_NE(html.find("<td>" + d.a + " - " + d.b + "</td>"), std::string::npos) << d.a;
  for (const auto& d : r.discrimination) EXPECT_NE(html.find("<td>" + d.label + "</td>"), std::string::npos) << d.label;
  EXPECT_EQ(unbalanced(html), "");
  // One label: the overview chart only.
  BestOfNInputs one{in.problems, {in.scorers[1]}};
  EXPECT_EQ(count(bestofn_report_html(run_bestofn(one, o)), "<svg"), 1u);
  // A strict XML parser accepts the whole document.
  const std::string dir = test::temp_dir("bonreport");
  write_file_atomic(dir + "/report.html", html);
  auto res = test::run_command({test::python_bin(), "-c",
                                "import sys, xml.etree.ElementTree as E; t = E.parse(sys.argv[1]); "
                                "print(len(t.getroot().findall('.//{http://www.w3.org/2000/svg}svg')))",
                                dir + "/report.html"});
  ASSERT_EQ(res.exit_code, 0) << res.out;
  EXPECT_EQ(trim(res.out), "4");
}

}  // namespace
}  // namespace rleif::rm
