#include "model/lora_io.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "model/dtype.h"
#include "model/hf_io.h"

namespace rleif::model {
namespace {
constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";
const std::string kPrefix = "base_model.model.";  // PEFT's names: PeftModel.base_model (LoraModel).model

bool is_adapter_param(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

bool under(const std::string& name, const std::vector<std::string>& modules) {
  for (const auto& m : modules)
    if (name.rfind(m + ".", 0) == 0) return true;
  return false;
}
}  // namespace

json AdapterConfig::to_json() const {
  return json{{"peft_type", "LORA"},
              {"task_type", task_type},
              {"base_model_name_or_path", base_model},
              {"r", lora.r},
              {"lora_alpha", lora.alpha},
              {"lora_dropout", lora.dropout},
              {"target_modules", lora.target_modules},
              {"modules_to_save", modules_to_save.empty() ? json(nullptr) : json(modules_to_save)},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"inference_mode", true},
              {"init_lora_weights", true},
              {"use_rslora", false},
              {"use_dora", false},
              {"lora_bias", false},
              {"layers_to_transform", nullptr},
              {"layers_pattern", nullptr},
              {"rank_pattern", json::object()},
              {"alpha_pattern", json::object()},
              {"revision", nullptr}};
}

AdapterConfig AdapterConfig::load(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kConfigFile).string();
  RLEIF_CHECK(path_exists(path), dir, ": no ", kConfigFile, "; not a LoRA adapter directory");
  json j = json::parse(read_file(path), nullptr, false);
  RLEIF_CHECK(j.is_object(), path, ": not a JSON object");
  const SourceLoc loc{path, 1};
  const std::string type = get_field<std::string>(j, "peft_type", loc, "a string");
  RLEIF_CHECK(type == "LORA", path, ": peft_type is '", type, "'; only LORA adapters are supported");
  AdapterConfig c;
  c.base_model = j.value("base_model_name_or_path", json(nullptr)).is_string() ? j["base_model_name_or_path"].get<std::string>() : "";
  RLEIF_CHECK(!c.base_model.empty(), path, ": base_model_name_or_path is empty; set it to the base model directory");
  if (j.contains("task_type") && j["task_type"].is_string()) c.task_type = j["task_type"].get<std::string>();
  c.lora.r = get_field<int64_t>(j, "r", loc, "an integer rank");
  c.lora.alpha = get_field<double>(j, "lora_alpha", loc, "a number");
  if (j.contains("lora_dropout") && j["lora_dropout"].is_number()) c.lora.dropout = j["lora_dropout"].get<double>();
  RLEIF_CHECK(j.contains("target_modules") && j["target_modules"].is_array(), path,
              ": target_modules must be a list of layer names (a regular expression or \"all-linear\" is not supported)");
  c.lora.target_modules = j["target_modules"].get<std::vector<std::string>>();
  if (j.contains("modules_to_save") && j["modules_to_save"].is_array())
    c.modules_to_save = j["modules_to_save"].get<std::vector<std::string>>();
  // Variants rleif does not implement: refuse rather than load a different function.
  for (const char* flag : {"use_dora", "use_rslora", "fan_in_fan_out", "lora_bias"})
    RLEIF_CHECK(!j.value(flag, false), path, ": ", flag, " = true is not supported (plain LoRA only)");
  RLEIF_CHECK(j.value("bias", std::string("none")) == "none", path, ": bias = '", j.value("bias", std::string()),
              "' is not supported (bias must be \"none\")");
  for (const char* pat : {"rank_pattern", "alpha_pattern"})
    RLEIF_CHECK(!j.contains(pat) || j[pat].is_null() || j[pat].empty(), path, ": ", pat,
                " is not supported (one rank and alpha for every layer)");
  RLEIF_CHECK(!j.contains("layers_to_transform") || j["layers_to_transform"].is_null(), path,
              ": layers_to_transform is not supported (adapt every matching layer)");
  try {
    c.lora.validate();
  } catch (const Error& e) {
    RLEIF_FAIL(path, ": ", e.what());
  }
  RLEIF_CHECK(c.lora.enabled(), path, ": r = 0; an adapter needs r >= 1");
  return c;
}

bool is_adapter_dir(const std::string& dir) {
  return path_exists((std::filesystem::path(dir) / kConfigFile).string());
}

void save_lora_adapter(torch::nn::Module& m, const AdapterConfig& cfg, const std::string& dir_in,
                       const std::string& tokenizer_from) {
  const std::string dir = strip_trailing_slashes(dir_in);
  AdapterConfig out = cfg;  // a base directory is recorded absolute: the adapter loads from any working directory
  if (is_directory(out.base_model))
    out.base_model = std::filesystem::absolute(strip_trailing_slashes(out.base_model)).lexically_normal().string();
  std::vector<torch::Tensor> keep;
  std::vector<TensorData> tensors;
  for (auto& p : m.named_parameters()) {
    if (!is_adapter_param(p.key()) && !under(p.key(), cfg.modules_to_save)) continue;
    auto t = p.value().detach().to(torch::kCPU).contiguous();
    keep.push_back(t);
    tensors.push_back(TensorData{kPrefix + p.key(), to_safetensors_dtype(t.scalar_type(), p.key()),
                                 std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                                 static_cast<size_t>(t.nbytes())});
  }
  RLEIF_CHECK(!tensors.empty(), "save_lora_adapter: the model carries no adapter (add_lora first)");
  const std::string tmp = dir + ".tmp." + std::to_string(::getpid());
  remove_tree(tmp);
  make_dirs(tmp);
  write_safetensors(tmp + "/" + kWeightsFile, tensors, {{"format", "pt"}});
  write_file_atomic(tmp + "/" + kConfigFile, out.to_json().dump(2) + "\n");
  copy_tokenizer_files(tokenizer_from, tmp);
  replace_dir_atomic(tmp, dir);
}

void load_lora_adapter(torch::nn::Module& m, const std::string& dir) {
  const AdapterConfig cfg = AdapterConfig::load(dir);
  if (!has_lora(m)) add_lora(m, cfg.lora, cfg.modules_to_save);
  const std::string path = (std::filesystem::path(dir) / kWeightsFile).string();
  RLEIF_CHECK(path_exists(path), dir, ": no ", kWeightsFile, "; the adapter directory is incomplete");
  SafetensorsFile f(path);
  auto params = m.named_parameters();
  std::set<std::string> loaded;
  torch::NoGradGuard ng;
  for (const auto& key : f.names()) {
    RLEIF_CHECK(key.rfind(kPrefix, 0) == 0, path, ": tensor '", key, "' does not start with '", kPrefix,
                "'; not a PEFT LoRA adapter");
    const std::string name = key.substr(kPrefix.size());
    auto* p = params.find(name);
    RLEIF_CHECK(p != nullptr, path, ": tensor '", key, "' is no parameter of the model ('", name,
                "'); is the adapter for another base model, or does it adapt layers rleif cannot (target_modules)?");
    const TensorView& v = f.get(key);
    RLEIF_CHECK(v.dtype == DType::F32 || v.dtype == DType::BF16 || v.dtype == DType::F16 || v.dtype == DType::F64, path,
                ": tensor '", key, "' has dtype ", dtype_name(v.dtype), "; adapter weights must be floating point");
    RLEIF_CHECK(p->sizes().vec() == v.shape, path, ": tensor '", key, "' has shape ", torch::IntArrayRef(v.shape),
                " but the model's parameter is ", p->sizes(), "; the adapter does not fit this base model (r or sizes differ)");
    p->copy_(torch::from_blob(const_cast<uint8_t*>(v.data), v.shape, torch::TensorOptions().dtype(to_torch_dtype(v.dtype))));
    loaded.insert(name);
  }
  for (auto& p : params)
    RLEIF_CHECK(!is_adapter_param(p.key()) || loaded.count(p.key()), path, ": no tensor for '", kPrefix, p.key(),
                "'; the adapter is incomplete");
}

}  // namespace rleif::model
