#include "rm/task.h"

#include <filesystem>

#include "core/fs.h"
#include "core/log.h"
#include "model/hf_io.h"
#include "model/lora_io.h"
#include "train/sft.h"

namespace rleif::rm {
namespace fsys = std::filesystem;

namespace {
constexpr const char* kInfoFile = "rleif_rm.json";

int64_t head_width(RmKind k) { return k == RmKind::prm ? 2 : 1; }
}  // namespace

json RmInfo::to_json() const {
  return json{{"kind", enum_name(kind)},
              {"template", enum_name(encode.prompt_template)},
              {"max_length", encode.max_length},
              {"step_separator", encode.step_separator},
              {"score", kind == RmKind::prm ? "softmax(logits)[1] at each step's last token"
                                            : "logits at the last real token (EOS)"}};
}

RmInfo RmInfo::load(const std::string& dir) {
  const std::string path = (fsys::path(dir) / kInfoFile).string();
  RLEIF_CHECK(path_exists(path), dir, " has no ", kInfoFile, "; it is not a reward model written by `rleif rm train` ",
              "(train one, or give the kind and encoding of this model)");
  json j = json::parse(read_file(path), nullptr, false);
  RLEIF_CHECK(j.is_object(), path, ": not a JSON object");
  SourceLoc loc{path, 1};
  RmInfo info;
  info.kind = parse_enum<RmKind>(get_field<std::string>(j, "kind", loc, "a string (irm | prm | orm | pairwise)"), path + ": kind");
  info.encode.prompt_template =
      parse_enum<train::PromptTemplate>(get_field<std::string>(j, "template", loc, "a template name"), path + ": template");
  info.encode.max_length = get_field<int64_t>(j, "max_length", loc, "an integer");
  info.encode.step_separator = get_field<std::string>(j, "step_separator", loc, "a string");
  info.encode.validate();
  return info;
}

RmTask::RmTask(const RmConfig& cfg) : cfg_(cfg) {
  cfg_.model.validate();
  cfg_.data.validate();
  cfg_.encode.validate();
  cfg_.loss.validate();
  cfg_.eval.validate();
  train::check_lora(cfg_.lora, cfg_.model, cfg_.train);
  std::string tok_path = cfg_.model.tokenizer.empty() ? cfg_.model.path : cfg_.model.tokenizer;
  if (is_directory(tok_path)) tok_path = (fsys::path(tok_path) / "tokenizer.json").string();
  RLEIF_CHECK(path_exists(tok_path), tok_path, ": no tokenizer.json; set model.tokenizer");
  tokenizer_dir_ = fsys::path(tok_path).parent_path().string();
  if (tokenizer_dir_.empty()) tokenizer_dir_ = ".";
  tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(tok_path));
  model::ModelConfig mc =
      cfg_.model.path.empty()
          ? model::ModelConfig::from_json(json::parse(read_file(cfg_.model.config), nullptr, false), cfg_.model.config)
          : model::ModelConfig::load(cfg_.model.path);
  if (auto e = tok_->eos_id()) eos_id_ = *e;
  else if (!mc.eos_token_ids.empty()) eos_id_ = static_cast<int32_t>(mc.eos_token_ids[0]);
  RLEIF_CHECK(eos_id_ >= 0, tok_path, ": the tokenizer has no EOS token and the model config names none; set eos_token_id in config.json");
  RLEIF_CHECK(tok_->vocab_size() <= mc.vocab_size, tok_path, ": the tokenizer has ", tok_->vocab_size(),
              " tokens but the model's vocab_size is ", mc.vocab_size, "; use the model's own tokenizer");

  Encoder enc(*tok_, eos_id_, cfg_.encode);
  train_ = load_rm_dataset(cfg_.data.train, cfg_.data, enc, cfg_.data.limit);
  if (!cfg_.data.eval.empty()) {
    Encoder eval_enc(*tok_, eos_id_, cfg_.encode);
    eval_ = load_rm_dataset(cfg_.data.eval, cfg_.data, eval_enc, 0);
  } else if (cfg_.data.eval_split > 0) {
    eval_ = split_off(train_, cfg_.data.eval_split, static_cast<uint64_t>(cfg_.train.seed));
  }
  log_info("train data ", cfg_.data.train, ": ", train_.summary());
  if (!eval_.units.empty()) log_info("held-out data: ", eval_.units.size(), " units");
  RLEIF_CHECK(!train_.units.empty(), cfg_.data.train, ": no usable training units (", train_.summary(), ")");
  order_.resize(train_.units.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
}

RmTask::~RmTask() = default;

void RmTask::init_model(const std::string& checkpoint_dir, const torch::Device& device) {
  device_ = device;
  model::LoadOptions lo;
  lo.dtype = torch::kFloat32;  // fp32 master weights
  lo.device = device;
  const int64_t width = head_width(cfg_.data.kind);
  if (cfg_.lora.enabled()) {
    // The frozen base is always model.path; a checkpoint holds the adapter and the score head.
    model_ = model::load_score_model(cfg_.model.path, lo, /*allow_new_head=*/true, width);
    model::add_lora(*model_, cfg_.lora, {"score"});
    if (!checkpoint_dir.empty()) model::load_lora_adapter(*model_, checkpoint_dir);
  } else if (!checkpoint_dir.empty()) {
    model_ = model::load_score_model(checkpoint_dir, lo, false, width);
  } else if (!cfg_.model.path.empty()) {
    model_ = model::load_score_model(cfg_.model.path, lo, /*allow_new_head=*/true, width);
  } else {
    json raw = json::parse(read_file(cfg_.model.config), nullptr, false);
    model::ModelConfig mc = model::ModelConfig::from_json(raw, cfg_.model.config);
    if (mc.bos_token_id < 0)
      if (auto b = tok_->bos_id()) mc.bos_token_id = *b;
    if (mc.eos_token_ids.empty()) mc.eos_token_ids = {eos_id_};
    if (mc.pad_token_id < 0) {
      if (auto p = tok_->token_to_id("<pad>")) mc.pad_token_id = *p;
    }
    mc.num_labels = width;
    model_ = model::ScoreModel(mc);
    train::init_fresh_weights(*model_, raw.value("initializer_range", 0.02));
    model_->to(device);
  }
}

torch::nn::Module& RmTask::module() { return *model_; }

void RmTask::save_model(const std::string& dir) {
  const bool prm = cfg_.data.kind == RmKind::prm;
  if (cfg_.lora.enabled())
    model::save_lora_adapter(*model_, {cfg_.model.path, prm ? "TOKEN_CLS" : "SEQ_CLS", cfg_.lora, {"score"}}, dir,
                             tokenizer_dir_);
  else
    model::save_score_model(model_, dir, tokenizer_dir_, torch::kFloat32, prm);
  write_info(dir);
}

void RmTask::save_final_model(const std::string& dir) {
  if (!cfg_.lora.merge_on_save) return save_model(dir);
  // The adapters merged into their weights: a plain Hugging Face reward model.
  model::save_score_model(model_, dir, tokenizer_dir_, torch::kFloat32, cfg_.data.kind == RmKind::prm);
  write_info(dir);
}

void RmTask::write_info(const std::string& dir) const {
  RmInfo info;
  info.kind = cfg_.data.kind;
  info.encode = cfg_.encode;
  write_file_atomic((fsys::path(dir) / kInfoFile).string(), info.to_json().dump(2) + "\n");
}

void RmTask::set_gradient_checkpointing(bool on) { model_->model->set_gradient_checkpointing(on); }

int64_t RmTask::epoch_size() const {
  const auto n = static_cast<int64_t>(train_.units.size());
  return (n + cfg_.train.batch_size - 1) / cfg_.train.batch_size;
}

void RmTask::start_epoch(int64_t epoch, uint64_t seed) {
  order_ = train::epoch_permutation(static_cast<int64_t>(train_.units.size()), seed, epoch);
}

std::vector<size_t> RmTask::batch_units(int64_t index) const {
  std::vector<size_t> out;
  const int64_t b = index * cfg_.train.batch_size;
  const int64_t e = std::min<int64_t>(b + cfg_.train.batch_size, static_cast<int64_t>(order_.size()));
  for (int64_t i = b; i < e; ++i) out.push_back(static_cast<size_t>(order_[static_cast<size_t>(i)]));
  return out;
}

train::MicroBatchInfo RmTask::info(int64_t index) const {
  train::MicroBatchInfo mi;
  for (size_t u : batch_units(index)) {
    mi.weight += train_.weight(u);
    mi.tokens += train_.units[u].tokens;
  }
  return mi;
}

torch::Tensor RmTask::loss(int64_t index, json& metrics) {
  const auto units = batch_units(index);
  std::vector<const Encoded*> seqs;
  for (size_t u : units)
    for (auto& s : train_.units[u].seqs) seqs.push_back(&s);
  torch::Tensor logits = end_logits(model_, seqs, device_);  // [E,C]
  torch::Tensor total = torch::zeros({}, logits.options());
  int64_t off = 0;
  for (size_t u : units) {
    const Unit& unit = train_.units[u];
    int64_t c = 0;
    for (auto& s : unit.seqs) c += static_cast<int64_t>(s.ends.size());
    total = total + unit_loss(unit, cfg_.data.kind, logits.slice(0, off, off + c), cfg_.loss);
    off += c;
  }
  (void)metrics;
  return total;
}

json RmTask::evaluate() {
  if (eval_.units.empty()) return json::object();
  return evaluate_rm(model_, eval_, device_, cfg_.eval, cfg_.loss);
}

train::TrainResult run_rm_train(const RmConfig& cfg, const std::string& config_yaml) {
  RmTask task(cfg);
  make_dirs(cfg.train.output_dir);
  json stats{{"train", task.train_data().summary()},
             {"train_units", task.train_data().units.size()},
             {"eval_units", task.eval_data().units.size()},
             {"records", task.train_data().read.records},
             {"malformed_skipped", task.train_data().read.bad},
             {"truncated", task.train_data().encode.truncated},
             {"skipped_for_length", task.train_data().encode.skipped},
             {"steps_cut_by_truncation", task.train_data().encode.dropped_steps},
             {"units_dropped", task.train_data().dropped}};
  write_file_atomic((fsys::path(cfg.train.output_dir) / "data_stats.json").string(), stats.dump(2) + "\n");
  train::Trainer trainer(cfg.train, cfg.optim, cfg.schedule, task, config_yaml);
  return trainer.run();
}

}  // namespace rleif::rm
