// The shared training loop on a small torch::nn module: gradient accumulation equals one larger
// batch, runs are repeatable, checkpoints are pruned, and a run killed with SIGKILL (or stopped by
// SIGTERM) and resumed ends with bitwise the same weights as an uninterrupted run.
//
// The kill tests re-run this binary as a child (RLEIF_TRAIN_CHILD_DIR set, running the otherwise
// disabled TrainerChild.DISABLED_Run), kill it once a checkpoint exists, then resume in the parent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/fs.h"
#include "core/log.h"
#include "tests/test_util.h"
#include "train/tensor_io.h"
#include "train/trainer.h"

namespace rleif::train {
namespace {
namespace fsys = std::filesystem;

// y = W2 tanh(W1 x + b1): weighted regression on fixed random data; micro-batch i of an epoch holds
// the examples perm[i*bs .. (i+1)*bs) of that epoch's permutation. Example k weighs (k % 3) + 1
// loss units, so micro-batches carry different weights, as SFT batches with different numbers of
// response tokens do.
class ToyTask : public TrainTask {
 public:
  ToyTask(int64_t n, int64_t batch_size, int64_t step_sleep_ms = 0)
      : n_(n), bs_(batch_size), sleep_ms_(step_sleep_ms) {
    torch::manual_seed(99);  // the data, not the model
    x_ = torch::randn({n, 6});
    y_ = torch::randn({n, 2});
    w_ = torch::arange(n, torch::kInt64).remainder(3).to(torch::kFloat32) + 1;  // [n]
  }
  void init_model(const std::string& ckpt, const torch::Device&) override {
    net_ = torch::nn::Sequential(torch::nn::Linear(6, 16), torch::nn::Functional(torch::tanh), torch::nn::Linear(16, 2));
    if (!ckpt.empty()) {
      torch::NoGradGuard ng;
      auto t = load_tensors(ckpt + "/model.safetensors");
      for (auto& p : net_->named_parameters()) p.value().copy_(t.at(p.key()));
    }
  }
  torch::nn::Module& module() override { return *net_; }
  void save_model(const std::string& dir) override {
    make_dirs(dir);
    NamedTensors all;
    for (auto& p : net_->named_parameters()) all.emplace_back(p.key(), p.value());
    save_tensors(dir + "/model.safetensors", all);
  }
  int64_t epoch_size() const override { return (n_ + bs_ - 1) / bs_; }
  void start_epoch(int64_t epoch, uint64_t seed) override { perm_ = epoch_permutation(n_, seed, epoch); }
  MicroBatchInfo info(int64_t i) const override {
    double w = 0;
    int64_t rows = 0;
    for (int64_t k = i * bs_; k < std::min(n_, (i + 1) * bs_); ++k, ++rows) w += static_cast<double>(perm_[k] % 3 + 1);
    return MicroBatchInfo{w, rows};
  }
  torch::Tensor loss(int64_t i, json&) override {
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    std::vector<int64_t> idx(perm_.begin() + i * bs_, perm_.begin() + std::min(n_, (i + 1) * bs_));
    auto sel = torch::tensor(idx, torch::kInt64);
    auto pred = net_->forward(x_.index_select(0, sel));
    // Sum of weighted per-example losses.
    return ((pred - y_.index_select(0, sel)).pow(2).sum(1) * w_.index_select(0, sel)).sum();
  }

 private:
  int64_t n_, bs_, sleep_ms_;
  torch::Tensor x_, y_, w_;
  std::vector<int64_t> perm_;
  torch::nn::Sequential net_{nullptr};
};

TrainerOptions toy_options(const std::string& dir) {
  TrainerOptions o;
  o.output_dir = dir;
  o.epochs = 3;
  o.batch_size = 4;
  o.grad_accum = 2;
  o.max_grad_norm = 0.5;
  o.seed = 7;
  o.deterministic = true;
  o.threads = 1;
  o.device = "cpu";
  o.log_every_s = 1000;
  return o;
}
AdamWOptions toy_optim() {
  AdamWOptions a;
  a.lr = 3e-2;
  a.weight_decay = 0.1;
  return a;
}
ScheduleOptions toy_schedule() {
  ScheduleOptions s;
  s.warmup_steps = 2;
  return s;
}

std::map<std::string, torch::Tensor> final_weights(const std::string& dir) {
  return load_tensors(dir + "/model/model.safetensors");
}
void expect_bitwise_equal(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k << " differs";
}

TEST(Trainer, AccumulationEqualsOneLargerBatch) {
  // 4 micro-batches of 2 per step vs 1 micro-batch of 8: the epoch order is the same permutation,
  // so each step sees the same 8 examples and the mean over them is the same loss.
  auto run = [](int64_t bs, int64_t accum) {
    std::string dir = test::temp_dir("accum");
    ToyTask task(32, bs);
    TrainerOptions o = toy_options(dir);
    o.batch_size = bs;
    o.grad_accum = accum;
    o.max_grad_norm = 0;
    o.epochs = 2;
    Trainer t(o, toy_optim(), toy_schedule(), task, "");
    t.run();
    return std::make_pair(final_weights(dir), read_jsonl(dir + "/metrics.jsonl"));
  };
  auto [wa, ma] = run(2, 4);
  auto [wb, mb] = run(8, 1);
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i)
    if (ma[i].contains("loss")) {
      EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-6) << "step " << i + 1;
    }
  for (auto& [k, v] : wa) EXPECT_TRUE(torch::allclose(v, wb.at(k), 1e-5, 1e-6)) << k;
}

TEST(Trainer, SameSeedSameLossCurve) {
  std::vector<double> curves[2];
  for (int r = 0; r < 2; ++r) {
    std::string dir = test::temp_dir("repeat");
    ToyTask task(24, 4);
    Trainer t(toy_options(dir), toy_optim(), toy_schedule(), task, "");
    t.run();
    for (auto& line : read_jsonl(dir + "/metrics.jsonl"))
      if (line.contains("loss")) curves[r].push_back(line["loss"].get<double>());
  }
  ASSERT_EQ(curves[0].size(), 9u);  // 3 epochs x ceil(6 micro-batches / 2)
  EXPECT_EQ(curves[0], curves[1]);
  EXPECT_LT(curves[0].back(), curves[0].front());
}

TEST(Trainer, Bf16AutocastChangesTheComputeDtypeOnly) {
  // CPU autocast in bf16: the loss is close to fp32's but not equal (the matmuls ran in bf16), and
  // the weights stay fp32.
  std::vector<double> first;
  for (Precision p : {Precision::fp32, Precision::bf16}) {
    std::string dir = test::temp_dir("bf16");
    ToyTask task(16, 4);
    TrainerOptions o = toy_options(dir);
    o.precision = p;
    o.max_steps = 1;
    Trainer t(o, toy_optim(), toy_schedule(), task, "");
    t.run();
    first.push_back(read_jsonl(dir + "/metrics.jsonl")[0]["loss"].get<double>());
    EXPECT_EQ(final_weights(dir).begin()->second.scalar_type(), torch::kFloat32);
  }
  EXPECT_NE(first[0], first[1]);
  EXPECT_NEAR(first[0], first[1], 2e-2 * first[0]);
}

TEST(Trainer, KeepsTheLastCheckpointsAndSkipsACompletedRun) {
  std::string dir = test::temp_dir("keep");
  ToyTask task(24, 4);
  TrainerOptions o = toy_options(dir);
  o.save_every = 2;
  o.keep_last = 2;
  Trainer t(o, toy_optim(), toy_schedule(), task, "a: 1\n");
  TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainStatus::completed);
  Checkpointer c(dir, 2);
  auto all = c.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(fsys::path(all[0]).filename(), "checkpoint-8");
  EXPECT_EQ(fsys::path(all[1]).filename(), "checkpoint-9");
  EXPECT_EQ(read_file(all[1] + "/config.yaml"), "a: 1\n");
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "rng.safetensors", "trainer_state.json"})
    EXPECT_TRUE(path_exists(all[1] + "/" + f)) << f;
  // Running again does nothing and keeps the result.
  auto before = final_weights(dir);
  ToyTask again(24, 4);
  Trainer t2(o, toy_optim(), toy_schedule(), again, "a: 1\n");
  EXPECT_EQ(t2.run().step, 9);
  expect_bitwise_equal(before, final_weights(dir));
  EXPECT_EQ(read_jsonl(dir + "/metrics.jsonl").size(), 9u);  // one line per step, none added by the rerun
}

// The child side of the kill tests: trains slowly, checkpointing every step. Disabled, so a plain
// run of this binary neither runs nor skips it; start_child runs it by name.
TEST(TrainerChild, DISABLED_Run) {
  const char* dir = std::getenv("RLEIF_TRAIN_CHILD_DIR");
  ASSERT_TRUE(dir) << "run only as the child of a kill test, with RLEIF_TRAIN_CHILD_DIR set";
  ToyTask task(24, 4, /*step_sleep_ms=*/150);
  TrainerOptions o = toy_options(dir);
  o.save_every = 1;
  Trainer t(o, toy_optim(), toy_schedule(), task, "");
  TrainResult r = t.run();
  std::exit(r.status == TrainStatus::interrupted ? 128 + r.signal : 0);
}

// Starts this binary as the kill-test child training into `dir`.
pid_t start_child(const std::string& dir) {
  std::string self = fsys::read_symlink("/proc/self/exe").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("RLEIF_TRAIN_CHILD_DIR", dir.c_str(), 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl(self.c_str(), self.c_str(), "--gtest_filter=TrainerChild.DISABLED_Run", "--gtest_also_run_disabled_tests",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits until checkpoint-<step> (or a later one) exists.
bool wait_for_checkpoint(const std::string& dir, int64_t step, double timeout_s = 120) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  Checkpointer c(dir, 1);
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& p : c.list())
      if (std::stoll(fsys::path(p).filename().string().substr(11)) >= step) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::map<std::string, torch::Tensor> uninterrupted() {
  std::string dir = test::temp_dir("straight");
  ToyTask task(24, 4);
  TrainerOptions o = toy_options(dir);
  o.save_every = 1;
  Trainer t(o, toy_optim(), toy_schedule(), task, "");
  t.run();
  return final_weights(dir);
}

void resume_and_compare(const std::string& dir) {
  ToyTask task(24, 4);
  TrainerOptions o = toy_options(dir);
  o.save_every = 1;
  Trainer t(o, toy_optim(), toy_schedule(), task, "");
  TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainStatus::completed);
  EXPECT_EQ(r.step, 9);
  expect_bitwise_equal(uninterrupted(), final_weights(dir));
  // Each step is logged exactly once even though some were run twice.
  std::vector<int64_t> steps;
  for (auto& line : read_jsonl(dir + "/metrics.jsonl"))
    if (line.contains("loss")) steps.push_back(line["step"].get<int64_t>());
  std::vector<int64_t> want{1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(steps, want);
}

TEST(Trainer, SigkillThenResumeGivesBitwiseSameWeights) {
  for (int64_t kill_after : {1, 4, 7}) {
    SCOPED_TRACE("killed after checkpoint " + std::to_string(kill_after));
    std::string dir = test::temp_dir("sigkill");
    pid_t pid = start_child(dir);
    ASSERT_TRUE(wait_for_checkpoint(dir, kill_after));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child finished before the kill";
    EXPECT_FALSE(path_exists(dir + "/model/model.safetensors"));
    resume_and_compare(dir);
  }
}

TEST(Trainer, SigtermSavesACheckpointAndExits) {
  std::string dir = test::temp_dir("sigterm");
  pid_t pid = start_child(dir);
  ASSERT_TRUE(wait_for_checkpoint(dir, 3));
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child did not exit cleanly on SIGTERM";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  resume_and_compare(dir);
}

// ToyTask on a disk that fails from its `fail_at`-th save_model call on (checkpoint-<fail_at> when
// every step saves): full (files cannot grow past 100 bytes) or read-only (the checkpoints folder).
class FailingDiskTask : public ToyTask {
 public:
  enum Fault { full, read_only };
  FailingDiskTask(Fault fault, int fail_at) : ToyTask(24, 4), fault_(fault), fail_at_(fail_at) {}
  void save_model(const std::string& dir) override {
    if (++saves_ == fail_at_) {
      if (fault_ == full) full_ = std::make_unique<test::FileSizeLimit>(100);
      else read_only_ = std::make_unique<test::ReadOnlyDir>(parent_dir(dir));
    }
    ToyTask::save_model(dir);
  }
  void heal() {
    full_.reset();
    read_only_.reset();
  }

 private:
  Fault fault_;
  int fail_at_, saves_ = 0;
  std::unique_ptr<test::FileSizeLimit> full_;
  std::unique_ptr<test::ReadOnlyDir> read_only_;
};

// A checkpoint that cannot be written stops the run with an error naming the file, the cause and
// what to check, frees the partial checkpoint, leaves the previous one as it was, and a rerun
// resumes from it to bitwise the weights of an uninterrupted run.
TEST(Trainer, ACheckpointOnAFullOrReadOnlyDiskFailsClearlyAndKeepsThePreviousOne) {
  for (auto fault : {FailingDiskTask::full, FailingDiskTask::read_only}) {
    SCOPED_TRACE(fault == FailingDiskTask::full ? "full disk" : "read-only directory");
    const std::string dir = test::temp_dir("baddisk"), ckpts = dir + "/checkpoints";
    std::string error, previous;
    {
      FailingDiskTask task(fault, 3);
      TrainerOptions o = toy_options(dir);
      o.save_every = 1;
      Trainer t(o, toy_optim(), toy_schedule(), task, "");
      try {
        t.run();
      } catch (const Error& e) {
        error = e.what();
      }
      if (fault == FailingDiskTask::read_only) {  // the fault is real, even for root
        EXPECT_NE(::mkdir((ckpts + "/probe").c_str(), 0755), 0) << "the read-only directory took a write";
      }
      task.heal();
      previous = read_file(ckpts + "/checkpoint-2/model.safetensors");
    }
    EXPECT_NE(error.find("saving checkpoint checkpoint-3 in " + ckpts + " failed: " + ckpts + "/.tmp-checkpoint-3."),
              std::string::npos) << error;
    EXPECT_NE(error.find(fault == FailingDiskTask::full
                             ? "/model.safetensors: write failed (File too large; is the disk full or over quota?"
                             : ": cannot create directory (Permission denied; is the directory read-only?"),
              std::string::npos) << error;
    EXPECT_NE(error.find("the previous checkpoint " + ckpts + "/checkpoint-2 is intact; a rerun resumes from it"),
              std::string::npos) << error;
    std::vector<std::string> left;
    for (auto& e : fsys::directory_iterator(ckpts)) left.push_back(e.path().filename().string());
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<std::string>{"checkpoint-1", "checkpoint-2"})) << "no partial checkpoint is left";
    EXPECT_EQ(read_file(ckpts + "/checkpoint-2/model.safetensors"), previous);
    resume_and_compare(dir);
  }
}

TEST(Trainer, RefusesToOverwriteWithoutResume) {
  std::string dir = test::temp_dir("noresume");
  {
    ToyTask task(8, 4);
    Trainer t(toy_options(dir), toy_optim(), toy_schedule(), task, "");
    t.run();
  }
  ToyTask task(8, 4);
  TrainerOptions o = toy_options(dir);
  o.resume = false;
  Trainer t(o, toy_optim(), toy_schedule(), task, "");
  try {
    t.run();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already holds checkpoints and train.resume=false"), std::string::npos) << e.what();
  }
}

TEST(EpochPermutation, DependsOnSeedAndEpochOnly) {
  auto a = epoch_permutation(50, 1, 0), b = epoch_permutation(50, 1, 0), c = epoch_permutation(50, 1, 1),
       d = epoch_permutation(50, 2, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
}

}  // namespace
}  // namespace rleif::train
