// The training loop shared by SFT, the reward models and anything else that minimises a loss over
// micro-batches: AdamW + schedule, gradient accumulation, global-norm clipping, autocast,
// checkpoints with exact resume, SIGINT/SIGTERM handling, progress and a JSONL metrics file.
//
// Data parallelism (torchrun, docs/SCALING.md): every rank builds the same task and order; the
// grad_accum micro-batches of an optimizer step are split among the ranks (dist::shard), their
// gradients summed over ranks in buckets, and every rank takes the same optimizer step, so the
// global batch, and the weights, are those of one process with the same config. Rank 0 alone
// writes checkpoints, metrics and the model, and evaluates.
//
// Determinism: the data order is a function of (seed, epoch) only and the position (epoch, index)
// is stored in every checkpoint, as are the optimizer state and torch's RNG states, so a run killed
// at any moment and started again with the same command ends with the same weights (bitwise on the
// CPU with train.deterministic=true and a fixed train.threads).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "core/dist/options.h"
#include "core/jsonl.h"
#include "core/options.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/runtime.h"
#include "train/schedule.h"

namespace rleif::train {

struct TrainerOptions {
  std::string output_dir;          // run directory: checkpoints/, metrics.jsonl, model/ (final)
  int64_t epochs = 3;              // passes over the data (WizardMath SFT: 3); ignored when max_steps > 0
  int64_t max_steps = 0;           // optimizer steps; 0 = epochs x steps per epoch
  int64_t batch_size = 8;          // examples (or packed rows) per micro-batch
  int64_t grad_accum = 1;          // micro-batches per optimizer step
  double max_grad_norm = 1.0;      // global L2 clip; 0 = no clipping
  int64_t seed = 42;               // model init, data order
  bool deterministic = false;      // deterministic kernels (bitwise-repeatable CPU runs with fixed threads)
  int64_t threads = 0;             // intra-op CPU threads; 0 = torch's default
  std::string device = "auto";     // auto | cpu | cuda | cuda:N
  Precision precision = Precision::auto_;  // auto = bf16 autocast on CUDA, fp32 on the CPU
  bool gradient_checkpointing = false;     // recompute layer activations in backward (less memory)
  int64_t save_every = 0;          // checkpoint every N steps (0 = only at the end and on a signal)
  int64_t keep_last = 2;           // checkpoints kept
  int64_t eval_every = 0;          // evaluate every N steps (0 = only at the end)
  bool resume = true;              // continue from the newest checkpoint in output_dir
  double log_every_s = 10.0;       // seconds between plain progress lines when stdout is not a terminal
  dist::DistOptions dist;          // multi-process runs (torchrun): timeout, gradient buckets

  template <class V>
  void visit(V& v) {
    v.field("output_dir", output_dir, "run directory: checkpoints/, metrics.jsonl and the final model/");
    v.field("epochs", epochs, "passes over the training data (ignored when max_steps > 0)");
    v.field("max_steps", max_steps, "optimizer steps to run; 0 = epochs x steps per epoch");
    v.field("batch_size", batch_size, "examples (or packed rows) per micro-batch");
    v.field("grad_accum", grad_accum, "micro-batches accumulated per optimizer step");
    v.field("max_grad_norm", max_grad_norm, "clip the global gradient L2 norm to this; 0 = no clipping");
    v.field("seed", seed, "seed of model initialisation and data order");
    v.field("deterministic", deterministic, "deterministic kernels: same config + seed = same loss curve");
    v.field("threads", threads, "intra-op CPU threads; 0 = torch's default (fix it for bitwise resume)");
    v.field("device", device, "auto | cpu | cuda | cuda:N");
    v.field("precision", precision, "auto = bf16 autocast on CUDA and fp32 on the CPU");
    v.field("gradient_checkpointing", gradient_checkpointing, "recompute activations in backward to save memory");
    v.field("save_every", save_every, "checkpoint every N optimizer steps; 0 = at the end and on SIGINT/SIGTERM");
    v.field("keep_last", keep_last, "how many checkpoints to keep");
    v.field("eval_every", eval_every, "evaluate every N optimizer steps; 0 = at the end only");
    v.field("resume", resume, "continue from the newest checkpoint in output_dir when there is one");
    v.field("log_every_s", log_every_s, "seconds between progress lines when stdout is not a terminal");
    v.section("dist", dist, "data parallelism across processes launched by torchrun (docs/SCALING.md)");
  }
  void validate() const;
};

// One micro-batch as the loop sees it before running it.
struct MicroBatchInfo {
  double weight = 0;    // loss units (target tokens, pairs): the step's loss is a mean over all units
  int64_t tokens = 0;   // tokens processed (for tokens/s)
};

// What a trainer trains. The loop owns order, accumulation and state; the task owns model and data.
class TrainTask {
 public:
  virtual ~TrainTask() = default;
  // Builds the model on `device`: loaded from `checkpoint_dir` when resuming, else fresh
  // (initialised under torch's seeded generator).
  virtual void init_model(const std::string& checkpoint_dir, const torch::Device& device) = 0;
  virtual torch::nn::Module& module() = 0;
  // Writes the model (Hugging Face layout) as directory `dir`, replacing it atomically.
  virtual void save_model(const std::string& dir) = 0;
  // Writes the final model of a completed run (a LoRA run may write it merged); default: save_model.
  virtual void save_final_model(const std::string& dir) { save_model(dir); }
  virtual void set_gradient_checkpointing(bool on) {}
  // Micro-batches per epoch (a fixed number for the run).
  virtual int64_t epoch_size() const = 0;
  // Fixes the order of epoch `epoch`'s micro-batches; must depend on (seed, epoch) only.
  virtual void start_epoch(int64_t epoch, uint64_t seed) = 0;
  virtual MicroBatchInfo info(int64_t index) const = 0;
  // Forward pass of micro-batch `index` of the current epoch: the SUM of its unit losses (scalar).
  // `metrics` may receive extra per-step sums (averaged by weight in the log).
  virtual torch::Tensor loss(int64_t index, json& metrics) = 0;
  // Periodic evaluation; returns metrics to log (empty = none). Runs under NoGradGuard.
  virtual json evaluate() { return json::object(); }
};

enum class TrainStatus { completed, interrupted };

struct TrainResult {
  TrainStatus status = TrainStatus::completed;
  int64_t step = 0;
  std::string model_dir;   // the final model (completed runs)
  json last_eval;          // the last evaluate() result
  int signal = 0;          // the signal that interrupted the run
};

// A permutation of 0..n-1 that depends on (seed, epoch) only (splitmix64-driven Fisher-Yates), so
// data order is the same on every platform and standard library.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

class Trainer {
 public:
  // `config_yaml`: the resolved config of the whole command, stored with every checkpoint.
  Trainer(TrainerOptions opts, AdamWOptions optim, ScheduleOptions schedule, TrainTask& task, std::string config_yaml);
  // Runs to the end (or until SIGINT/SIGTERM), resuming from the newest checkpoint when allowed.
  TrainResult run();

  std::string model_dir() const;     // <output_dir>/model
  std::string metrics_path() const;   // <output_dir>/metrics.jsonl
  int64_t total_steps() const;

 private:
  void resume_from(const std::string& ckpt, TrainState& st);
  void save_checkpoint(const TrainState& st);
  void trim_metrics(int64_t step) const;

  TrainerOptions opts_;
  AdamWOptions optim_opts_;
  ScheduleOptions sched_;
  TrainTask& task_;
  std::string config_yaml_;
  Checkpointer ckpt_;
  std::unique_ptr<AdamW> optim_;
  torch::Device device_{torch::kCPU};
};

}  // namespace rleif::train
