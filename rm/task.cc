#include "rm/task.h"

#include <filesystem>
#include <optional>

#include "core/fs.h"
#include "core/log.h"
#include "model/hf_io.h"
#include "model/lora_io.h"
#include "train/model_inputs.h"
#include "train/sft.h"

namespace rleif::rm {
namespace fsys = std::filesystem;

namespace {
constexpr const char* kInfoFile = "rleif_rm.json";

int64_t head_width(RmKind k) { return k == RmKind::prm ? 2 : 1; }

// model.config for a model trained from scratch, with the special tokens the tokenizer names filled in
// (a pad id only when the tokenizer has <pad>).
model::ModelConfig scratch_config(const json& raw, const std::string& path, const Tokenizer& tok, int32_t eos_id) {
  return train::scratch_config(model::ModelConfig::from_json(raw, path), tok, eos_id, tok.token_to_id("<pad>"));
}
}  // namespace

json RmInfo::to_json() const {
  json j{{"kind", enum_name(kind)},
         {"template", enum_name(encode.prompt_template)},
         {"max_length", encode.max_length},
         {"step_separator", encode.step_separator},
         {"score", kind == RmKind::prm ? "softmax(logits)[1] at each step's last token"
                                       : "logits at the last real token (EOS)"}};
  if (head == HeadKind::likelihood) {
    j["head"] = json{{"kind", enum_name(head)}, {"tokens", enum_name(tokens)}, {"scale", scale}, {"bias", bias}};
    if (!probe.empty()) j["head"]["probe"] = probe;
    const char* z = probe.empty() ? "scale * m + bias" : "scale * m + bias + probe . h";
    j["score"] = str(kind == RmKind::prm ? str("sigmoid(", z, ") at each step's last token") : str(z, " at the last real token (EOS)"),
                     ", m = the least log p(token | prefix) over the response's scored tokens (head.tokens) up to ",
                     "that token, 0 when there is none (LlamaForCausalLM)",
                     probe.empty() ? "" : ", h = the last hidden state (after the final norm) at that token");
  }
  return j;
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
  if (j.contains("head")) {  // absent: the classifier head (every model before the likelihood head)
    const json& h = j["head"];
    RLEIF_CHECK(h.is_object(), path, ": head must be an object {kind, tokens, scale, bias}");
    info.head = parse_enum<HeadKind>(get_field<std::string>(h, "kind", loc, "classifier | likelihood"), path + ": head.kind");
    if (info.head == HeadKind::likelihood) {
      info.tokens = parse_enum<ScoredTokens>(get_field<std::string>(h, "tokens", loc, "digits | numbers | all"),
                                            path + ": head.tokens");
      info.scale = get_field<double>(h, "scale", loc, "a number");
      info.bias = get_field<double>(h, "bias", loc, "a number");
      if (h.contains("probe")) {
        RLEIF_CHECK(h["probe"].is_array() && !h["probe"].empty(), path, ": head.probe must be a list of numbers (w)");
        for (const json& w : h["probe"]) {
          RLEIF_CHECK(w.is_number(), path, ": head.probe must be a list of numbers, found ", w.dump());
          info.probe.push_back(w.get<float>());
        }
      }
      RLEIF_CHECK(info.kind == RmKind::prm || info.kind == RmKind::orm, path, ": a likelihood head is a PRM's or an ORM's, but kind is ",
                  enum_name(info.kind));
    }
  }
  return info;
}

RmTask::RmTask(const RmConfig& cfg) : cfg_(cfg) {
  cfg_.model.validate();
  cfg_.data.validate();
  cfg_.encode.validate();
  cfg_.loss.validate();
  cfg_.head.validate();
  cfg_.eval.validate();
  train::check_lora(cfg_.lora, cfg_.model, cfg_.train);
  if (cfg_.head.kind == HeadKind::likelihood) {
    RLEIF_CHECK(cfg_.data.kind == RmKind::prm || cfg_.data.kind == RmKind::orm,
                "head.kind=likelihood scores solutions from the model's own token log-probs; it is for data.kind=prm or orm, not ",
                enum_name(cfg_.data.kind), " (use head.kind=classifier)");
  }
  train::ModelInputs in = train::resolve_model_inputs(cfg_.model.path, cfg_.model.config, cfg_.model.tokenizer);
  tokenizer_dir_ = in.tokenizer_dir;
  tok_ = std::move(in.tok);
  eos_id_ = in.eos_id;

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
  if (cfg_.head.kind == HeadKind::likelihood) return init_likelihood(checkpoint_dir, lo);
  auto& clf = net_.classifier;
  if (cfg_.lora.enabled()) {
    // The frozen base is always model.path; a checkpoint holds the adapter and the score head.
    clf = model::load_score_model(cfg_.model.path, lo, /*allow_new_head=*/true, width);
    model::add_lora(*clf, cfg_.lora, {"score"});
    if (!checkpoint_dir.empty()) model::load_lora_adapter(*clf, checkpoint_dir);
  } else if (!checkpoint_dir.empty()) {
    clf = model::load_score_model(checkpoint_dir, lo, false, width);
  } else if (!cfg_.model.path.empty()) {
    clf = model::load_score_model(cfg_.model.path, lo, /*allow_new_head=*/true, width);
  } else {
    json raw = json::parse(read_file(cfg_.model.config), nullptr, false);
    model::ModelConfig mc = scratch_config(raw, cfg_.model.config, *tok_, eos_id_);
    mc.num_labels = width;
    clf = model::ScoreModel(mc);
    train::init_fresh_weights(*clf, raw.value("initializer_range", 0.02));
    clf->to(device);
  }
}

void RmTask::init_likelihood(const std::string& checkpoint_dir, const model::LoadOptions& lo) {
  // From a checkpoint, or from a likelihood PRM to continue: its (scale, bias). From a policy: calibrated.
  // With LoRA the model is always model.path with adapters; a checkpoint holds the adapters.
  const std::string from = !checkpoint_dir.empty() ? checkpoint_dir : cfg_.model.path;
  std::optional<RmInfo> prior;
  if (!from.empty() && path_exists((fsys::path(from) / kInfoFile).string())) {
    prior = RmInfo::load(from);
    RLEIF_CHECK(prior->head == HeadKind::likelihood && prior->kind == cfg_.data.kind, from, " is a reward model (",
                enum_name(prior->kind), ", ", enum_name(prior->head), " head); a likelihood ", enum_name(cfg_.data.kind),
                " starts from a policy (a causal LM) or a likelihood ", enum_name(cfg_.data.kind));
  }
  model::CausalLM lm{nullptr};
  if (cfg_.lora.enabled()) {
    lm = model::load_causal_lm(cfg_.model.path, lo);
    model::add_lora(*lm, cfg_.lora);  // scale and bias sit outside the model: they train too
    if (!checkpoint_dir.empty()) model::load_lora_adapter(*lm, checkpoint_dir);
  } else if (!from.empty()) {
    lm = model::load_causal_lm(from, lo);
  } else {
    json raw = json::parse(read_file(cfg_.model.config), nullptr, false);
    lm = model::CausalLM(scratch_config(raw, cfg_.model.config, *tok_, eos_id_));
    train::init_fresh_weights(*lm, raw.value("initializer_range", 0.02));
    lm->to(lo.device);
  }
  // The probe: a prior's own (or none), else head.probe's zeros, so training starts at the likelihood head.
  std::vector<float> probe = prior ? prior->probe : std::vector<float>();
  if (!prior && cfg_.head.probe) probe.assign(static_cast<size_t>(lm->cfg.hidden_size), 0.0f);
  net_.likelihood = LikelihoodVerifier(lm, *tok_, prior ? prior->tokens : cfg_.head.tokens,
                                       prior ? prior->scale : cfg_.head.init_scale, prior ? prior->bias : cfg_.head.init_bias,
                                       head_width(cfg_.data.kind), probe);
  if (prior || !cfg_.head.calibrate) return;
  // Logistic regression of the labels on the starting model's features, so training begins calibrated.
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> feats;
  std::vector<float> labels;
  std::vector<const Encoded*> seqs;
  std::vector<float> pending;
  auto flush = [&] {
    if (seqs.empty()) return;
    auto f = net_.likelihood->features(seqs, device_).cpu();  // [E]
    std::vector<int64_t> keep;
    for (size_t i = 0; i < pending.size(); ++i)
      if (pending[i] >= 0) keep.push_back(static_cast<int64_t>(i)), labels.push_back(pending[i]);
    feats.push_back(f.index_select(0, torch::tensor(keep, torch::kInt64)));
    seqs.clear();
    pending.clear();
  };
  for (const Unit& u : train_.units) {
    for (auto& s : u.seqs) seqs.push_back(&s);
    pending.insert(pending.end(), u.labels.begin(), u.labels.end());
    if (seqs.size() >= static_cast<size_t>(cfg_.eval.batch_size)) flush();
  }
  flush();
  net_.likelihood->calibrate(torch::cat(feats), torch::tensor(labels, torch::kFloat32));
  log_info("likelihood head calibrated on ", labels.size(), " labelled steps: scale ", net_.likelihood->scale.item<double>(),
           ", bias ", net_.likelihood->bias.item<double>());
}

model::ScoreModel& RmTask::model() {
  RLEIF_CHECK(!net_.classifier.is_empty(), "this reward model has a ", enum_name(net_.head()), " head, not a classifier");
  return net_.classifier;
}

torch::nn::Module& RmTask::module() { return net_.module(); }

void RmTask::save_model(const std::string& dir) {
  const bool prm = cfg_.data.kind == RmKind::prm;
  auto& clf = net_.classifier;
  if (net_.likelihood && cfg_.lora.enabled())
    model::save_lora_adapter(*net_.likelihood->lm, {cfg_.model.path, "CAUSAL_LM", cfg_.lora, {}}, dir, tokenizer_dir_);
  else if (net_.likelihood)
    model::save_causal_lm(net_.likelihood->lm, dir, tokenizer_dir_, torch::kFloat32);
  else if (cfg_.lora.enabled())
    model::save_lora_adapter(*clf, {cfg_.model.path, prm ? "TOKEN_CLS" : "SEQ_CLS", cfg_.lora, {"score"}}, dir,
                             tokenizer_dir_);
  else
    model::save_score_model(clf, dir, tokenizer_dir_, torch::kFloat32, prm);
  write_info(dir);
}

void RmTask::save_final_model(const std::string& dir) {
  if (!cfg_.lora.merge_on_save) return save_model(dir);
  // The adapters merged into their weights: a plain Hugging Face reward model.
  if (net_.likelihood)
    model::save_causal_lm(net_.likelihood->lm, dir, tokenizer_dir_, torch::kFloat32);
  else
    model::save_score_model(net_.classifier, dir, tokenizer_dir_, torch::kFloat32, cfg_.data.kind == RmKind::prm);
  write_info(dir);
}

void RmTask::write_info(const std::string& dir) const {
  RmInfo info;
  info.kind = cfg_.data.kind;
  info.encode = cfg_.encode;
  if (net_.likelihood) {
    info.head = HeadKind::likelihood;
    info.tokens = net_.likelihood->tokens;  // a continued likelihood model keeps its own
    info.scale = net_.likelihood->scale.item<double>();
    info.bias = net_.likelihood->bias.item<double>();
    if (net_.likelihood->probe.defined()) {
      auto w = net_.likelihood->probe.detach().to(torch::kCPU, torch::kFloat32).contiguous();
      info.probe.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    }
  }
  write_file_atomic((fsys::path(dir) / kInfoFile).string(), info.to_json().dump(2) + "\n");
}

void RmTask::set_gradient_checkpointing(bool on) { net_.backbone()->set_gradient_checkpointing(on); }

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
  torch::Tensor logits = net_.end_logits(seqs, device_);  // [E,C]
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
  return evaluate_rm(net_, eval_, device_, cfg_.eval, cfg_.loss);
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
