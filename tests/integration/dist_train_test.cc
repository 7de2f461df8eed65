// Data-parallel `rleif sft`, `rleif rm train` and `rleif ppo` over c10d Gloo on loopback, two processes launched
// as torchrun would (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and by torchrun itself:
// the same global batch gives the one-process weights (within 1e-6), a step whose micro-batches
// leave one rank idle and data with skipped records do not hang, a killed rank makes the other fail
// with a clear error in bounded time, and rerunning the killed job ends with the uninterrupted
// job's weights bitwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/safetensors.h"
#include "tests/dist_util.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
using test::run_command;
using Clock = std::chrono::steady_clock;
using test::free_port;

// Starts one rank of a `world`-process job with torchrun's variables; stdout+stderr go to `log`.
pid_t spawn_rank(const std::vector<std::string>& argv, int rank, int world, int port, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("RANK", std::to_string(rank).c_str(), 1);
    ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
    ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

constexpr int kTimedOut = -1000;
// The exit code (-signal when killed), or kTimedOut (the process is then killed).
int wait_exit(pid_t pid, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return kTimedOut;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

struct Job {
  std::vector<int> codes;
  std::vector<std::string> logs;
  std::string all_logs() const {
    std::string s;
    for (size_t r = 0; r < logs.size(); ++r) s += "--- rank " + std::to_string(r) + " ---\n" + read_file(logs[r]);
    return s;
  }
};

// Runs `argv` as `world` ranks on loopback and waits for all of them.
Job run_ranks(const std::vector<std::string>& argv, int world, const std::string& logs_dir, double timeout_s = 600) {
  const int port = free_port();
  Job j;
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    j.logs.push_back(logs_dir + "/rank" + std::to_string(r) + ".log");
    pids.push_back(spawn_rank(argv, r, world, port, j.logs.back()));
  }
  for (pid_t p : pids) j.codes.push_back(wait_exit(p, timeout_s));
  return j;
}

// Largest |a - b| over every tensor of two model directories (same names and shapes required).
double max_weight_diff(const std::string& a_dir, const std::string& b_dir) {
  SafetensorsFile a(a_dir + "/model.safetensors"), b(b_dir + "/model.safetensors");
  EXPECT_EQ(a.names(), b.names());
  double worst = 0;
  for (const auto& name : a.names()) {
    const auto& x = a.get(name);
    const auto& y = b.get(name);
    EXPECT_EQ(x.dtype, DType::F32) << name;
    EXPECT_EQ(x.shape, y.shape) << name;
    if (x.dtype != DType::F32 || x.nbytes != y.nbytes) return INFINITY;
    const float* p = reinterpret_cast<const float*>(x.data);
    const float* q = reinterpret_cast<const float*>(y.data);
    for (int64_t i = 0; i < x.numel(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(p[i] - q[i])));
  }
  return worst;
}

std::vector<double> losses(const std::string& run) {
  std::vector<double> v;
  for (auto& m : read_jsonl(run + "/metrics.jsonl"))
    if (m.contains("loss")) v.push_back(m["loss"].get<double>());
  return v;
}

class DistCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::temp_dir("distcli"));
    auto r = run_command({test::rleif_bin(), "data", "synth", "--out", *root_ + "/data", "--n", "200", "--seed", "3",
                          "--max-steps", "3", "--held-out", "8"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    // 34 usable records and 3 that data.overlong=skip drops: 9 micro-batches of 4 an epoch, so with
    // grad_accum=4 every third step has a single micro-batch and rank 0 has none in it.
    auto recs = read_jsonl(*root_ + "/data/train.jsonl");
    ASSERT_GE(recs.size(), 40u);
    std::string lines;
    for (size_t i = 0; i < 37; ++i) {
      json rec = recs[i];
      if (i % 12 == 5) rec["response"] = std::string(2000, '7');  // far over data.max_length
      lines += rec.dump() + "\n";
    }
    write_file_atomic(*root_ + "/train.jsonl", lines);
    json cfg{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 1024},
             {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
             {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 512},
             {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false}};
    write_file_atomic(*root_ + "/tiny.json", cfg.dump(2));
    test::write_math_tokenizer(*root_ + "/rm");
    test::write_tiny_config(*root_ + "/rm");
    test::write_records(*root_ + "/rm/prm.jsonl", test::math_prm_records(40, 3));
  }
  static std::vector<std::string> sft(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{test::rleif_bin(), "sft",
                               "model.config=" + *root_ + "/tiny.json",
                               "model.tokenizer=" + *root_ + "/data/tokenizer.json",
                               "data.train=" + *root_ + "/train.jsonl",
                               "data.max_length=256",
                               "data.overlong=skip",
                               "train.output_dir=" + out,
                               "train.epochs=2",
                               "train.batch_size=4",
                               "train.grad_accum=4",
                               "train.threads=1",
                               "train.deterministic=true",
                               "train.save_every=1",
                               "train.dist.timeout_s=60",
                               "optim.lr=3e-3",
                               "optim.weight_decay=0.1",
                               "schedule.warmup_steps=2"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static std::vector<std::string> rm_train(const std::string& out) {
    return {test::rleif_bin(), "rm", "train",
            "model.config=" + *root_ + "/rm/config.json",
            "model.tokenizer=" + *root_ + "/rm/tokenizer.json",
            "data.kind=prm",
            "data.train=" + *root_ + "/rm/prm.jsonl",
            "encode.template=plain",
            "train.output_dir=" + out,
            "train.max_steps=6",
            "train.batch_size=3",
            "train.grad_accum=3",
            "train.threads=1",
            "train.deterministic=true",
            "train.dist.timeout_s=60",
            "optim.lr=3e-3"};
  }
  // The one-process SFT run the data-parallel ones are compared with (made once).
  static const std::string& single() {
    static std::string dir = [] {
      std::string d = *root_ + "/sft_single";
      auto r = run_command(sft(d));
      EXPECT_EQ(r.exit_code, 0) << r.out;
      return d;
    }();
    return dir;
  }
  static std::string* root_;
};
std::string* DistCli::root_ = nullptr;

TEST_F(DistCli, SftTwoRanksGiveTheOneProcessWeights) {
  const std::string out = test::temp_dir("dist_sft2");
  Job j = run_ranks(sft(out), 2, out);
  ASSERT_EQ(j.codes, (std::vector<int>{0, 0})) << j.all_logs();
  EXPECT_NE(read_file(j.logs[0]).find("data parallel: 2 ranks over gloo"), std::string::npos) << j.all_logs();
  auto one = losses(single()), two = losses(out);
  ASSERT_EQ(one.size(), 6u) << "2 epochs of 3 steps (9 micro-batches, grad_accum 4)";
  ASSERT_EQ(two.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_NEAR(two[i], one[i], 1e-6 * std::fabs(one[i])) << "step " << i + 1;
  EXPECT_LE(max_weight_diff(single() + "/model", out + "/model"), 1e-6);
  // Rank 0 alone wrote: one metrics line per step, checkpoints complete, the progress lines.
  EXPECT_TRUE(path_exists(out + "/checkpoints/checkpoint-6/trainer_state.json"));
  EXPECT_NE(read_file(j.logs[0]).find("step 6/6"), std::string::npos) << j.all_logs();
  EXPECT_EQ(read_file(j.logs[1]).find("step "), std::string::npos) << j.all_logs();
}

TEST_F(DistCli, RmTrainTwoRanksGiveTheOneProcessWeights) {
  const std::string one = test::temp_dir("dist_rm1"), two = test::temp_dir("dist_rm2");
  auto r = run_command(rm_train(one));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  Job j = run_ranks(rm_train(two), 2, two);
  ASSERT_EQ(j.codes, (std::vector<int>{0, 0})) << j.all_logs();
  EXPECT_LE(max_weight_diff(one + "/model", two + "/model"), 1e-6);
  EXPECT_EQ(losses(one).size(), losses(two).size());
}

// The likelihood head calibrates (scale, bias) before training, on every rank from the whole data:
// two ranks end with the one process's model and head.
TEST_F(DistCli, RmTrainLikelihoodHeadTwoRanksGiveTheOneProcessModelAndHead) {
  const std::string one = test::temp_dir("dist_rml1"), two = test::temp_dir("dist_rml2");
  auto args = [](const std::string& out) {
    auto a = rm_train(out);
    a.push_back("head.kind=likelihood");
    return a;
  };
  auto r = run_command(args(one));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("likelihood head calibrated on"), std::string::npos) << r.out;
  Job j = run_ranks(args(two), 2, two);
  ASSERT_EQ(j.codes, (std::vector<int>{0, 0})) << j.all_logs();
  EXPECT_LE(max_weight_diff(one + "/model", two + "/model"), 1e-6);
  const json h1 = json::parse(read_file(one + "/model/rleif_rm.json"))["head"];
  const json h2 = json::parse(read_file(two + "/model/rleif_rm.json"))["head"];
  ASSERT_EQ(h1["kind"], "likelihood") << h1.dump();
  EXPECT_NEAR(h2["scale"].get<double>(), h1["scale"].get<double>(), 1e-6);
  EXPECT_NEAR(h2["bias"].get<double>(), h1["bias"].get<double>(), 1e-6);
  EXPECT_EQ(losses(one).size(), losses(two).size());
}

TEST_F(DistCli, AKilledRankStopsTheOtherAndTheRerunResumesExactly) {
  const std::string straight = test::temp_dir("dist_straight");
  const std::vector<std::string> longer{"train.epochs=100"};  // 300 steps: the kill lands mid-run
  Job s = run_ranks(sft(straight, longer), 2, straight);
  ASSERT_EQ(s.codes, (std::vector<int>{0, 0})) << s.all_logs();

  const std::string out = test::temp_dir("dist_killed");
  const int port = free_port();
  pid_t r0 = spawn_rank(sft(out, longer), 0, 2, port, out + "/rank0.log");
  pid_t r1 = spawn_rank(sft(out, longer), 1, 2, port, out + "/rank1.log");
  ASSERT_TRUE(test::wait_for_path(out + "/checkpoints/checkpoint-2/trainer_state.json", 300));
  ::kill(r1, SIGKILL);
  const auto t0 = Clock::now();
  const int code0 = wait_exit(r0, 120);
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  wait_exit(r1, 10);
  const std::string log0 = read_file(out + "/rank0.log");
  if (code0 == 0) GTEST_FAIL() << "rank 0 finished before the kill reached it; make the run longer\n" << log0;
  EXPECT_NE(code0, kTimedOut) << "rank 0 hung after its peer died\n" << log0;
  EXPECT_EQ(code0, 1) << log0;
  EXPECT_LT(waited, 90.0) << "train.dist.timeout_s=60 bounds the wait";
  EXPECT_NE(log0.find("rank 0/2:"), std::string::npos) << log0;
  EXPECT_NE(log0.find("rerun the same command on all ranks to resume"), std::string::npos) << log0;
  ASSERT_FALSE(path_exists(out + "/model/model.safetensors"));

  Job again = run_ranks(sft(out, longer), 2, out);
  ASSERT_EQ(again.codes, (std::vector<int>{0, 0})) << again.all_logs();
  EXPECT_NE(read_file(again.logs[0]).find("resuming from"), std::string::npos) << again.all_logs();
  EXPECT_TRUE(read_file(out + "/model/model.safetensors") == read_file(straight + "/model/model.safetensors"))
      << "the resumed job's weights differ from the uninterrupted job's";
  EXPECT_EQ(losses(out), losses(straight));
}

TEST_F(DistCli, TorchrunLaunchesTheSameJob) {
  RLEIF_REQUIRE_PATH(test::python_bin());
  const std::string out = test::temp_dir("dist_torchrun");
  std::vector<std::string> argv{test::python_bin(), "-m", "torch.distributed.run", "--nproc-per-node", "2",
                                "--master-port", std::to_string(free_port()), "--no-python"};
  for (auto& a : sft(out)) argv.push_back(a);
  auto r = run_command(argv, 600);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("data parallel: 2 ranks over gloo"), std::string::npos) << r.out;
  EXPECT_LE(max_weight_diff(single() + "/model", out + "/model"), 1e-6);
}

// `rleif ppo` as 2 ranks: each samples and scores half of an iteration's prompts (whole groups),
// the experience is gathered, advantages are computed on the whole batch, and each minibatch's
// micro-batches are shared; the policy (and critic) end as one process's within 1e-6.
std::vector<std::string> ppo_args(const std::string& policy, const std::string& prompts, const std::string& out,
                                  const std::vector<std::string>& extra) {
  std::vector<std::string> a{test::rleif_bin(), "ppo", "policy.path=" + policy, "reward.kind=rule",
                             "data.prompts=" + prompts, "data.limit=8", "rollout.prompts_per_iteration=4",
                             "rollout.n=2", "rollout.max_new_tokens=12", "algo.ppo_epochs=2", "algo.minibatches=2",
                             "algo.micro_batch=2", "algo.entropy_coef=0.01", "optim.lr=1e-3", "critic_optim.lr=1e-3",
                             "train.threads=1", "train.deterministic=true", "train.iterations=3",
                             "train.dist.timeout_s=60", "train.output_dir=" + out};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<json> iteration_metrics(const std::string& run) {
  std::vector<json> v;
  for (auto& m : read_jsonl(run + "/metrics.jsonl"))
    if (m.contains("reward")) v.push_back(m);
  return v;
}

TEST_F(DistCli, PpoTwoRanksGiveTheOneProcessWeights) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {"grpo", {"algo.advantage=grpo", "algo.kl.beta=0.05", "algo.kl_in=loss"}},
      {"gae", {"algo.advantage=gae", "algo.kl.beta=0.05", "algo.whiten_advantages=true"}}};
  for (const auto& [name, extra] : cases) {
    SCOPED_TRACE(name);
    const std::string one = test::temp_dir("dist_ppo1_" + name), two = test::temp_dir("dist_ppo2_" + name);
    auto r = run_command(ppo_args(single() + "/model", *root_ + "/train.jsonl", one, extra), 600);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    Job j = run_ranks(ppo_args(single() + "/model", *root_ + "/train.jsonl", two, extra), 2, two);
    ASSERT_EQ(j.codes, (std::vector<int>{0, 0})) << j.all_logs();
    // Rank 0 alone wrote the metrics: the same samples (rewards, lengths) and the same update.
    auto m1 = iteration_metrics(one), m2 = iteration_metrics(two);
    ASSERT_EQ(m1.size(), 3u);
    ASSERT_EQ(m2.size(), m1.size());
    for (size_t i = 0; i < m1.size(); ++i)
      for (const char* k : {"reward", "response_length", "kl", "policy_loss", "entropy", "value_loss"}) {
        ASSERT_EQ(m2[i].contains(k), m1[i].contains(k)) << k;
        if (m1[i].contains(k))
          EXPECT_NEAR(m2[i][k].get<double>(), m1[i][k].get<double>(), 1e-6) << k << " at iteration " << i + 1;
      }
    EXPECT_LE(max_weight_diff(one + "/model", two + "/model"), 1e-6);
    if (name == "gae") EXPECT_LE(max_weight_diff(one + "/critic", two + "/critic"), 1e-6);
    EXPECT_TRUE(path_exists(two + "/checkpoints/checkpoint-3/trainer_state.json"));
    // Rank 0 alone reports progress.
    EXPECT_NE(read_file(j.logs[0]).find("iteration 3/3"), std::string::npos) << j.all_logs();
    EXPECT_EQ(read_file(j.logs[1]).find("iteration "), std::string::npos) << j.all_logs();
  }
}

TEST_F(DistCli, BadLaunchesAreClearErrors) {
  auto with_env = [](std::vector<std::string> env, const std::vector<std::string>& cmd) {
    env.insert(env.begin(), "/usr/bin/env");
    env.insert(env.end(), cmd.begin(), cmd.end());
    return run_command(env, 120);
  };
  auto half = with_env({"RANK=0"}, sft(test::temp_dir("dist_half")));
  EXPECT_EQ(half.exit_code, 1) << half.out;
  EXPECT_NE(half.out.find("RANK is set but WORLD_SIZE is unset"), std::string::npos) << half.out;
  auto no_addr = with_env({"-u", "MASTER_ADDR", "RANK=0", "WORLD_SIZE=2", "MASTER_PORT=29999"}, sft(test::temp_dir("dist_noaddr")));
  EXPECT_EQ(no_addr.exit_code, 1) << no_addr.out;
  EXPECT_NE(no_addr.out.find("MASTER_ADDR is unset"), std::string::npos) << no_addr.out;
  auto bad_rank = with_env({"RANK=2", "WORLD_SIZE=2"}, sft(test::temp_dir("dist_badrank")));
  EXPECT_EQ(bad_rank.exit_code, 1) << bad_rank.out;
  EXPECT_NE(bad_rank.out.find("RANK='2': expected an integer in [0, 1]"), std::string::npos) << bad_rank.out;
  const std::string out = test::temp_dir("dist_bad");
  Job j = run_ranks(sft(out, {"train.grad_accum=1"}), 2, out, 120);
  EXPECT_EQ(j.codes, (std::vector<int>{1, 1})) << j.all_logs();
  EXPECT_NE(read_file(j.logs[1]).find("train.grad_accum = 1 but 2 ranks run"), std::string::npos) << j.all_logs();
}

}  // namespace
}  // namespace rleif
