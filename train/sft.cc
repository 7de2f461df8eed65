#include "train/sft.h"

#include <algorithm>
#include <filesystem>

#include "core/fs.h"
#include "core/log.h"
#include "model/hf_io.h"
#include "model/lora_io.h"
#include "train/model_inputs.h"

namespace rleif::train {
namespace fsys = std::filesystem;

void SftModelOptions::validate() const {
  RLEIF_CHECK(path.empty() != config.empty(), "give exactly one of model.path (a model directory to fine-tune) and ",
              "model.config (a config.json to train from scratch)");
  if (!path.empty())
    RLEIF_CHECK(is_directory(path), "model.path = '", path, "': no such model directory");
  if (!config.empty()) {
    RLEIF_CHECK(path_exists(config), "model.config = '", config, "': no such file");
    RLEIF_CHECK(!tokenizer.empty(), "model.config is set but model.tokenizer is empty; a model trained from scratch ",
                "needs a tokenizer.json (rleif data synth writes one)");
  }
  if (!tokenizer.empty()) RLEIF_CHECK(path_exists(tokenizer), "model.tokenizer = '", tokenizer, "': no such file or directory");
}

void SftEvalOptions::validate() const {
  RLEIF_CHECK(samples >= 0, "eval.samples = ", samples, ": must be >= 0");
  RLEIF_CHECK(max_new_tokens >= 1, "eval.max_new_tokens = ", max_new_tokens, ": must be >= 1");
  RLEIF_CHECK(batch_size >= 1, "eval.batch_size = ", batch_size, ": must be >= 1");
}

void check_lora(const model::LoraOptions& lora, const SftModelOptions& model, const TrainerOptions& train) {
  lora.validate();
  if (!lora.enabled()) return;
  RLEIF_CHECK(!model.path.empty(), "lora.r = ", lora.r, ": LoRA adapts an existing model; set model.path ",
              "(model.config trains from scratch, where every parameter must train)");
  RLEIF_CHECK(lora.dropout == 0 || !train.gradient_checkpointing, "lora.dropout = ", lora.dropout,
              " with train.gradient_checkpointing = true: the recomputed forward would draw other dropout masks; ",
              "set lora.dropout=0 or train.gradient_checkpointing=false");
}

SftTask::SftTask(const SftConfig& cfg) : cfg_(cfg) {
  check_lora(cfg_.lora, cfg_.model, cfg_.train);
  RLEIF_CHECK(!cfg_.data.train.empty(), "data.train is empty; give the training JSONL, e.g. data.train=data/math/train.jsonl");
  ModelInputs in = resolve_model_inputs(cfg_.model.path, cfg_.model.config, cfg_.model.tokenizer);
  tokenizer_dir_ = in.tokenizer_dir;
  tok_ = std::move(in.tok);
  eos_id_ = in.eos_id;
  if (auto p = tok_->token_to_id("<pad>")) pad_id_ = *p;
  else pad_id_ = in.config.pad_token_id >= 0 ? static_cast<int32_t>(in.config.pad_token_id) : eos_id_;

  train_ = load_sft_data(cfg_.data.train, *tok_, eos_id_, cfg_.data, cfg_.data.limit);
  log_info("train data ", cfg_.data.train, ": ", train_.stats.summary());
  RLEIF_CHECK(!train_.examples.empty(), cfg_.data.train, ": no usable training examples (", train_.stats.summary(), ")");
  batcher_ = std::make_unique<SftBatcher>(train_, cfg_.train.batch_size, cfg_.data.batching, cfg_.data.max_length,
                                          cfg_.data.bucket_window, pad_id_, static_cast<uint64_t>(cfg_.train.seed));
  if (!cfg_.data.eval.empty()) {
    if (cfg_.eval.loss) {
      SftDataOptions eo = cfg_.data;
      eo.overlong = Overlong::truncate;
      eval_ = load_sft_data(cfg_.data.eval, *tok_, eos_id_, eo, 0);
      log_info("held-out data ", cfg_.data.eval, ": ", eval_.stats.summary());
      eval_batcher_ = std::make_unique<SftBatcher>(eval_, cfg_.train.batch_size, Batching::bucket, cfg_.data.max_length,
                                                   cfg_.data.bucket_window, pad_id_, 0);
    }
    if (cfg_.eval.samples > 0) eval_problems_ = load_eval_problems(cfg_.data.eval, cfg_.eval.samples);
  }
}

SftTask::~SftTask() = default;

void init_fresh_weights(model::CausalLM& m, double std) { init_fresh_weights(*m, std); }

void init_fresh_weights(torch::nn::Module& m, double std) {
  torch::NoGradGuard ng;
  for (auto& item : m.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    if (p.dim() >= 2) p.normal_(0.0, std);
    else if (name.find("norm") != std::string::npos) p.fill_(1.0);
    else p.zero_();
  }
}

void SftTask::init_model(const std::string& checkpoint_dir, const torch::Device& device) {
  device_ = device;
  model::LoadOptions lo;
  lo.dtype = torch::kFloat32;  // fp32 master weights; autocast lowers the compute dtype
  lo.device = device;
  if (cfg_.lora.enabled()) {
    // The frozen base is always model.path; a checkpoint holds the adapter only.
    model_ = model::load_causal_lm(cfg_.model.path, lo);
    model::add_lora(*model_, cfg_.lora);
    if (!checkpoint_dir.empty()) model::load_lora_adapter(*model_, checkpoint_dir);
  } else if (!checkpoint_dir.empty()) {
    model_ = model::load_causal_lm(checkpoint_dir, lo);
  } else if (!cfg_.model.path.empty()) {
    model_ = model::load_causal_lm(cfg_.model.path, lo);
  } else {
    json raw = json::parse(read_file(cfg_.model.config), nullptr, false);
    model_ = model::CausalLM(scratch_config(model::ModelConfig::from_json(raw, cfg_.model.config), *tok_, eos_id_, pad_id_));
    init_fresh_weights(model_, raw.value("initializer_range", 0.02));
    model_->to(device);
  }
}

torch::nn::Module& SftTask::module() { return *model_; }

void SftTask::save_model(const std::string& dir) {
  if (cfg_.lora.enabled())
    model::save_lora_adapter(*model_, {cfg_.model.path, "CAUSAL_LM", cfg_.lora, {}}, dir, tokenizer_dir_);
  else
    model::save_causal_lm(model_, dir, tokenizer_dir_);
  write_model_template(dir, cfg_.data.prompt_template);
}

void SftTask::save_final_model(const std::string& dir) {
  if (!cfg_.lora.merge_on_save) return save_model(dir);
  model::save_causal_lm(model_, dir, tokenizer_dir_);  // the adapters merged into their weights
  write_model_template(dir, cfg_.data.prompt_template);
}

void SftTask::set_gradient_checkpointing(bool on) { model_->model->set_gradient_checkpointing(on); }

int64_t SftTask::epoch_size() const { return batcher_->size(); }

void SftTask::start_epoch(int64_t epoch, uint64_t) { batcher_->start_epoch(epoch); }

MicroBatchInfo SftTask::info(int64_t index) const {
  return MicroBatchInfo{static_cast<double>(batcher_->n_targets(index)), batcher_->n_tokens(index)};
}

torch::Tensor SftTask::masked_lm_loss(model::CausalLM& m, const torch::Tensor& hidden, const torch::Tensor& targets) {
  torch::Tensor flat = targets.reshape({-1});                                         // [B*T]
  torch::Tensor sel = (flat != -100).nonzero().squeeze(1);                            // [N]
  torch::Tensor h = hidden.reshape({-1, hidden.size(-1)}).index_select(0, sel);       // [N,H]
  torch::Tensor logits = m->logits(h);                                                // [N,V]
  return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), flat.index_select(0, sel),
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

torch::Tensor SftTask::batch_loss(model::CausalLM& m, const SftBatch& b, const torch::Device& device) {
  const int64_t B = b.ids.size(0), T = b.ids.size(1);
  if (B > 1 && static_cast<int64_t>(b.lengths.size()) == B && device.is_cpu() &&
      *std::min_element(b.lengths.begin(), b.lengths.end()) < T &&
      m->model->packed_is_fast(*std::max_element(b.lengths.begin(), b.lengths.end()))) {
    // Right padding removed: rows back to back in one row of b.n_tokens.
    auto valid = torch::arange(T).unsqueeze(0) < torch::tensor(b.lengths).unsqueeze(1);  // [B,T]
    auto ids = b.ids.masked_select(valid).unsqueeze(0);                                 // [1,N]
    auto targets = b.targets.masked_select(valid).unsqueeze(0);                         // [1,N]
    return masked_lm_loss(m, m->model->forward_packed(ids, b.lengths), targets);
  }
  torch::Tensor hidden = m->model->forward(b.ids.to(device));  // [B,T,H]
  return masked_lm_loss(m, hidden, b.targets.to(device));
}

torch::Tensor SftTask::loss(int64_t index, json&) { return batch_loss(model_, batcher_->batch(index), device_); }

json SftTask::evaluate() {
  json out = json::object();
  if (eval_batcher_ && eval_batcher_->size() > 0) {
    double sum = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < eval_batcher_->size(); ++i) {
      SftBatch b = eval_batcher_->batch(i);
      sum += batch_loss(model_, b, device_).item<double>();
      n += b.n_targets;
    }
    out["loss"] = sum / static_cast<double>(std::max<int64_t>(n, 1));
  }
  if (!eval_problems_.empty()) {
    GreedyEvalOptions go;
    go.prompt_template = cfg_.data.prompt_template;
    go.max_new_tokens = cfg_.eval.max_new_tokens;
    go.batch_size = cfg_.eval.batch_size;
    EvalSummary s = evaluate_greedy(model_, *tok_, eval_problems_, go, stop_token_ids(*tok_, model_->cfg));
    out["accuracy"] = s.accuracy();
    out["correct"] = s.correct;
    out["n"] = s.n;
  }
  return out;
}

TrainResult run_sft(const SftConfig& cfg, const std::string& config_yaml) {
  SftTask task(cfg);
  Trainer trainer(cfg.train, cfg.optim, cfg.schedule, task, config_yaml);
  return trainer.run();
}

}  // namespace rleif::train
