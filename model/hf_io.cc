#include "model/hf_io.h"

#include <unistd.h>

#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "model/dtype.h"
#include "model/lora_io.h"

namespace rleif::model {

namespace {

DType from_torch(torch::ScalarType t) {
  RLEIF_CHECK(t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16 || t == torch::kFloat64,
              "cannot save model weights of dtype ", t, "; use float32, bfloat16 or float16");
  return to_safetensors_dtype(t, "model weights");
}

bool is_float(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64; }

std::string arch_prefix(const ModelConfig& cfg) {
  if (cfg.model_type == "mistral") return "Mistral";
  if (cfg.model_type == "qwen2") return "Qwen2";
  return "Llama";
}

// Tensors a checkpoint may carry that rleif does not use (older exports store RoPE buffers).
bool ignorable(const std::string& name) {
  return name.find("rotary_emb.inv_freq") != std::string::npos;
}

// Builds a model with its parameters created in `dtype`: LibTorch modules make their parameters in
// the process's default dtype, so it is switched for the construction. A bf16 load thus never holds
// an fp32 copy of the model. The default dtype is process-wide: build models from one thread at a time.
template <class M>
M build_in_dtype(const ModelConfig& cfg, torch::ScalarType dtype) {
  const caffe2::TypeMeta before = c10::get_default_dtype();
  c10::set_default_dtype(caffe2::TypeMeta::fromScalarType(dtype));
  try {
    M m(cfg);
    c10::set_default_dtype(before);
    return m;
  } catch (...) {
    c10::set_default_dtype(before);
    throw;
  }
}

// Copies every parameter of `module` from the directory's safetensors straight from the mapped file
// (converted to the parameter's dtype on the way, placed on `device`), checking names, dtypes and
// shapes against what config.json implies. `optional` names may be absent (left as initialised).
// Each tensor's file pages leave the resident set once copied, so the peak is the model plus one tensor.
void load_parameters(torch::nn::Module& module, const std::string& dir, const ModelConfig& cfg,
                     const std::set<std::string>& optional, const std::set<std::string>& ignored,
                     std::set<std::string>* missing_optional, const torch::Device& device) {
  SafetensorsDir st(dir);
  auto params = module.named_parameters(/*recurse=*/true);
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    const std::string& name = p.key();
    expected.insert(name);
    if (!st.contains(name)) {
      if (optional.count(name)) {
        if (missing_optional) missing_optional->insert(name);
        continue;
      }
      RLEIF_FAIL(dir, ": missing tensor '", name, "' required by config.json (model_type ", cfg.model_type, ", ",
                 cfg.num_hidden_layers, " layers, tie_word_embeddings=", cfg.tie_word_embeddings ? "true" : "false",
                 "); the weights do not match this config");
    }
    const TensorView& v = st.get(name);
    RLEIF_CHECK(is_float(v.dtype), dir, ": tensor '", name, "' has dtype ", dtype_name(v.dtype),
                "; model weights must be F32, BF16, F16 or F64");
    std::vector<int64_t> want(p.value().sizes().begin(), p.value().sizes().end());
    if (v.shape != want) {
      std::string got, exp;
      for (auto d : v.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : want) exp += (exp.empty() ? "" : ", ") + std::to_string(d);
      RLEIF_FAIL(dir, ": tensor '", name, "' has shape [", got, "] but config.json implies [", exp,
                 "] (hidden_size ", cfg.hidden_size, ", intermediate_size ", cfg.intermediate_size, ", vocab_size ",
                 cfg.vocab_size, ", heads ", cfg.num_attention_heads, "/", cfg.num_key_value_heads,
                 "); the config and weights disagree");
    }
    auto src = torch::from_blob(const_cast<uint8_t*>(v.data), v.shape, torch::TensorOptions().dtype(to_torch_dtype(v.dtype)));
    if (p.value().device() == device) {
      p.value().copy_(src);
    } else {
      // Parameters are built on the CPU; each one moves to the device as it loads (its CPU block is freed).
      auto dst = torch::empty(v.shape, p.value().options().device(device));
      dst.copy_(src);
      p.value().set_data(dst);
    }
    st.release(name);
  }
  for (const auto& name : st.names()) {
    if (expected.count(name) || ignored.count(name) || ignorable(name)) continue;
    RLEIF_FAIL(dir, ": unexpected tensor '", name, "' that a ", cfg.model_type, " model with this config.json (",
               cfg.num_hidden_layers, " layers) does not have; is config.json from another checkpoint?");
  }
}

}  // namespace

void copy_tokenizer_files(const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                        "chat_template.jinja"}) {
    std::string src = from + "/" + f;
    if (path_exists(src)) copy_file(src, to + "/" + f);
  }
}

namespace {

void save_module(torch::nn::Module& module, const ModelConfig& cfg, const std::string& architecture,
                 const std::string& dir_in, const std::string& tokenizer_from, torch::ScalarType dtype) {
  const std::string dir = strip_trailing_slashes(dir_in);
  std::string tmp = dir + ".tmp." + std::to_string(::getpid());
  remove_tree(tmp);
  try {
    make_dirs(tmp);
    std::vector<torch::Tensor> keep;
    std::vector<TensorData> tensors;
    // A model carrying LoRA adapters is written merged (a plain model; model/lora_io.h saves adapters).
    std::map<std::string, LoraLinearImpl*> adapted;
    for (auto& item : module.named_modules())
      if (auto* l = item.value()->as<LoraLinearImpl>(); l && l->has_adapter()) adapted[item.key() + ".weight"] = l;
    for (auto& p : module.named_parameters(true)) {
      if (p.key().find(".lora_A.") != std::string::npos || p.key().find(".lora_B.") != std::string::npos) continue;
      auto it = adapted.find(p.key());
      auto t = (it == adapted.end() ? p.value() : it->second->merged_weight()).detach().to(torch::kCPU, dtype).contiguous();
      keep.push_back(t);
      tensors.push_back(TensorData{p.key(), from_torch(dtype), std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                                   t.data_ptr(), static_cast<size_t>(t.nbytes())});
    }
    write_safetensors(tmp + "/model.safetensors", tensors, {{"format", "pt"}});
    ModelConfig out = cfg;
    out.dtype = torch_dtype_name(dtype);
    write_file_atomic(tmp + "/config.json", out.to_json(architecture).dump(2) + "\n");
    // Tokenizer files are copied into the new directory before it replaces `dir`, so saving over
    // the directory the tokenizer came from keeps them.
    copy_tokenizer_files(tokenizer_from, tmp);
    replace_dir_atomic(tmp, dir);
  } catch (...) {
    remove_tree(tmp);  // a failed save (disk full, read-only) leaves `dir` as it was and no partial copy
    throw;
  }
}

}  // namespace

namespace {

// A LoRA adapter directory (adapter_config.json, no config.json) loads as its base with the adapter
// merged in: a plain model, every parameter trainable as after any load.
bool adapter_only(const std::string& dir) {
  return !path_exists(dir + "/config.json") && is_adapter_dir(dir);
}

template <class M>
M merged(M m, const std::string& adapter_dir) {
  load_lora_adapter(*m, adapter_dir);
  merge_lora(*m);
  for (auto& p : m->parameters()) p.set_requires_grad(true);
  m->eval();
  return m;
}

}  // namespace

CausalLM load_causal_lm(const std::string& dir, const LoadOptions& opts) {
  if (adapter_only(dir)) {
    const AdapterConfig ac = AdapterConfig::load(dir);
    RLEIF_CHECK(ac.task_type == "CAUSAL_LM", dir, "/adapter_config.json: task_type is ", ac.task_type,
                ", not CAUSAL_LM; this adapter is for a reward model (load it as one)");
    return merged(load_causal_lm(ac.base_model, opts), dir);
  }
  ModelConfig cfg = ModelConfig::load(dir);
  auto m = build_in_dtype<CausalLM>(cfg, opts.dtype);
  // A tied checkpoint may still carry lm_head.weight (a copy of the embedding); it is not used.
  std::set<std::string> ignored;
  if (cfg.tie_word_embeddings) ignored.insert("lm_head.weight");
  load_parameters(*m, dir, cfg, {}, ignored, nullptr, opts.device);
  m->eval();
  return m;
}

ScoreModel load_score_model(const std::string& dir, const LoadOptions& opts, bool allow_new_head, int64_t num_labels) {
  if (adapter_only(dir)) {
    const AdapterConfig ac = AdapterConfig::load(dir);
    RLEIF_CHECK(ac.task_type == "SEQ_CLS" || ac.task_type == "TOKEN_CLS", dir, "/adapter_config.json: task_type is ",
                ac.task_type, "; a reward model's adapter is SEQ_CLS or TOKEN_CLS");
    // The head is stored with the adapter (modules_to_save); the base may be a policy without one.
    SafetensorsFile f(dir + "/adapter_model.safetensors");
    const std::string head = "base_model.model.score.weight";
    RLEIF_CHECK(f.contains(head), dir, "/adapter_model.safetensors: no '", head,
                "'; a reward model's adapter must store its score head (modules_to_save: [score])");
    const int64_t width = f.get(head).shape.at(0);
    RLEIF_CHECK(num_labels <= 0 || width == num_labels, dir, ": the score head has ", width, " labels but ", num_labels,
                " are needed");
    return merged(load_score_model(ac.base_model, opts, /*allow_new_head=*/true, width), dir);
  }
  ModelConfig cfg = ModelConfig::load(dir);
  bool classifier = false;
  for (auto& a : cfg.architectures)
    classifier = classifier || a.find("ForSequenceClassification") != std::string::npos ||
                 a.find("ForTokenClassification") != std::string::npos;
  if (num_labels > 0 && cfg.num_labels != num_labels) {
    RLEIF_CHECK(allow_new_head && !classifier, dir, "/config.json: the score head has ", cfg.num_labels,
                " labels but ", num_labels, " are needed; start from the policy (a CausalLM directory) for a fresh head");
    cfg.num_labels = num_labels;
  }
  auto m = build_in_dtype<ScoreModel>(cfg, opts.dtype);
  std::set<std::string> optional, missing;
  if (allow_new_head) optional.insert("score.weight");
  load_parameters(*m, dir, cfg, optional, {"lm_head.weight"}, &missing, opts.device);
  if (missing.count("score.weight")) {
    torch::NoGradGuard no_grad;
    // transformers' initializer_range default, drawn in fp32 whatever the dtype (the same head as an
    // fp32 load rounded), then placed like the loaded parameters.
    auto w = torch::empty(m->score->weight.sizes(), torch::kFloat32).normal_(0.0, 0.02);
    m->score->weight.set_data(w.to(opts.device, opts.dtype));
  }
  m->eval();
  return m;
}

void save_causal_lm(CausalLM& m, const std::string& dir, const std::string& tokenizer_from, torch::ScalarType dtype) {
  save_module(*m, m->cfg, arch_prefix(m->cfg) + "ForCausalLM", dir, tokenizer_from, dtype);
}

void save_score_model(ScoreModel& m, const std::string& dir, const std::string& tokenizer_from,
                      torch::ScalarType dtype, bool token_classification) {
  ModelConfig cfg = m->cfg;
  if (!cfg.raw.is_object()) cfg.raw = json::object();
  if (token_classification) cfg.raw["token_classification_bias"] = false;
  else cfg.raw.erase("token_classification_bias");
  save_module(*m, cfg, arch_prefix(cfg) + (token_classification ? "ForTokenClassification" : "ForSequenceClassification"),
              dir, tokenizer_from, dtype);
}

}  // namespace rleif::model
