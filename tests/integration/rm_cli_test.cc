// rleif rm train / score / eval end to end on a tiny model: SIGKILL mid-run and the rerun ends with
// the same weights bit for bit; score writes per-sample and per-step scores and resumes; eval reads
// the real MR-GSM8K and PRMBench files; bad input exits with a message naming file:line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
using test::run_command;

class RmCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::temp_dir("rmcli"));
    test::write_math_tokenizer(*root_);
    test::write_tiny_config(*root_);
    test::write_records(*root_ + "/prm.jsonl", test::math_prm_records(64, 3));
  }
  static std::vector<std::string> train(const std::string& out, int steps, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{test::rleif_bin(), "rm", "train",
                               "model.config=" + *root_ + "/config.json",
                               "model.tokenizer=" + *root_ + "/tokenizer.json",
                               "data.kind=prm",
                               "data.train=" + *root_ + "/prm.jsonl",
                               "data.eval_split=0.25",
                               "encode.template=plain",
                               "train.output_dir=" + out,
                               "train.max_steps=" + std::to_string(steps),
                               "train.batch_size=4",
                               "train.threads=1",
                               "train.deterministic=true",
                               "train.save_every=1",
                               "train.eval_every=5",
                               "optim.lr=3e-3"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // A trained PRM shared by the scoring and eval tests.
  static const std::string& model() {
    static std::string dir = [] {
      auto r = run_command(train(*root_ + "/shared_prm", 12));
      EXPECT_EQ(r.exit_code, 0) << r.out;
      return *root_ + "/shared_prm/model";
    }();
    return dir;
  }
  static std::string* root_;
};
std::string* RmCli::root_ = nullptr;

TEST_F(RmCli, SigkillAndResumeEndWithBitwiseSameWeights) {
  const int steps = 20;
  const std::string straight = test::temp_dir("rm_straight");
  auto r = run_command(train(straight, steps));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("step_auc"), std::string::npos) << r.out;
  const std::string out = test::temp_dir("rm_killed");
  pid_t pid = test::spawn_quiet(train(out, steps));
  ASSERT_TRUE(test::wait_for_path(out + "/checkpoints/checkpoint-9"));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before the kill";
  auto again = run_command(train(out, steps));
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(again.out.find("resuming from"), std::string::npos) << again.out;
  EXPECT_TRUE(read_file(out + "/model/model.safetensors") == read_file(straight + "/model/model.safetensors"))
      << "final weights differ from the uninterrupted run";
  std::vector<std::string> a, b;
  for (auto& m : read_jsonl(out + "/metrics.jsonl")) a.push_back(m.dump());
  for (auto& m : read_jsonl(straight + "/metrics.jsonl")) b.push_back(m.dump());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {  // the same lines apart from timing fields
    json x = json::parse(a[i]), y = json::parse(b[i]);
    for (const char* k : {"tokens_per_s", "elapsed_s"}) x.erase(k), y.erase(k);
    EXPECT_EQ(x, y) << "metrics line " << i;
  }
}

TEST_F(RmCli, ScoreWritesPerSampleAndPerStepScoresAndResumes) {
  std::vector<json> recs;
  auto prm = test::math_prm_records(10, 77);
  for (size_t i = 0; i + 1 < prm.size(); i += 2) {
    json samples = json::array();
    for (size_t k : {i, i + 1}) {
      std::string text;
      for (auto& s : prm[k]["steps"]) text += s.get<std::string>() + "\n";
      samples.push_back(json{{"text", text}});
    }
    recs.push_back(json{{"id", "q" + std::to_string(i)}, {"prompt", prm[i]["prompt"]}, {"samples", samples}});
  }
  recs.push_back(json{{"id", "steps"}, {"prompt", prm[0]["prompt"]}, {"steps", prm[0]["steps"]}});
  const std::string in = test::write_records(*root_ + "/to_score.jsonl", recs);
  const std::string out = *root_ + "/scores.jsonl";
  auto r = run_command({test::rleif_bin(), "rm", "score", "--model", model(), "--input", in, "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto lines = read_jsonl(out);
  ASSERT_EQ(lines.size(), recs.size());
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["id"], recs[i]["id"]);
    ASSERT_EQ(lines[i]["scores"].size(), 2u);
    for (auto& s : lines[i]["scores"]) {
      auto steps = s["steps"].get<std::vector<double>>();
      ASSERT_FALSE(steps.empty());
      double mn = 1;
      for (double p : steps) {
        EXPECT_GE(p, 0.0);
        EXPECT_LE(p, 1.0);
        mn = std::min(mn, p);
      }
      EXPECT_DOUBLE_EQ(s["score"].get<double>(), mn);  // aggregation=min by default
    }
  }
  // The explicit-steps record scores the same steps as the first sample of the first record.
  EXPECT_EQ(lines.back()["scores"][0]["steps"], lines[0]["scores"][0]["steps"]);
  // A rerun finds every record done; a cut last line is redone.
  const std::string before = read_file(out);
  std::string cut = before.substr(0, before.size() - 10);
  write_file_atomic(out, cut);
  auto again = run_command({test::rleif_bin(), "rm", "score", "--model", model(), "--input", in, "--output", out});
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(read_file(out), before);
  // Another aggregation.
  auto prod = run_command({test::rleif_bin(), "rm", "score", "--model", model(), "--input", in, "--output",
                           *root_ + "/prod.jsonl", "aggregation=prod"});
  ASSERT_EQ(prod.exit_code, 0) << prod.out;
  auto p = read_jsonl(*root_ + "/prod.jsonl");
  double want = 1;
  for (auto& x : p[0]["scores"][0]["steps"]) want *= x.get<double>();
  EXPECT_NEAR(p[0]["scores"][0]["score"].get<double>(), want, 1e-12);
}

TEST_F(RmCli, EvalReadsMrGsm8kAndPrmBench) {
  const std::string mr = test::shared_dir() + "/data/prm/mr_gsm8k/mr_gsm8k_wrong_solutions_first_error_step.jsonl";
  const std::string pb = test::shared_dir() + "/data/prm/prmbench/prmbench_subset400_target_data.jsonl";
  ASSERT_TRUE(path_exists(mr)) << "missing shared data: " << mr;
  ASSERT_TRUE(path_exists(pb)) << "missing shared data: " << pb;
  for (const auto& [path, fmt] : {std::pair{mr, "mr_gsm8k"}, std::pair{pb, "prmbench"}}) {
    auto r = run_command({test::rleif_bin(), "rm", "eval", "--model", model(), "--data", path, "--out",
                          *root_ + "/eval.json", "limit=30", std::string("format=") + fmt});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    json m = json::parse(read_file(*root_ + "/eval.json"));
    EXPECT_EQ(m["n"].get<int64_t>() + m["dropped"].get<int64_t>(), 30) << m.dump();
    for (const char* k : {"step_auc", "first_error_f1", "first_error_acc_wrong", "step_accuracy", "loss"})
      EXPECT_TRUE(m.contains(k)) << k << " in " << m.dump();
  }
}

TEST_F(RmCli, LabelMcLabelsPolicySamplesAndTheOutputTrainsAPrm) {
  // A tiny policy (a few SFT steps), Monte-Carlo labels of its own samples, then a PRM on them.
  std::vector<json> sft;
  for (auto& r : test::math_prm_records(40, 31))
    if (r["labels"].back() == 1) {
      std::string resp;
      for (auto& s : r["steps"]) resp += s.get<std::string>() + "\n";
      sft.push_back(json{{"prompt", r["prompt"]}, {"response", resp}});
    }
  test::write_records(*root_ + "/sft.jsonl", sft);
  auto p = run_command({test::rleif_bin(), "sft", "model.config=" + *root_ + "/config.json",
                        "model.tokenizer=" + *root_ + "/tokenizer.json", "data.train=" + *root_ + "/sft.jsonl",
                        "data.template=plain", "train.output_dir=" + *root_ + "/policy", "train.max_steps=3",
                        "train.threads=1", "eval.samples=0"});
  ASSERT_EQ(p.exit_code, 0) << p.out;
  std::vector<json> sols;
  auto prm = test::math_prm_records(6, 41);
  for (size_t i = 0; i < prm.size(); ++i) {
    std::string text;
    for (auto& s : prm[i]["steps"]) text += s.get<std::string>() + "\n";
    sols.push_back(json{{"id", "s" + std::to_string(i)}, {"prompt", prm[i]["prompt"]}, {"samples", {json{{"text", text}}}},
                        {"answer", "0"}});
  }
  const std::string in = test::write_records(*root_ + "/mc_in.jsonl", sols);
  const std::string out = *root_ + "/mc_out.jsonl";
  auto r = run_command({test::rleif_bin(), "rm", "label-mc", "--model", *root_ + "/policy/model", "--input", in,
                        "--output", out, "n=2", "max_new_tokens=12", "threads=1", "template=plain"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto lines = read_jsonl(out);
  ASSERT_EQ(lines.size(), sols.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["steps"], prm[i]["steps"]);
    ASSERT_EQ(lines[i]["labels"].size(), prm[i]["steps"].size());
    EXPECT_EQ(lines[i]["labels"].back(), 0);  // "0" is never the answer of these problems
  }
  auto t = run_command(train(*root_ + "/mc_prm", 2, {"data.train=" + out, "data.eval_split=0"}));
  EXPECT_EQ(t.exit_code, 0) << t.out;
}

TEST_F(RmCli, BadInputNamesFileAndLine) {
  const std::string bad = *root_ + "/bad_irm.jsonl";
  write_file_atomic(bad, json{{"seed_id", "a"}, {"candidates", {"x", "y", "z"}}, {"ranking", {0, 1, 2}}}.dump() + "\n" +
                             json{{"seed_id", "b"}, {"candidates", {"x", "y", "z"}}, {"ranking", {0, 0, 2}}}.dump() + "\n");
  auto r = run_command({test::rleif_bin(), "rm", "train", "model.config=" + *root_ + "/config.json",
                        "model.tokenizer=" + *root_ + "/tokenizer.json", "data.kind=irm", "data.train=" + bad,
                        "train.output_dir=" + *root_ + "/bad_run", "train.max_steps=1"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(bad + ":2"), std::string::npos) << r.out;
  auto missing = run_command({test::rleif_bin(), "rm", "score", "--model", *root_, "--input", bad, "--output",
                              *root_ + "/x.jsonl"});
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_NE(missing.out.find("rleif_rm.json"), std::string::npos) << missing.out;
}

}  // namespace
}  // namespace rleif
