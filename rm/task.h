// `rleif rm train`: a reward model (IRM, PRM, ORM or pairwise) trained on the shared Trainer
// (checkpoints, exact resume, eval every N steps, metrics.jsonl), saved in the Hugging Face layout
// (LlamaForSequenceClassification for IRM/ORM/pairwise, LlamaForTokenClassification with two labels
// for a PRM) with rleif_rm.json recording the kind and the encoding, so scoring encodes as training did.
#pragma once
#include <memory>
#include <string>

#include "model/hf_io.h"
#include "model/score_model.h"
#include "model/tokenizer.h"
#include "rm/dataset.h"
#include "rm/evaluate.h"
#include "rm/losses.h"
#include "rm/net.h"
#include "train/sft.h"
#include "train/trainer.h"

namespace rleif::rm {

// Where the reward model starts: model.path (a policy: fresh score head, as InstructGPT initialises its
// RM from the SFT model; or a reward model to continue) or model.config + model.tokenizer (scratch).
using RmModelOptions = train::SftModelOptions;

struct RmConfig {
  RmModelOptions model;
  RmDataOptions data;
  EncodeOptions encode;
  RankLossOptions loss;
  HeadOptions head;
  train::AdamWOptions optim;
  train::ScheduleOptions schedule;
  train::TrainerOptions train;
  RmEvalOptions eval;
  model::LoraOptions lora;

  template <class V>
  void visit(V& v) {
    v.section("model", model, "the model to start from and its tokenizer");
    v.section("data", data, "training and held-out data");
    v.section("encode", encode, "how records become token ids (also used when scoring)");
    v.section("loss", loss, "IRM / pairwise ranking loss");
    v.section("head", head, "how scores are read: a linear score head, or (PRM) the model's own token log-probs");
    v.section("optim", optim, "AdamW");
    v.section("schedule", schedule, "learning-rate schedule");
    v.section("train", train, "the training loop");
    v.section("eval", eval, "held-out evaluation");
    v.section("lora", lora, "LoRA adapters on a frozen model.path; the score head trains whole (r = 0: all train)");
  }
};

// What rleif_rm.json holds: enough to encode inputs and read scores exactly as in training.
struct RmInfo {
  RmKind kind = RmKind::prm;
  EncodeOptions encode;
  HeadKind head = HeadKind::classifier;
  ScoredTokens tokens = ScoredTokens::digits;  // likelihood head
  double scale = 1.0, bias = 0.0;              // likelihood head: P(correct) = sigmoid(scale * m + bias [+ w . h])
  std::vector<float> probe;                     // likelihood head: w, empty = no probe
  json to_json() const;
  static RmInfo load(const std::string& model_dir);  // errors name the file and how to fix it
};

class RmTask : public train::TrainTask {
 public:
  explicit RmTask(const RmConfig& cfg);
  ~RmTask() override;

  void init_model(const std::string& checkpoint_dir, const torch::Device& device) override;
  torch::nn::Module& module() override;
  void save_model(const std::string& dir) override;
  void save_final_model(const std::string& dir) override;
  void set_gradient_checkpointing(bool on) override;
  int64_t epoch_size() const override;
  void start_epoch(int64_t epoch, uint64_t seed) override;
  train::MicroBatchInfo info(int64_t index) const override;
  torch::Tensor loss(int64_t index, json& metrics) override;
  json evaluate() override;

  const RmDataset& train_data() const { return train_; }
  const RmDataset& eval_data() const { return eval_; }
  RewardNet& net() { return net_; }
  model::ScoreModel& model();  // the classifier head's model (an error for a likelihood head)

 private:
  std::vector<size_t> batch_units(int64_t index) const;
  void write_info(const std::string& dir) const;  // rleif_rm.json
  void init_likelihood(const std::string& checkpoint_dir, const model::LoadOptions& lo);

  RmConfig cfg_;
  std::unique_ptr<Tokenizer> tok_;
  std::string tokenizer_dir_;
  int32_t eos_id_ = -1;
  RmDataset train_, eval_;
  std::vector<int64_t> order_;
  RewardNet net_;
  torch::Device device_{torch::kCPU};
};

// Writes the resolved config and data counts next to the run, then trains (resumes with the same command).
train::TrainResult run_rm_train(const RmConfig& cfg, const std::string& config_yaml);

}  // namespace rleif::rm
