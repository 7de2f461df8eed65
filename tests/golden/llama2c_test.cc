// llama2.c import, checked against three references that never see rleif's model code:
//  - scripts/fixtures/llama2c_reference.py: run.c's encode() and forward() transcribed to Python,
//    reading the original stories260K.bin / tok512.bin (interleaved RoPE, unpermuted weights);
//  - the `tokenizers` library and transformers' AutoTokenizer on the converted tokenizer.json;
//  - transformers (scripts/fixtures/hf_reference.py) on the converted directory.
// fp32 logits agree to max abs diff <= 1e-4; token ids agree exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "core/safetensors.h"
#include "model/hf_io.h"
#include "model/llama2c.h"
#include "model/tokenizer.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {
namespace fsys = std::filesystem;

constexpr double kFp32Tol = 1e-4;

std::string stories_bin() { return shared_dir() + "/models/stories260K/stories260K.bin"; }
std::string tok512_bin() { return shared_dir() + "/models/stories260K/tok512.bin"; }
std::string script(const std::string& name) { return source_dir() + "/scripts/fixtures/" + name; }

const std::vector<std::string> kTexts = {
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park with her dog Max!\nOne day, they found a big, shiny red ball.",
    "Tom said, \"Let's go home.\"  Mom smiled: cafe\xCC\x81 \xE2\x80\x94 na\xC3\xAFve 123 \xF0\x9F\x98\x80.",
    " a leading space,   three spaces and a tab\there",
    "",
};

void write_json(const std::string& path, const json& j) { std::ofstream(path) << j.dump(); }

// stories260K converted once for the whole suite.
class Stories : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!path_present(stories_bin()) || !path_present(tok512_bin())) return;
    dir_ = temp_dir("stories") + "/model";
    model::convert_llama2c(stories_bin(), tok512_bin(), dir_);
  }
  void SetUp() override {
    RLEIF_REQUIRE_PATH(stories_bin());
    RLEIF_REQUIRE_PATH(tok512_bin());
  }
  static std::string dir_;
};
std::string Stories::dir_;

TEST_F(Stories, WritesAHuggingFaceDirectory) {
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"})
    EXPECT_TRUE(path_present(dir_ + "/" + f)) << f;
  json c = json::parse(read_file(dir_ + "/config.json"));
  EXPECT_EQ(c["architectures"], json({"LlamaForCausalLM"}));
  EXPECT_EQ(c["model_type"], "llama");
  // stories260K's header: dim 64, hidden_dim 172, 5 layers, 8 heads, 4 KV heads, vocab 512, seq_len 512.
  EXPECT_EQ(c["hidden_size"], 64);
  EXPECT_EQ(c["intermediate_size"], 172);
  EXPECT_EQ(c["num_hidden_layers"], 5);
  EXPECT_EQ(c["num_attention_heads"], 8);
  EXPECT_EQ(c["num_key_value_heads"], 4);
  EXPECT_EQ(c["vocab_size"], 512);
  EXPECT_EQ(c["max_position_embeddings"], 512);
  EXPECT_EQ(c["tie_word_embeddings"], true);
  EXPECT_EQ(c["rms_norm_eps"], 1e-5);
  SafetensorsFile st(dir_ + "/model.safetensors");
  EXPECT_EQ(st.names().size(), 1u + 5 * 9 + 1);
  EXPECT_FALSE(st.contains("lm_head.weight"));
  // The embedding is stored verbatim right after the 28-byte header.
  std::string raw = read_file(stories_bin());
  const TensorView& emb = st.get("model.embed_tokens.weight");
  ASSERT_EQ(emb.nbytes, 512u * 64 * 4);
  EXPECT_EQ(std::memcmp(emb.data, raw.data() + 28, emb.nbytes), 0);
  EXPECT_EQ(st.get("model.layers.4.self_attn.k_proj.weight").shape, (std::vector<int64_t>{32, 64}));
}

TEST_F(Stories, TokenIdsEqualLlama2cEncodeTokenizersAndAutoTokenizer) {
  std::string tmp = temp_dir("stories_tok");
  write_json(tmp + "/texts.json", kTexts);
  auto r = run_command({python_bin(), script("llama2c_reference.py"), "encode", "--tokenizer", tok512_bin(),
                        "--vocab-size", "512", "--texts", tmp + "/texts.json", "--out", tmp + "/llama2c.json"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const char* hf = R"(
import json, sys
from tokenizers import Tokenizer
from transformers import AutoTokenizer
d, texts = sys.argv[1], json.load(open(sys.argv[2]))
tk, auto = Tokenizer.from_file(d + "/tokenizer.json"), AutoTokenizer.from_pretrained(d)
ids = [tk.encode(t).ids for t in texts]
json.dump({"tokenizers": ids, "auto": [auto(t)["input_ids"] for t in texts],
           "decoded": [tk.decode(i, skip_special_tokens=True) for i in ids]}, open(sys.argv[3], "w"))
)";
  r = run_command({python_bin(), "-c", hf, dir_, tmp + "/texts.json", tmp + "/hf.json"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json ref = json::parse(read_file(tmp + "/llama2c.json"));
  json lib = json::parse(read_file(tmp + "/hf.json"));
  Tokenizer tok = Tokenizer::from_file(dir_ + "/tokenizer.json");
  for (size_t i = 0; i < kTexts.size(); ++i) {
    auto want = ref[i].get<std::vector<int32_t>>();
    EXPECT_EQ(lib["tokenizers"][i].get<std::vector<int32_t>>(), want) << "tokenizers library, text " << i;
    EXPECT_EQ(lib["auto"][i].get<std::vector<int32_t>>(), want) << "AutoTokenizer, text " << i;
    EXPECT_EQ(tok.encode(kTexts[i]), want) << "rleif, text " << i;
    EXPECT_EQ(tok.decode(want, /*skip_special_tokens=*/true), lib["decoded"][i].get<std::string>()) << "text " << i;
  }
  EXPECT_EQ(tok.bos_id(), 1);
}

// Logits of rleif, transformers (converted directory) and run.c's forward (original file) agree.
TEST_F(Stories, LogitsEqualTransformersAndLlama2cForward) {
  Tokenizer tok = Tokenizer::from_file(dir_ + "/tokenizer.json");
  std::vector<std::vector<int32_t>> rows;
  for (const char* p : {"Once upon a time, there was a little girl named Lily. She",
                        "One day, Tom and his mom went to the park to play with a big red ball and",
                        "The cat sat on the mat. It was happy because the sun was warm and bright."})
    rows.push_back(tok.encode(p));
  size_t T = rows[0].size();
  for (auto& r : rows) T = std::min(T, r.size());
  ASSERT_GE(T, 12u);
  torch::Tensor ids = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(T)}, torch::kLong);
  for (size_t b = 0; b < rows.size(); ++b)
    for (size_t t = 0; t < T; ++t) ids[b][t] = rows[b][t];
  std::string tmp = temp_dir("stories_logits");
  write_ids_json(ids, tmp + "/ids.json");
  auto r = run_command({python_bin(), script("hf_reference.py"), "logits", "--model", dir_, "--ids", tmp + "/ids.json",
                        "--out", tmp + "/hf.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = run_command({python_bin(), script("llama2c_reference.py"), "forward", "--model", stories_bin(), "--ids",
                   tmp + "/ids.json", "--out", tmp + "/llama2c.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto hf = load_tensor(tmp + "/hf.safetensors", "logits");
  auto l2c = load_tensor(tmp + "/llama2c.safetensors", "logits");
  ASSERT_EQ(hf.sizes(), (std::vector<int64_t>{3, static_cast<int64_t>(T), 512}));
  EXPECT_LE(max_abs_diff(hf, l2c), kFp32Tol) << "transformers on the converted model vs run.c forward";
  auto m = model::load_causal_lm(dir_);
  torch::NoGradGuard ng;
  EXPECT_LE(max_abs_diff(m->forward(ids), hf), kFp32Tol) << "rleif vs transformers";
}

// ---- synthetic checkpoints: the unshared-classifier layout and bad files ----

// A random version-0 checkpoint (dim 16, 2 layers, 4 heads of 4, 2 KV heads) and a 20-token tokenizer.
struct TinyCheckpoint {
  int32_t header[7] = {16, 24, 2, 4, 2, -20, 8};  // vocab -20: unshared classifier
  std::string model_bin, tokenizer_bin;

  explicit TinyCheckpoint(const std::string& dir) {
    model_bin = dir + "/tiny.bin";
    tokenizer_bin = dir + "/tiny_tok.bin";
    model::Llama2cConfig c;
    c.dim = header[0], c.hidden_dim = header[1], c.n_layers = header[2], c.n_heads = header[3];
    c.n_kv_heads = header[4], c.vocab_size = -header[5], c.seq_len = header[6], c.shared_classifier = false;
    std::vector<float> w(static_cast<size_t>((c.file_bytes() - 28) / 4));
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.3f);
    for (auto& x : w) x = dist(rng);
    std::ofstream m(model_bin, std::ios::binary);
    m.write(reinterpret_cast<const char*>(header), sizeof header);
    m.write(reinterpret_cast<const char*>(w.data()), static_cast<std::streamsize>(w.size() * 4));
    std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n", " ", "a", "b", "c", " a", "ab", " ab",
                                       "ba", "c ", "aa", "bb", " c", "cab", "x", "y", "z", " z"};
    std::ofstream t(tokenizer_bin, std::ios::binary);
    int32_t max_len = 7;
    t.write(reinterpret_cast<const char*>(&max_len), 4);
    for (size_t i = 0; i < pieces.size(); ++i) {
      float score = i < 3 ? 0.0f : -static_cast<float>(i);
      auto len = static_cast<int32_t>(pieces[i].size());
      t.write(reinterpret_cast<const char*>(&score), 4);
      t.write(reinterpret_cast<const char*>(&len), 4);
      t << pieces[i];
    }
  }
};

TEST(Llama2cImport, UnsharedClassifierMatchesLlama2cForward) {
  std::string tmp = temp_dir("l2c_tiny");
  TinyCheckpoint ck(tmp);
  model::convert_llama2c(ck.model_bin, ck.tokenizer_bin, tmp + "/model");
  json c = json::parse(read_file(tmp + "/model/config.json"));
  EXPECT_EQ(c["tie_word_embeddings"], false);
  EXPECT_EQ(c["vocab_size"], 20);
  EXPECT_TRUE(SafetensorsFile(tmp + "/model/model.safetensors").contains("lm_head.weight"));
  torch::Tensor ids = torch::tensor({{1, 7, 8, 15, 4, 19, 3, 12}, {1, 16, 17, 18, 9, 10, 11, 13}}, torch::kLong);
  write_ids_json(ids, tmp + "/ids.json");
  auto r = run_command({python_bin(), script("llama2c_reference.py"), "forward", "--model", ck.model_bin, "--ids",
                        tmp + "/ids.json", "--out", tmp + "/ref.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = run_command({python_bin(), script("hf_reference.py"), "logits", "--model", tmp + "/model", "--ids",
                   tmp + "/ids.json", "--out", tmp + "/hf.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto ref = load_tensor(tmp + "/ref.safetensors", "logits");
  EXPECT_LE(max_abs_diff(load_tensor(tmp + "/hf.safetensors", "logits"), ref), kFp32Tol);
  auto m = model::load_causal_lm(tmp + "/model");
  torch::NoGradGuard ng;
  EXPECT_LE(max_abs_diff(m->forward(ids), ref), kFp32Tol);
}

TEST(Llama2cImport, ReplacesAnExistingDirectoryGivenWithATrailingSlash) {
  std::string tmp = temp_dir("l2c_replace");
  TinyCheckpoint ck(tmp);
  make_dirs(tmp + "/model");
  std::ofstream(tmp + "/model/stale.txt") << "from an earlier run";
  model::convert_llama2c(ck.model_bin, ck.tokenizer_bin, tmp + "/model/");
  EXPECT_TRUE(path_present(tmp + "/model/config.json"));
  EXPECT_FALSE(path_present(tmp + "/model/stale.txt")) << "the old directory is replaced as a whole";
  std::vector<std::string> entries;
  for (const auto& e : fsys::directory_iterator(tmp)) entries.push_back(e.path().filename().string());
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"model", "tiny.bin", "tiny_tok.bin"})) << "no temporaries left";
}

// Converting `model_bin` fails with an rleif::Error containing every part, and leaves no output.
void expect_convert_error(const std::string& model_bin, const std::string& tokenizer_bin,
                          const std::vector<std::string>& parts) {
  std::string out = fsys::path(model_bin).parent_path().string() + "/out";
  try {
    model::convert_llama2c(model_bin, tokenizer_bin, out);
    ADD_FAILURE() << "converted without error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
  }
  EXPECT_FALSE(path_present(out)) << "a failed conversion must not leave an output directory";
}

TEST(Llama2cImport, TruncatedCheckpoint) {
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  fsys::resize_file(ck.model_bin, fsys::file_size(ck.model_bin) - 4);
  expect_convert_error(ck.model_bin, ck.tokenizer_bin, {ck.model_bin, "needs exactly", "truncated"});
}

TEST(Llama2cImport, CheckpointShorterThanHeader) {
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  fsys::resize_file(ck.model_bin, 10);
  expect_convert_error(ck.model_bin, ck.tokenizer_bin, {ck.model_bin, "10 bytes", "28-byte header"});
}

TEST(Llama2cImport, NegativeSize) {
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  int32_t layers = -2;
  std::fstream f(ck.model_bin, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(8);
  f.write(reinterpret_cast<const char*>(&layers), 4);
  f.close();
  expect_convert_error(ck.model_bin, ck.tokenizer_bin, {ck.model_bin, "n_layers = -2", "out of range"});
}

TEST(Llama2cImport, SizeMismatchWithConfig) {
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  std::ofstream(ck.model_bin, std::ios::binary | std::ios::app) << std::string(64, '\0');
  expect_convert_error(ck.model_bin, ck.tokenizer_bin, {ck.model_bin, "needs exactly", "extra data"});
}

TEST(Llama2cImport, VersionedExport) {
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  int32_t magic = 0x616b3432;
  std::fstream f(ck.model_bin, std::ios::binary | std::ios::in | std::ios::out);
  f.write(reinterpret_cast<const char*>(&magic), 4);
  f.close();
  expect_convert_error(ck.model_bin, ck.tokenizer_bin, {ck.model_bin, "ak42", "--version 0"});
}

TEST(Llama2cImport, TruncatedTokenizer) {
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  fsys::resize_file(ck.tokenizer_bin, fsys::file_size(ck.tokenizer_bin) - 3);
  expect_convert_error(ck.model_bin, ck.tokenizer_bin, {ck.tokenizer_bin, "token 19 of 20", "truncated"});
}

TEST(Llama2cImport, TokenizerForAnotherVocabulary) {
  RLEIF_REQUIRE_PATH(tok512_bin());
  std::string tmp = temp_dir("l2c_bad");
  TinyCheckpoint ck(tmp);
  expect_convert_error(ck.model_bin, tok512_bin(), {tok512_bin(), "more tokens than the model's vocab_size 20"});
}

}  // namespace
}  // namespace rleif::test
