#include "model/config.h"

#include <cmath>

#include "core/error.h"
#include "core/fs.h"

namespace rleif::model {
namespace {

// Reads an integer key (optional): wrong types are errors naming the file and key.
int64_t get_int(const json& j, const char* key, int64_t fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  RLEIF_CHECK(j[key].is_number_integer(), where, ": '", key, "' must be an integer, got ", j[key].dump());
  return j[key].get<int64_t>();
}
double get_num(const json& j, const char* key, double fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  RLEIF_CHECK(j[key].is_number(), where, ": '", key, "' must be a number, got ", j[key].dump());
  return j[key].get<double>();
}
bool get_bool(const json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  RLEIF_CHECK(j[key].is_boolean(), where, ": '", key, "' must be true or false, got ", j[key].dump());
  return j[key].get<bool>();
}
int64_t require_int(const json& j, const char* key, const std::string& where) {
  RLEIF_CHECK(j.contains(key) && !j[key].is_null(), where, ": missing required key '", key, "'");
  return get_int(j, key, 0, where);
}

void read_rope(ModelConfig& c, const json& j, const std::string& where) {
  // transformers >= 5 writes "rope_parameters" (with rope_theta inside); older files write
  // "rope_theta" and "rope_scaling" at the top level. Both are read.
  c.rope_theta = get_num(j, "rope_theta", c.rope_theta, where);
  json rs;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) rs = j["rope_parameters"];
  else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) rs = j["rope_scaling"];
  if (rs.is_null()) return;
  c.rope_theta = get_num(rs, "rope_theta", c.rope_theta, where);
  std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
  if (type == "default") {
    c.rope_type = RopeType::none;
  } else if (type == "llama3") {
    c.rope_type = RopeType::llama3;
    c.rope_factor = get_num(rs, "factor", 8.0, where);
    c.rope_low_freq_factor = get_num(rs, "low_freq_factor", 1.0, where);
    c.rope_high_freq_factor = get_num(rs, "high_freq_factor", 4.0, where);
    c.rope_original_max_position_embeddings = get_int(rs, "original_max_position_embeddings", 8192, where);
  } else if (type == "linear") {
    c.rope_type = RopeType::linear;
    c.rope_factor = get_num(rs, "factor", 1.0, where);
  } else {
    RLEIF_FAIL(where, ": rope type '", type, "' is not supported (supported: default, linear, llama3)");
  }
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& where) {
  RLEIF_CHECK(j.is_object(), where, ": expected a JSON object");
  ModelConfig c;
  c.raw = j;
  RLEIF_CHECK(j.contains("model_type") && j["model_type"].is_string(), where,
              ": missing 'model_type' (expected llama, mistral or qwen2)");
  c.model_type = j["model_type"].get<std::string>();
  RLEIF_CHECK(c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2", where,
              ": model_type '", c.model_type,
              "' is not supported; rleif runs Llama-family decoders (llama, mistral, qwen2)");
  if (j.contains("architectures") && j["architectures"].is_array())
    for (auto& a : j["architectures"])
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
  c.vocab_size = require_int(j, "vocab_size", where);
  c.hidden_size = require_int(j, "hidden_size", where);
  c.intermediate_size = require_int(j, "intermediate_size", where);
  c.num_hidden_layers = require_int(j, "num_hidden_layers", where);
  c.num_attention_heads = require_int(j, "num_attention_heads", where);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", c.num_attention_heads, where);
  c.head_dim = get_int(j, "head_dim", 0, where);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", 2048, where);
  c.rms_norm_eps = get_num(j, "rms_norm_eps", 1e-6, where);
  read_rope(c, j, where);
  c.attention_bias = get_bool(j, "attention_bias", false, where);
  c.qkv_bias = c.model_type == "qwen2";
  c.mlp_bias = get_bool(j, "mlp_bias", false, where);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false, where);
  if (c.model_type == "mistral") {
    c.sliding_window = get_int(j, "sliding_window", 0, where);
  } else if (c.model_type == "qwen2" && get_bool(j, "use_sliding_window", false, where)) {
    c.sliding_window = get_int(j, "sliding_window", 0, where);
    if (j.contains("layer_types") && j["layer_types"].is_array()) {
      for (auto& t : j["layer_types"]) c.layer_sliding.push_back(t == "sliding_attention");
    } else {
      int64_t first = get_int(j, "max_window_layers", c.num_hidden_layers, where);
      for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.layer_sliding.push_back(l >= first);
    }
  }
  if (j.contains("hidden_act") && j["hidden_act"].is_string()) {
    std::string act = j["hidden_act"];
    RLEIF_CHECK(act == "silu" || act == "swish", where, ": hidden_act '", act, "' is not supported (expected silu)");
  }
  c.bos_token_id = get_int(j, "bos_token_id", -1, where);
  c.pad_token_id = get_int(j, "pad_token_id", -1, where);
  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    if (j["eos_token_id"].is_array()) {
      for (auto& e : j["eos_token_id"]) {
        RLEIF_CHECK(e.is_number_integer(), where, ": 'eos_token_id' entries must be integers");
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      c.eos_token_ids.push_back(get_int(j, "eos_token_id", -1, where));
    }
  }
  if (j.contains("num_labels")) c.num_labels = get_int(j, "num_labels", 1, where);
  else if (j.contains("id2label") && j["id2label"].is_object()) c.num_labels = static_cast<int64_t>(j["id2label"].size());
  for (const char* k : {"torch_dtype", "dtype"})
    if (j.contains(k) && j[k].is_string()) c.dtype = j[k].get<std::string>();
  c.validate(where);
  return c;
}

void ModelConfig::validate(const std::string& where) const {
  RLEIF_CHECK(vocab_size > 0 && hidden_size > 0 && intermediate_size > 0 && num_hidden_layers > 0 &&
                  num_attention_heads > 0 && num_key_value_heads > 0,
              where, ": sizes must be positive (vocab_size, hidden_size, intermediate_size, num_hidden_layers, "
                     "num_attention_heads, num_key_value_heads)");
  RLEIF_CHECK(num_attention_heads % num_key_value_heads == 0, where, ": num_attention_heads (", num_attention_heads,
              ") must be a multiple of num_key_value_heads (", num_key_value_heads, ")");
  RLEIF_CHECK(head_dim > 0 || hidden_size % num_attention_heads == 0, where, ": hidden_size (", hidden_size,
              ") is not divisible by num_attention_heads (", num_attention_heads, "); set head_dim");
  RLEIF_CHECK(head_size() % 2 == 0, where, ": head dimension ", head_size(), " must be even for RoPE");
  RLEIF_CHECK(layer_sliding.empty() || static_cast<int64_t>(layer_sliding.size()) == num_hidden_layers, where,
              ": layer_types has ", layer_sliding.size(), " entries but num_hidden_layers is ", num_hidden_layers);
  RLEIF_CHECK(num_labels >= 1, where, ": num_labels must be >= 1");
}

ModelConfig ModelConfig::load(const std::string& dir) {
  std::string path = dir + "/config.json";
  RLEIF_CHECK(path_exists(dir), dir, ": model directory does not exist");
  RLEIF_CHECK(path_exists(path), path, ": missing; a model directory needs config.json (Hugging Face layout)");
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    RLEIF_FAIL(path, ": not valid JSON (", e.what(), ")");
  }
  return from_json(j, path);
}

json ModelConfig::to_json(const std::string& architecture) const {
  json j = raw.is_object() ? raw : json::object();
  j["architectures"] = json::array({architecture});
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_size();
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type != "qwen2") j["attention_bias"] = attention_bias;
  if (model_type == "llama") j["mlp_bias"] = mlp_bias;
  json rope;
  rope["rope_theta"] = rope_theta;
  if (rope_type == RopeType::llama3) {
    rope["rope_type"] = "llama3";
    rope["factor"] = rope_factor;
    rope["low_freq_factor"] = rope_low_freq_factor;
    rope["high_freq_factor"] = rope_high_freq_factor;
    rope["original_max_position_embeddings"] = rope_original_max_position_embeddings;
  } else if (rope_type == RopeType::linear) {
    rope["rope_type"] = "linear";
    rope["factor"] = rope_factor;
  } else {
    rope["rope_type"] = "default";
  }
  // Written in both spellings so transformers 4.x and 5.x read the same RoPE.
  j["rope_parameters"] = rope;
  j["rope_theta"] = rope_theta;
  if (rope_type == RopeType::none) j.erase("rope_scaling");
  else j["rope_scaling"] = rope;
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (pad_token_id >= 0) j["pad_token_id"] = pad_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  // transformers derives num_labels from id2label.
  j.erase("num_labels");
  json id2label = json::object(), label2id = json::object();
  for (int64_t i = 0; i < num_labels; ++i) {
    id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
    label2id["LABEL_" + std::to_string(i)] = i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  j["torch_dtype"] = dtype;
  j["dtype"] = dtype;
  return j;
}

}  // namespace rleif::model
