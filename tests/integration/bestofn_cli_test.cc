// `rleif bestofn` end to end on hand-written samples and score files: outputs, the numbers of a
// case computed by hand, --data joins, and input errors that name file:line.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
using test::run_command;

std::string lines(const std::vector<json>& recs) {
  std::string s;
  for (const auto& r : recs) s += r.dump() + "\n";
  return s;
}
json samples(std::vector<std::string> texts) {
  json a = json::array();
  for (auto& t : texts) a.push_back({{"text", t}, {"finish_reason", "stop"}});
  return a;
}
json scores(std::vector<double> xs) {
  json a = json::array();
  for (double x : xs) a.push_back({{"score", x}});
  return a;
}
json prm_scores(std::vector<std::vector<double>> steps) {
  json a = json::array();
  for (auto& s : steps) a.push_back({{"steps", s}});  // a PRM's "score" may be left out
  return a;
}

class BestOfNCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("bestofn_cli");
    // p1: 18 is right; answers 17, 17, 18 (plain majority wrong), the PRM prefers 18.
    // p2: 5 is right; answers 5, 5, none (majority right), the ORM prefers the blank sample.
    write_file_atomic(dir_ + "/samples.jsonl",
                      lines({{{"id", "p1"}, {"prompt", "q1"}, {"answer", "... #### 18"},
                              {"samples", samples({"x The answer is: 17", "The answer is: 17.0", "The answer is: 18"})}},
                             {{"id", 2}, {"prompt", "q2"}, {"truth", 5},
                              {"samples", samples({"The answer is: $5", "#### 5", "no idea"})}}}));
    write_file_atomic(dir_ + "/prm.jsonl",
                      lines({{{"id", "p1"}, {"scores", prm_scores({{0.9, 0.2}, {0.3}, {0.8, 0.9}})}},
                             {{"id", "2"}, {"scores", prm_scores({{0.9}, {0.8}, {0.1}})}}}));
    write_file_atomic(dir_ + "/orm.jsonl", lines({{{"id", "p1"}, {"scores", scores({0.0, 1.0, 2.0})}},
                                                  {{"id", "2"}, {"scores", scores({-1.0, -2.0, 3.0})}}}));
  }
  test::CommandResult bestofn(std::vector<std::string> extra) {
    std::vector<std::string> a{test::rleif_bin(), "bestofn", "--samples", dir_ + "/samples.jsonl", "--out", dir_ + "/out"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_command(a, 120);
  }
  std::string dir_;
};

TEST_F(BestOfNCli, WritesJsonReportAndTable) {
  auto r = bestofn({"--scores", "prm=" + dir_ + "/prm.jsonl", "--scores", "orm=" + dir_ + "/orm.jsonl",
                    "subsamples=50", "seed=3", "aggregations=[min]"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json j = json::parse(read_file(dir_ + "/out/bestofn.json"));
  EXPECT_EQ(j["n"], 3);
  EXPECT_EQ(j["k"], json({1, 2, 3}));
  EXPECT_EQ(j["problems"], 2);
  EXPECT_EQ(j["subsamples"], 50);
  EXPECT_EQ(j["seed"], 3);
  auto at3 = [&](const char* m) { return j["methods"][m]["mean"][2].get<double>(); };
  EXPECT_DOUBLE_EQ(at3("pass@k"), 1.0);
  EXPECT_DOUBLE_EQ(at3("majority"), 0.5);           // p1 wrong (17 twice), p2 right
  EXPECT_DOUBLE_EQ(at3("weighted/prm_min"), 1.0);   // p1: 17 0.2 + 0.3 < 18 0.8; p2: 5 wins
  EXPECT_DOUBLE_EQ(at3("best_of/prm_min"), 1.0);
  EXPECT_DOUBLE_EQ(at3("best_of/orm"), 0.5);        // p1 picks 18, p2 the blank one
  EXPECT_DOUBLE_EQ(at3("weighted/orm"), 0.5);       // p1: 17 s(0)+s(1) = 1.23 > 18 s(2) = 0.88
  const std::string html = read_file(dir_ + "/out/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("weighted/prm_min"), std::string::npos);
  EXPECT_NE(r.out.find("best_of/orm"), std::string::npos) << r.out;  // the printed table
  // The same run again gives the same file.
  const std::string first = read_file(dir_ + "/out/bestofn.json");
  ASSERT_EQ(bestofn({"--scores", "prm=" + dir_ + "/prm.jsonl", "--scores", "orm=" + dir_ + "/orm.jsonl",
                     "subsamples=50", "seed=3", "aggregations=[min]"}).exit_code, 0);
  EXPECT_EQ(read_file(dir_ + "/out/bestofn.json"), first);
}

TEST_F(BestOfNCli, JoinsTruthFromData) {
  write_file_atomic(dir_ + "/bare.jsonl", lines({{{"id", "a"}, {"samples", samples({"The answer is: 3", "#### 4"})}}}));
  write_file_atomic(dir_ + "/problems.jsonl", lines({{{"id", "a"}, {"question", "1+3?"}, {"answer", "4"}}}));
  auto r = run_command({test::rleif_bin(), "bestofn", "--samples", dir_ + "/bare.jsonl", "--out", dir_ + "/o2"}, 60);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("bare.jsonl:1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--data"), std::string::npos) << r.out;
  r = run_command({test::rleif_bin(), "bestofn", "--samples", dir_ + "/bare.jsonl", "--data", dir_ + "/problems.jsonl",
                   "--out", dir_ + "/o2"}, 60);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json j = json::parse(read_file(dir_ + "/o2/bestofn.json"));
  EXPECT_DOUBLE_EQ(j["methods"]["pass@k"]["mean"][0].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["methods"]["pass@k"]["mean"][1].get<double>(), 1.0);
}

TEST_F(BestOfNCli, MisalignedScoresNameFileAndLine) {
  write_file_atomic(dir_ + "/bad_id.jsonl", lines({{{"id", "p1"}, {"scores", scores({1, 2, 3})}},
                                                   {{"id", "p3"}, {"scores", scores({1, 2, 3})}}}));
  auto r = bestofn({"--scores", "orm=" + dir_ + "/bad_id.jsonl"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("bad_id.jsonl:2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("samples.jsonl:2"), std::string::npos) << r.out;

  write_file_atomic(dir_ + "/bad_n.jsonl", lines({{{"id", "p1"}, {"scores", scores({1, 2})}}}));
  r = bestofn({"--scores", "orm=" + dir_ + "/bad_n.jsonl"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("bad_n.jsonl:1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 scores"), std::string::npos) << r.out;

  write_file_atomic(dir_ + "/short.jsonl", lines({{{"id", "p1"}, {"scores", scores({1, 2, 3})}}}));
  r = bestofn({"--scores", "orm=" + dir_ + "/short.jsonl"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("1 records"), std::string::npos) << r.out;

  r = bestofn({"--scores", "orm"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("NAME=FILE"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rleif
