// load_causal_lm on broken Hugging Face directories: each case must be an rleif::Error whose message
// names the file (or directory) and the problem. One test per case, plus a control that the
// unbroken directory loads, so every failure below is caused by the one thing each test breaks.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "model/hf_io.h"
#include "tests/test_util.h"

namespace rleif {
namespace {
using test::temp_dir;

struct Spec {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};
using Specs = std::map<std::string, Spec>;

// A 1-layer llama: H 8, intermediate 12, V 16, 2 heads of 4, 1 KV head, tied embeddings.
json tiny_config() {
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 16},
          {"hidden_size", 8}, {"intermediate_size", 12}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
          {"num_key_value_heads", 1}, {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", true},
          {"torch_dtype", "float32"}};
}

Specs tiny_specs() {
  const std::string p = "model.layers.0.";
  return {{"model.embed_tokens.weight", {DType::F32, {16, 8}}},
          {p + "self_attn.q_proj.weight", {DType::F32, {8, 8}}},
          {p + "self_attn.k_proj.weight", {DType::F32, {4, 8}}},
          {p + "self_attn.v_proj.weight", {DType::F32, {4, 8}}},
          {p + "self_attn.o_proj.weight", {DType::F32, {8, 8}}},
          {p + "mlp.gate_proj.weight", {DType::F32, {12, 8}}},
          {p + "mlp.up_proj.weight", {DType::F32, {12, 8}}},
          {p + "mlp.down_proj.weight", {DType::F32, {8, 12}}},
          {p + "input_layernorm.weight", {DType::F32, {8}}},
          {p + "post_attention_layernorm.weight", {DType::F32, {8}}},
          {"model.norm.weight", {DType::F32, {8}}}};
}

// Writes config.json and model.safetensors (small non-zero values) into a fresh directory.
std::string write_model_dir(const json& config, const Specs& specs) {
  std::string dir = temp_dir("hfio");
  write_file_atomic(dir + "/config.json", config.dump(2));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<TensorData> tensors;
  bufs.reserve(specs.size());
  for (const auto& [name, s] : specs) {
    size_t n = dtype_size(s.dtype);
    for (int64_t d : s.shape) n *= static_cast<size_t>(d);
    std::vector<uint8_t> b(n);
    if (s.dtype == DType::F32) {
      for (size_t i = 0; i < n / 4; ++i) {
        float v = 0.01f * static_cast<float>(i % 7) + 0.1f;
        std::memcpy(&b[i * 4], &v, 4);
      }
    }
    bufs.push_back(std::move(b));
    tensors.push_back({name, s.dtype, s.shape, bufs.back().data(), bufs.back().size()});
  }
  write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

// Expects load_causal_lm(dir) to throw an rleif::Error whose message contains every part.
void expect_load_error(const std::string& dir, const std::vector<std::string>& parts) {
  try {
    model::load_causal_lm(dir);
    ADD_FAILURE() << dir << ": loaded without error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
  }
}

TEST(HfIoErrors, UnbrokenTinyDirectoryLoads) {
  std::string dir = write_model_dir(tiny_config(), tiny_specs());
  auto m = model::load_causal_lm(dir);
  auto logits = m->forward(torch::tensor({{1, 2, 3}}, torch::kLong));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, 3, 16}));
}

TEST(HfIoErrors, IntegerWeights) {
  Specs s = tiny_specs();
  s["model.layers.0.self_attn.q_proj.weight"].dtype = DType::I32;
  std::string dir = write_model_dir(tiny_config(), s);
  expect_load_error(dir, {dir, "'model.layers.0.self_attn.q_proj.weight'", "I32", "F32"});
}

TEST(HfIoErrors, ShapeDisagreesWithConfig) {
  Specs s = tiny_specs();
  s["model.layers.0.mlp.up_proj.weight"].shape = {10, 8};
  std::string dir = write_model_dir(tiny_config(), s);
  expect_load_error(dir, {dir, "'model.layers.0.mlp.up_proj.weight'", "[10, 8]", "[12, 8]", "config.json"});
}

TEST(HfIoErrors, MissingTensor) {
  Specs s = tiny_specs();
  s.erase("model.norm.weight");
  std::string dir = write_model_dir(tiny_config(), s);
  expect_load_error(dir, {dir, "missing tensor 'model.norm.weight'"});
}

TEST(HfIoErrors, UnexpectedExtraTensor) {
  Specs s = tiny_specs();
  s["model.layers.1.mlp.up_proj.weight"] = {DType::F32, {12, 8}};
  std::string dir = write_model_dir(tiny_config(), s);
  expect_load_error(dir, {dir, "unexpected tensor 'model.layers.1.mlp.up_proj.weight'", "1 layers"});
}

TEST(HfIoErrors, TruncatedSafetensorsFile) {
  std::string dir = write_model_dir(tiny_config(), tiny_specs());
  std::string file = dir + "/model.safetensors";
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);
  expect_load_error(dir, {file, "past the end of the data", "truncated"});
}

TEST(HfIoErrors, HeaderOffsetsPastEnd) {
  std::string dir = write_model_dir(tiny_config(), tiny_specs());
  std::string file = dir + "/model.safetensors";
  std::string raw = read_file(file);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(raw[i]);
  json header = json::parse(raw.substr(8, n));
  // Same size, shifted 4 KiB beyond the data: only the offsets are wrong.
  auto& off = header["model.norm.weight"]["data_offsets"];
  off = {off[0].get<uint64_t>() + 4096, off[1].get<uint64_t>() + 4096};
  std::string h = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((h.size() >> (8 * i)) & 0xff);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << out << h << raw.substr(8 + n);
  expect_load_error(dir, {file, "tensor 'model.norm.weight'", "past the end of the data"});
}

TEST(HfIoErrors, MalformedConfigJson) {
  std::string dir = write_model_dir(tiny_config(), tiny_specs());
  write_file_atomic(dir + "/config.json", "{\"model_type\": \"llama\", \"vocab_size\": 16,");
  expect_load_error(dir, {dir + "/config.json", "not valid JSON"});
}

TEST(HfIoErrors, MissingConfigJson) {
  std::string dir = write_model_dir(tiny_config(), tiny_specs());
  std::filesystem::remove(dir + "/config.json");
  expect_load_error(dir, {dir + "/config.json", "missing"});
}

TEST(HfIoErrors, UnsupportedModelType) {
  json c = tiny_config();
  c["model_type"] = "gpt2";
  c["architectures"] = {"GPT2LMHeadModel"};
  std::string dir = write_model_dir(c, tiny_specs());
  expect_load_error(dir, {dir + "/config.json", "model_type 'gpt2'", "not supported", "llama"});
}

}  // namespace
}  // namespace rleif
