// `rleif data synth`, `rleif sft` and `rleif eval` end to end on a tiny model trained from scratch:
// the run writes a Hugging Face model, metrics and held-out accuracy; SIGKILL at a random-ish step
// and the same command again give bitwise the final weights of an uninterrupted run; SIGINT saves
// and exits 130; bad input is a clear error; eval reads GSM8K as it is, resumes, and its greedy
// output equals transformers' on the trained policy.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/jsonl.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
namespace fsys = std::filesystem;
using test::run_command;

class SftCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::temp_dir("sftcli"));
    auto r = run_command({test::rleif_bin(), "data", "synth", "--out", *root_ + "/data", "--n", "800", "--seed", "5",
                          "--max-steps", "2", "--held-out", "40"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    json cfg{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 1024},
             {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
             {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 512},
             {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false}};
    write_file_atomic(*root_ + "/tiny.json", cfg.dump(2));
  }
  // The sft command line for a run in `out`.
  std::vector<std::string> sft(const std::string& out, int steps, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{test::rleif_bin(), "sft",
                               "model.config=" + *root_ + "/tiny.json",
                               "model.tokenizer=" + *root_ + "/data/tokenizer.json",
                               "data.train=" + *root_ + "/data/train.jsonl",
                               "data.eval=" + *root_ + "/data/held_out.jsonl",
                               "data.max_length=160",
                               "train.output_dir=" + out,
                               "train.max_steps=" + std::to_string(steps),
                               "train.batch_size=8",
                               "train.grad_accum=2",
                               "train.threads=1",
                               "train.deterministic=true",
                               "train.save_every=1",
                               "optim.lr=3e-3",
                               "optim.weight_decay=0.1",
                               "schedule.warmup_steps=3",
                               "eval.samples=6",
                               "eval.max_new_tokens=24"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static std::string* root_;
};
std::string* SftCli::root_ = nullptr;

TEST_F(SftCli, SynthWritesDisjointSplitsAndATokenizer) {
  auto train = read_jsonl(*root_ + "/data/train.jsonl");
  auto held = read_jsonl(*root_ + "/data/held_out.jsonl");
  EXPECT_EQ(held.size(), 40u);
  EXPECT_GT(train.size(), 700u);
  std::set<std::string> qs;
  for (auto& r : train) qs.insert(r["prompt"].get<std::string>());
  for (auto& r : held) {
    EXPECT_EQ(qs.count(r["prompt"].get<std::string>()), 0u) << "held-out question also in train";
    EXPECT_LE(r["n_steps"].get<int>(), 2);
    std::string resp = r["response"].get<std::string>();
    EXPECT_NE(resp.find("The answer is: " + std::to_string(r["answer"].get<int64_t>())), std::string::npos) << resp;
  }
  EXPECT_TRUE(path_exists(*root_ + "/data/tokenizer.json"));
  EXPECT_TRUE(path_exists(*root_ + "/data/tokenizer_config.json"));
}

TEST_F(SftCli, TrainsWritesAModelMetricsAndEvaluates) {
  const std::string out = test::temp_dir("sft_run");
  auto r = run_command(sft(out, 10, {"train.eval_every=5"}));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("held-out greedy accuracy"), std::string::npos) << r.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(path_exists(out + "/model/" + f)) << f;
  auto metrics = read_jsonl(out + "/metrics.jsonl");
  int steps = 0, evals = 0;
  for (auto& m : metrics) {
    if (m.contains("eval")) {
      ++evals;
      EXPECT_TRUE(m["eval"].contains("accuracy"));
      EXPECT_TRUE(m["eval"].contains("loss"));
      continue;
    }
    ++steps;
    for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "tokens"}) EXPECT_TRUE(m.contains(k)) << k;
  }
  EXPECT_EQ(steps, 10);
  EXPECT_EQ(evals, 2);  // step 5 and the end
  // The resolved config travels with the checkpoint.
  std::string cfg = read_file(out + "/checkpoints/checkpoint-10/config.yaml");
  EXPECT_NE(cfg.find("max_steps: 10"), std::string::npos) << cfg;
}

using test::spawn_quiet;
using test::wait_for_path;

TEST_F(SftCli, SigkillAndResumeEndWithBitwiseSameWeights) {
  const int steps = 40;
  const std::string straight = test::temp_dir("sft_straight");
  auto r = run_command(sft(straight, steps));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (int kill_at : {7, 23}) {
    SCOPED_TRACE("killed after checkpoint " + std::to_string(kill_at));
    const std::string out = test::temp_dir("sft_killed");
    pid_t pid = spawn_quiet(sft(out, steps));
    ASSERT_TRUE(wait_for_path(out + "/checkpoints/checkpoint-" + std::to_string(kill_at)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before the kill";
    ASSERT_FALSE(path_exists(out + "/model/model.safetensors"));
    auto again = run_command(sft(out, steps));
    ASSERT_EQ(again.exit_code, 0) << again.out;
    EXPECT_NE(again.out.find("resuming from"), std::string::npos) << again.out;
    EXPECT_TRUE(read_file(out + "/model/model.safetensors") == read_file(straight + "/model/model.safetensors"))
        << "final weights differ from the uninterrupted run";
    std::vector<double> a, b;
    for (auto& m : read_jsonl(out + "/metrics.jsonl"))
      if (m.contains("loss")) a.push_back(m["loss"].get<double>());
    for (auto& m : read_jsonl(straight + "/metrics.jsonl"))
      if (m.contains("loss")) b.push_back(m["loss"].get<double>());
    EXPECT_EQ(a, b) << "the loss curve differs";
  }
}

TEST_F(SftCli, SigintSavesAndExits130ThenResumes) {
  const std::string out = test::temp_dir("sft_sigint");
  pid_t pid = spawn_quiet(sft(out, 200));
  ASSERT_TRUE(wait_for_path(out + "/checkpoints/checkpoint-3"));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto r = run_command(sft(out, 200, {"train.save_every=50"}));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming from"), std::string::npos) << r.out;
  EXPECT_TRUE(path_exists(out + "/model/model.safetensors"));
}

TEST_F(SftCli, BadInputIsAClearError) {
  const std::string out = test::temp_dir("sft_bad");
  auto r = run_command(sft(out, 2, {"train.lrr=1"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("unknown key 'train.lrr'"), std::string::npos) << r.out;

  r = run_command({test::rleif_bin(), "sft", "model.path=/nonexistent/model", "data.train=x.jsonl", "train.output_dir=" + out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("model.path = '/nonexistent/model': no such model directory"), std::string::npos) << r.out;

  const std::string bad = out + "/bad.jsonl";
  write_file_atomic(bad, "{\"prompt\": \"Ava has 3 marbles.\", \"response\": \"The answer is: 3\"}\n{\"prompt\": \"x\"}\n");
  r = run_command(sft(out, 2, {"data.train=" + bad}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find(bad + ":2: missing required field 'response'"), std::string::npos) << r.out;

  write_file_atomic(bad, "{\"prompt\": \"Ava has 3 marbles.\", \"response\": \"\"}\n");
  r = run_command(sft(out, 2, {"data.train=" + bad}));
  EXPECT_NE(r.out.find(bad + ":1: 'response' is empty"), std::string::npos) << r.out;

  r = run_command(sft(out, 2, {"data.max_length=20", "data.overlong=error"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("train.jsonl:1: the example is"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("longer than data.max_length = 20"), std::string::npos) << r.out;

  r = run_command({test::rleif_bin(), "eval", "--model", "/nonexistent/model", "--data", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("/nonexistent/model: no such model directory"), std::string::npos) << r.out;
}

// A checkpoint that cannot be written (a full disk: files capped at half the model's size) stops
// the run with an error naming the file, the cause and the checkpoint left intact, and the same
// command resumes from that checkpoint once there is room.
TEST_F(SftCli, ACheckpointOnAFullDiskFailsClearlyAndTheRunResumesFromThePreviousOne) {
  const std::string out = test::temp_dir("sft_full"), ckpts = out + "/checkpoints";
  auto r = run_command(sft(out, 3, {"eval.samples=0"}));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string previous = read_file(ckpts + "/checkpoint-3/model.safetensors");
  {
    test::FileSizeLimit full(previous.size() / 2);
    r = run_command(sft(out, 6, {"eval.samples=0"}));
  }
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("saving checkpoint checkpoint-4 in " + ckpts + " failed: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/model.safetensors: write failed (File too large; is the disk full or over quota?"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the previous checkpoint " + ckpts + "/checkpoint-3 is intact"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(ckpts + "/checkpoint-3/model.safetensors"), previous);
  r = run_command(sft(out, 6, {"eval.samples=0"}));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming from " + ckpts + "/checkpoint-3"), std::string::npos) << r.out;
  EXPECT_TRUE(path_exists(ckpts + "/checkpoint-6/trainer_state.json"));
}

TEST_F(SftCli, EvalWritesResultsResumesReadsGsm8kAndMatchesTransformers) {
  const std::string out = test::temp_dir("sft_eval");
  auto r = run_command(sft(out, 30, {"train.save_every=0", "eval.samples=0"}));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string model = out + "/model", res = out + "/res.jsonl";
  r = run_command({test::rleif_bin(), "eval", "--model", model, "--data", *root_ + "/data/held_out.jsonl", "--limit",
                   "12", "--max-new-tokens", "40", "--out", res, "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json summary = json::parse(r.out.substr(r.out.rfind("{\"accuracy\"")));
  EXPECT_EQ(summary["n"], 12);
  auto rows = read_jsonl(res);
  ASSERT_EQ(rows.size(), 12u);
  int correct = 0;
  for (auto& row : rows) correct += row["correct"].get<bool>();
  EXPECT_EQ(summary["correct"], correct);
  // stdout is the summary alone (progress and logs go to stderr), so `rleif eval ... > summary.json`
  // writes valid JSON.
  r = run_command({"sh", "-c",
                   test::rleif_bin() + " eval --model " + model + " --data " + *root_ + "/data/held_out.jsonl" +
                       " --limit 12 --max-new-tokens 40 --threads 1 --out " + out + "/res2.jsonl 2>/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["n"], 12) << r.out;

  // Interrupted evaluations resume: drop the last rows (and cut one in half), run again.
  std::string text = read_file(res);
  size_t cut = 0;
  for (int i = 0; i < 9; ++i) cut = text.find('\n', cut) + 1;
  write_file_atomic(res, text.substr(0, cut + 10));
  r = run_command({test::rleif_bin(), "eval", "--model", model, "--data", *root_ + "/data/held_out.jsonl", "--limit",
                   "12", "--max-new-tokens", "40", "--out", res, "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("9 problems already in"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(res), text);
  // A results file with a row rleif eval did not write: the error names its line and the fix.
  for (const char* bad : {R"({"id": 7, "correct": true})", R"({"id": "x", "correct": "yes"})"}) {
    const std::string other = out + "/other.jsonl";
    write_file_atomic(other, text.substr(0, cut) + bad + "\n");
    r = run_command({test::rleif_bin(), "eval", "--model", model, "--data", *root_ + "/data/held_out.jsonl", "--limit",
                     "12", "--max-new-tokens", "40", "--out", other, "--threads", "1"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find(other + ":10: field '"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("set resume=false"), std::string::npos) << r.out;
  }

  // The policy loads in transformers and decodes greedily to the same text.
  const std::string hf = out + "/hf.jsonl";
  auto py = run_command({test::python_bin(), test::source_dir() + "/scripts/fixtures/train_hf_eval.py", "--model", model,
                         "--data", *root_ + "/data/held_out.jsonl", "--limit", "12", "--max-new-tokens", "40", "--out", hf});
  ASSERT_EQ(py.exit_code, 0) << py.out;
  auto ref = read_jsonl(hf);
  ASSERT_EQ(ref.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["completion"], ref[i]["completion"]) << "problem " << rows[i]["id"];
    EXPECT_EQ(rows[i]["tokens"], ref[i]["tokens"]) << "problem " << rows[i]["id"];
  }

  // GSM8K's test file works as it is (answers after "####").
  const std::string gsm = test::shared_dir() + "/data/gsm8k/test.jsonl";
  RLEIF_REQUIRE_PATH(gsm);
  r = run_command({test::rleif_bin(), "eval", "--model", model, "--data", gsm, "--limit", "3", "--max-new-tokens", "8",
                   "--out", out + "/gsm.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto g = read_jsonl(out + "/gsm.jsonl");
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0]["truth"], "18");  // Janet's ducks
}

}  // namespace
}  // namespace rleif
