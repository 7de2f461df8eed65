// Supervised fine-tuning (`rleif sft`): a causal LM trained on prompt/response pairs with the loss
// on response tokens only, on the shared Trainer, with periodic held-out evaluation (token loss and
// greedy answer accuracy).
#pragma once
#include <memory>
#include <string>

#include "model/causal_lm.h"
#include "model/lora.h"
#include "model/tokenizer.h"
#include "train/evaluate.h"
#include "train/sft_data.h"
#include "train/trainer.h"

namespace rleif::train {

struct SftModelOptions {
  std::string path;       // Hugging Face model directory to fine-tune
  std::string config;     // config.json of a model trained from scratch (instead of path)
  std::string tokenizer;  // tokenizer.json (or its directory); default: the one in `path`

  template <class V>
  void visit(V& v) {
    v.field("path", path, "Hugging Face model directory to fine-tune (or use model.config)");
    v.field("config", config, "config.json of a fresh model trained from scratch (instead of model.path)");
    v.field("tokenizer", tokenizer, "tokenizer.json or its directory; default: the one in model.path");
  }
  void validate() const;
};

struct SftEvalOptions {
  int64_t samples = 200;          // held-out problems decoded greedily (0 = held-out loss only)
  int64_t max_new_tokens = 256;   // per problem
  int64_t batch_size = 64;        // prompts decoded together
  bool loss = true;               // also report the held-out token loss

  template <class V>
  void visit(V& v) {
    v.field("samples", samples, "held-out problems decoded greedily for answer accuracy (0 = none)");
    v.field("max_new_tokens", max_new_tokens, "generated tokens per problem at most");
    v.field("batch_size", batch_size, "prompts decoded together");
    v.field("loss", loss, "also compute the held-out token loss");
  }
  void validate() const;
};

struct SftConfig {
  SftModelOptions model;
  SftDataOptions data;
  AdamWOptions optim;
  ScheduleOptions schedule;
  TrainerOptions train;
  SftEvalOptions eval;
  model::LoraOptions lora;

  template <class V>
  void visit(V& v) {
    v.section("model", model, "the model to train and its tokenizer");
    v.section("data", data, "training and held-out data");
    v.section("optim", optim, "AdamW");
    v.section("schedule", schedule, "learning-rate schedule");
    v.section("train", train, "the training loop");
    v.section("eval", eval, "periodic held-out evaluation");
    v.section("lora", lora, "LoRA adapters on a frozen model.path (r = 0: every parameter trains)");
  }
};

// The SFT task on the shared Trainer.
class SftTask : public TrainTask {
 public:
  explicit SftTask(const SftConfig& cfg);
  ~SftTask() override;

  void init_model(const std::string& checkpoint_dir, const torch::Device& device) override;
  torch::nn::Module& module() override;
  void save_model(const std::string& dir) override;
  void save_final_model(const std::string& dir) override;
  void set_gradient_checkpointing(bool on) override;
  int64_t epoch_size() const override;
  void start_epoch(int64_t epoch, uint64_t seed) override;
  MicroBatchInfo info(int64_t index) const override;
  torch::Tensor loss(int64_t index, json& metrics) override;
  json evaluate() override;

  // Sum of response-token NLL of a batch (the SFT loss before normalisation). Where the model runs
  // padding-free sequences without a mask (model::TransformerImpl::packed_is_fast: CPU fp32), the
  // rows go through as one packed row with their padding removed; the result is the padded batch's.
  static torch::Tensor batch_loss(model::CausalLM& m, const SftBatch& b, const torch::Device& device);
  // The loss head alone: hidden [B,T,H], targets [B,T] (-100 = no loss) -> sum of NLL (fp32 []).
  // Only positions with a target go through lm_head; the prompt's logits are never computed.
  static torch::Tensor masked_lm_loss(model::CausalLM& m, const torch::Tensor& hidden, const torch::Tensor& targets);

  const SftStats& train_stats() const { return train_.stats; }
  model::CausalLM& model() { return model_; }

 private:
  SftConfig cfg_;
  std::unique_ptr<Tokenizer> tok_;
  std::string tokenizer_dir_;
  int32_t eos_id_ = -1, pad_id_ = 0;
  SftDataset train_, eval_;
  std::vector<EvalProblem> eval_problems_;
  std::unique_ptr<SftBatcher> batcher_, eval_batcher_;
  model::CausalLM model_{nullptr};
  torch::Device device_{torch::kCPU};
};

// Hugging Face Llama's _init_weights for a model trained from scratch: N(0, std) for linear and
// embedding weights, zero biases, unit norm weights (uses torch's seeded generator).
void init_fresh_weights(model::CausalLM& m, double std = 0.02);
// The same rule for any module (a ScoreModel trained from scratch).
void init_fresh_weights(torch::nn::Module& m, double std = 0.02);

// Checks a task's lora options against its model and trainer options (LoRA needs model.path; dropout
// cannot be recomputed under gradient checkpointing). Errors name the keys.
void check_lora(const model::LoraOptions& lora, const SftModelOptions& model, const TrainerOptions& train);

// Runs `rleif sft`: returns the trainer's result (interrupted runs resume with the same command).
TrainResult run_sft(const SftConfig& cfg, const std::string& config_yaml);

}  // namespace rleif::train
