// `rleif bestofn` end to end on hand-written samples and score files: outputs, the numbers of a
// case computed by hand, --data joins, and input errors that name file:line. Then on a tiny policy
// and tiny reward models: one inline run (sample, score, evaluate) gives what the three chained
// commands give, a cut-short run resumes to the same result, and bad --policy/--rm input says why.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/strings.h"
#include "evol/math_domain.h"
#include "tests/rm_util.h"
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

// A tiny policy (2 SFT steps, plain template), a tiny PRM and ORM (2 steps each) and 5 problems.
class BestOfNInline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::temp_dir("bestofn_inline"));
    const std::string& r = *root_;
    test::write_math_tokenizer(r);
    test::write_tiny_config(r);
    std::vector<json> sft, orm, problems;
    auto prm = test::math_prm_records(24, 5);
    test::write_records(r + "/prm.jsonl", prm);
    for (auto& rec : prm) {
      const std::string resp = join(rec["steps"].get<std::vector<std::string>>(), "\n");
      orm.push_back(json{{"prompt", rec["prompt"]}, {"response", resp}, {"label", rec["labels"].back()}});
      if (rec["labels"].back() == 1) sft.push_back(json{{"prompt", rec["prompt"]}, {"response", resp}});
    }
    test::write_records(r + "/orm.jsonl", orm);
    test::write_records(r + "/sft.jsonl", sft);
    // Problems, and hand-written samples of them with answers (the tiny policy writes none): the
    // solution, a corrupted one, and a bare wrong answer.
    std::vector<json> written;
    for (auto& p : evol::generate_problems(5, 17, 2, 3)) {
      const std::string id = "q" + std::to_string(problems.size());
      problems.push_back(json{{"id", id}, {"prompt", p.question}, {"answer", p.answer}});
      written.push_back(json{{"id", id}, {"prompt", p.question}, {"answer", p.answer},
                             {"samples", samples({p.solution, evol::corrupt_solution(p, 1, 3), "The answer is: 0"})}});
    }
    test::write_records(r + "/problems.jsonl", problems);
    test::write_records(r + "/written.jsonl", written);
    const std::vector<std::string> model{"model.config=" + r + "/config.json", "model.tokenizer=" + r + "/tokenizer.json"};
    auto run = [&](std::vector<std::string> a) {
      a.insert(a.end(), model.begin(), model.end());
      auto res = test::run_command(a, 300);
      ASSERT_EQ(res.exit_code, 0) << res.out;
    };
    run({test::rleif_bin(), "-q", "sft", "data.train=" + r + "/sft.jsonl", "data.template=plain",
         "train.output_dir=" + r + "/policy", "train.max_steps=2", "train.threads=1", "eval.samples=0"});
    // A LoRA adapter on that policy (its model/ is a PEFT adapter directory, no config.json).
    auto lora = test::run_command({test::rleif_bin(), "-q", "sft", "model.path=" + r + "/policy/model",
                                   "data.train=" + r + "/sft.jsonl", "data.template=plain", "optim.lr=1e-2",
                                   "train.output_dir=" + r + "/lora_policy", "train.max_steps=2", "train.threads=1",
                                   "eval.samples=0", "lora.r=4", "lora.alpha=8"},
                                  300);
    ASSERT_EQ(lora.exit_code, 0) << lora.out;
    for (const char* kind : {"prm", "orm"})
      run({test::rleif_bin(), "-q", "rm", "train", std::string("data.kind=") + kind,
           "data.train=" + r + "/" + kind + ".jsonl", "data.eval_split=0", "encode.template=plain",
           "train.output_dir=" + r + "/" + kind, "train.max_steps=2", "train.batch_size=4", "train.threads=1"});
  }
  static std::string policy() { return *root_ + "/policy/model"; }
  static std::string rm_dir(const char* kind) { return *root_ + "/" + kind + "/model"; }
  // The inline command: sample 4 per problem with seed 5, score with both reward models, evaluate.
  static std::vector<std::string> inline_args(const std::string& out) {
    return {test::rleif_bin(), "bestofn", "--policy", policy(), "--problems", *root_ + "/problems.jsonl",
            "--n", "4", "--seed", "5", "--temperature", "1", "--max-new-tokens", "16", "--threads", "1",
            "--rm", "prm=" + rm_dir("prm"), "--rm", "orm=" + rm_dir("orm"), "--output", out, "subsamples=20"};
  }
  static std::string* root_;
};
std::string* BestOfNInline::root_ = nullptr;

TEST_F(BestOfNInline, InlineRunEqualsGenerateThenRmScoreThenBestofn) {
  const std::string& r = *root_;
  auto in = run_command(inline_args(r + "/inline"), 300);
  ASSERT_EQ(in.exit_code, 0) << in.out;
  EXPECT_NE(in.out.find("prompt template plain (recorded by rleif sft"), std::string::npos) << in.out;
  // The same run as three commands, on the same seed.
  auto g = run_command({test::rleif_bin(), "-q", "generate", "--model", policy(), "--input", r + "/problems.jsonl",
                        "--output", r + "/chain_samples.jsonl", "--n", "4", "--seed", "5", "--temperature", "1",
                        "--max-new-tokens", "16", "--threads", "1"}, 300);
  ASSERT_EQ(g.exit_code, 0) << g.out;
  for (const char* kind : {"prm", "orm"}) {
    auto s = run_command({test::rleif_bin(), "-q", "rm", "score", "--model", rm_dir(kind), "--input",
                          r + "/chain_samples.jsonl", "--output", r + "/chain_" + kind + ".jsonl"}, 300);
    ASSERT_EQ(s.exit_code, 0) << s.out;
  }
  auto b = run_command({test::rleif_bin(), "-q", "bestofn", "--samples", r + "/chain_samples.jsonl", "--scores",
                        "prm=" + r + "/chain_prm.jsonl", "--scores", "orm=" + r + "/chain_orm.jsonl", "--out",
                        r + "/chain", "--seed", "5", "subsamples=20"}, 300);
  ASSERT_EQ(b.exit_code, 0) << b.out;
  auto same = [](const std::string& a, const std::string& b) {
    EXPECT_TRUE(read_file(a) == read_file(b)) << a << " differs from " << b;
  };
  same(r + "/inline/samples.jsonl", r + "/chain_samples.jsonl");
  same(r + "/inline/scores_prm.jsonl", r + "/chain_prm.jsonl");
  same(r + "/inline/scores_orm.jsonl", r + "/chain_orm.jsonl");
  same(r + "/inline/bestofn.json", r + "/chain/bestofn.json");
  json j = json::parse(read_file(r + "/inline/bestofn.json"));
  EXPECT_EQ(j["n"], 4);
  EXPECT_EQ(j["problems"], 5);
  EXPECT_TRUE(j["methods"].contains("best_of/prm_min")) << j.dump();
  EXPECT_TRUE(j["methods"].contains("weighted/orm")) << j.dump();
  EXPECT_EQ(read_jsonl(r + "/inline/samples.jsonl")[0]["answer"], read_jsonl(r + "/problems.jsonl")[0]["answer"]);

  // Mixed, on samples with answers: read the samples, run the PRM, read the ORM's scores; as chained.
  for (const char* kind : {"prm", "orm"}) {
    auto s = run_command({test::rleif_bin(), "-q", "rm", "score", "--model", rm_dir(kind), "--input",
                          r + "/written.jsonl", "--output", r + "/written_" + kind + ".jsonl"}, 300);
    ASSERT_EQ(s.exit_code, 0) << s.out;
  }
  const std::vector<std::string> common{"--samples", r + "/written.jsonl", "--seed", "5", "subsamples=20",
                                        "aggregations=[min]"};
  auto bestofn = [&](std::vector<std::string> a) {
    a.insert(a.begin(), {test::rleif_bin(), "-q", "bestofn"});
    a.insert(a.end(), common.begin(), common.end());
    auto res = run_command(a, 300);
    EXPECT_EQ(res.exit_code, 0) << res.out;
  };
  bestofn({"--scores", "prm=" + r + "/written_prm.jsonl", "--scores", "orm=" + r + "/written_orm.jsonl", "--out",
           r + "/written_chain"});
  bestofn({"--rm", "prm=" + rm_dir("prm"), "--scores", "orm=" + r + "/written_orm.jsonl", "--out", r + "/mixed"});
  same(r + "/mixed/scores_prm.jsonl", r + "/written_prm.jsonl");
  // rm score resumes an output file only when it belongs to the input, id by id.
  std::vector<json> others;
  for (int i = 0; i < 6; ++i) others.push_back(json{{"id", "z" + std::to_string(i)}, {"prompt", "1+1?"}, {"response", "2"}});
  test::write_records(r + "/others.jsonl", others);
  auto other = run_command({test::rleif_bin(), "-q", "rm", "score", "--model", rm_dir("prm"), "--input",
                            r + "/others.jsonl", "--output", r + "/chain_prm.jsonl"}, 300);
  EXPECT_EQ(other.exit_code, 1) << other.out;
  EXPECT_NE(other.out.find("chain_prm.jsonl:1: id \"q0\" but record 1 of"), std::string::npos) << other.out;
  EXPECT_NE(other.out.find("belongs to another input"), std::string::npos) << other.out;
  same(r + "/mixed/bestofn.json", r + "/written_chain/bestofn.json");
  json w = json::parse(read_file(r + "/mixed/bestofn.json"));
  EXPECT_NEAR(w["methods"]["pass@k"]["mean"][0].get<double>(), 1.0 / 3, 1e-12) << w.dump();  // one right of three
}

TEST_F(BestOfNInline, CutShortRunResumesToTheSameResult) {
  const std::string out = *root_ + "/resume";
  auto full = run_command(inline_args(out), 300);
  ASSERT_EQ(full.exit_code, 0) << full.out;
  const std::string want = read_file(out + "/bestofn.json");
  const std::string samples = read_file(out + "/samples.jsonl");
  auto lines = split(samples, '\n');
  ASSERT_GE(lines.size(), 5u);
  // Killed while sampling: the last two records are missing, the third last is half written; the
  // ORM scores cover only the first record, the PRM's all five (three of them of samples now gone).
  write_file_atomic(out + "/samples.jsonl", lines[0] + "\n" + lines[1] + "\n" + lines[2].substr(0, 30));
  write_file_atomic(out + "/scores_orm.jsonl", split(read_file(out + "/scores_orm.jsonl"), '\n')[0] + "\n");
  std::remove((out + "/bestofn.json").c_str());
  auto again = run_command(inline_args(out), 300);
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(again.out.find("2 records already in"), std::string::npos) << again.out;  // generation resumed
  EXPECT_NE(again.out.find("1 already in"), std::string::npos) << again.out;          // so did the ORM's scores
  EXPECT_EQ(read_jsonl(out + "/samples.jsonl").size(), 5u);
  EXPECT_EQ(read_file(out + "/bestofn.json"), want);
  // A record sampled again lands at the end: the PRM's scores from there on are redone, not misread.
  auto relines = split(read_file(out + "/samples.jsonl"), '\n');
  write_file_atomic(out + "/samples.jsonl", relines[1] + "\n" + relines[2] + "\n" + relines[3] + "\n" + relines[4] + "\n");
  auto third = run_command(inline_args(out), 300);
  ASSERT_EQ(third.exit_code, 0) << third.out;
  EXPECT_NE(third.out.find("scoring from there again"), std::string::npos) << third.out;
  json a = json::parse(want), b = json::parse(read_file(out + "/bestofn.json"));
  for (auto& [name, m] : a["methods"].items())
    for (size_t k = 0; k < m["mean"].size(); ++k)
      EXPECT_NEAR(b["methods"][name]["mean"][k].get<double>(), m["mean"][k].get<double>(), 1e-12) << name << " k " << k;
}

// A LoRA adapter directory is a policy too: bestofn samples what rleif generate samples from it.
TEST_F(BestOfNInline, SamplesFromALoraAdapterPolicy) {
  const std::string& r = *root_;
  const std::string adapter = r + "/lora_policy/model";
  ASSERT_TRUE(path_exists(adapter + "/adapter_config.json"));
  ASSERT_FALSE(path_exists(adapter + "/config.json"));
  auto b = run_command({test::rleif_bin(), "-q", "bestofn", "--policy", adapter, "--problems", r + "/problems.jsonl",
                        "--n", "4", "--seed", "5", "--temperature", "1", "--max-new-tokens", "16", "--threads", "1",
                        "--rm", "orm=" + rm_dir("orm"), "--output", r + "/lora_bon", "subsamples=20"},
                       300);
  ASSERT_EQ(b.exit_code, 0) << b.out;
  auto g = run_command({test::rleif_bin(), "-q", "generate", "--model", adapter, "--input", r + "/problems.jsonl",
                        "--output", r + "/lora_samples.jsonl", "--n", "4", "--seed", "5", "--temperature", "1",
                        "--max-new-tokens", "16", "--threads", "1"},
                       300);
  ASSERT_EQ(g.exit_code, 0) << g.out;
  EXPECT_TRUE(read_file(r + "/lora_bon/samples.jsonl") == read_file(r + "/lora_samples.jsonl"));
  // The adapter moved the policy: its samples are not the base policy's.
  auto base = run_command({test::rleif_bin(), "-q", "generate", "--model", policy(), "--input", r + "/problems.jsonl",
                           "--output", r + "/base_samples.jsonl", "--n", "4", "--seed", "5", "--temperature", "1",
                           "--max-new-tokens", "16", "--threads", "1"},
                          300);
  ASSERT_EQ(base.exit_code, 0) << base.out;
  EXPECT_FALSE(read_file(r + "/base_samples.jsonl") == read_file(r + "/lora_samples.jsonl"));
}

TEST_F(BestOfNInline, BadPolicyAndRmInputSaysWhy) {
  const std::string out = *root_ + "/bad";
  auto r = run_command({test::rleif_bin(), "bestofn", "--rm", "prm=" + rm_dir("prm"), "--out", out}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("--policy DIR --problems FILE, or read them with --samples FILE"), std::string::npos) << r.out;
  r = run_command({test::rleif_bin(), "bestofn", "--policy", policy(), "--out", out}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("--problems FILE"), std::string::npos) << r.out;
  r = run_command({test::rleif_bin(), "bestofn", "--policy", *root_ + "/lora_policy", "--problems", *root_ + "/problems.jsonl", "--out", out}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(": not a model directory (no config.json, no adapter_config.json)"), std::string::npos) << r.out;
  auto args = inline_args(out);
  args.push_back("--rm");
  args.push_back(rm_dir("prm"));  // no NAME=
  r = run_command(args, 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("is not NAME=DIR"), std::string::npos) << r.out;
  args.back() = "irm=" + policy();  // a policy, not a reward model
  r = run_command(args, 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("is not a reward model (no rleif_rm.json)"), std::string::npos) << r.out;
  args.back() = "prm=" + rm_dir("orm");  // the name of the first --rm again
  r = run_command(args, 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("named 'prm'"), std::string::npos) << r.out;
  EXPECT_FALSE(path_exists(out + "/samples.jsonl"));  // every check comes before any sampling
}

}  // namespace
}  // namespace rleif
