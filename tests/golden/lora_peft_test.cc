// LoRA adapters against PEFT 0.21 (scripts/fixtures/lora_peft_check.py runs PEFT on the same files):
// an adapter rleif saves loads in PEFT with the same logits (1e-4) and merges to the same weights as
// PEFT's merge_and_unload; an adapter PEFT saves loads in rleif with PEFT's logits; a reward model's
// adapter (score head in modules_to_save) loads in PEFT as a sequence classifier with rleif's scores;
// an adapter directory loads anywhere a model does (merged); disabled adapters give the base model.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/safetensors.h"
#include "model/hf_io.h"
#include "model/lora_io.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

std::string fixture(const std::string& name) {
  std::string dir = model_fixture(name);
  EXPECT_TRUE(path_present(dir)) << "missing fixture " << dir << " (run ctest's fixture_model)";
  return dir;
}

std::string script() { return source_dir() + "/scripts/fixtures/lora_peft_check.py"; }

// Gives every adapter a non-zero B (B starts at zero, which would make any comparison trivial).
void randomise_b(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters())
    if (p.key().find(".lora_B.") != std::string::npos) p.value().normal_(0.0, 0.05);
}

model::LoraOptions all_targets(int64_t r, double alpha) {
  model::LoraOptions o;
  o.r = r;
  o.alpha = alpha;
  return o;  // the default targets: q, k, v, o, gate, up, down
}

// Runs PEFT on `adapter` for the ids of `base`'s fixture; returns the safetensors PEFT wrote.
std::string run_peft_load(const std::string& adapter, const torch::Tensor& ids, bool seq_cls,
                          const std::vector<std::string>& extra = {}) {
  const std::string tmp = temp_dir("lora_peft");
  write_ids_json(ids, tmp + "/ids.json");
  std::vector<std::string> argv{python_bin(), script(), "load", "--adapter", adapter, "--ids", tmp + "/ids.json",
                                "--out", tmp + "/peft.safetensors"};
  if (seq_cls) argv.push_back("--seq-cls");
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return tmp + "/peft.safetensors";
}

TEST(LoraPeftTest, RleifAdapterLoadsInPeftWithEqualLogitsAndMerge) {
  for (std::string name : {"llama2", "qwen2", "llama3"}) {  // untied MHA, q/k/v bias + GQA, tied + llama3 RoPE
    const std::string base = fixture(name);
    auto ids = load_tensor(base + "/expected.safetensors", "ids");
    torch::manual_seed(3);
    auto m = model::load_causal_lm(base);
    EXPECT_EQ(model::add_lora(*m, all_targets(4, 8.0)), 7 * m->cfg.num_hidden_layers);
    randomise_b(*m, 11);
    const std::string adapter = temp_dir("lora_adapter") + "/a";
    model::save_lora_adapter(*m, {base, "CAUSAL_LM", all_targets(4, 8.0), {}}, adapter);
    torch::NoGradGuard ng;
    auto logits = m->forward(ids);
    const std::string peft = run_peft_load(adapter, ids, false);
    ASSERT_TRUE(path_present(peft));
    auto want = load_tensor(peft, "logits");
    EXPECT_LE(max_abs_diff(logits, want), 1e-4) << name;
    // rleif's merged save equals PEFT's merge_and_unload, parameter by parameter.
    const std::string merged = temp_dir("lora_merged") + "/m";
    model::save_causal_lm(m, merged);
    EXPECT_FALSE(path_present(merged + "/adapter_config.json"));
    auto plain = model::load_causal_lm(merged);
    EXPECT_FALSE(model::has_lora(*plain));
    for (auto& p : plain->named_parameters())
      EXPECT_LE(max_abs_diff(p.value(), load_tensor(peft, "merged." + p.key())), 1e-6) << name << " " << p.key();
    EXPECT_LE(max_abs_diff(plain->forward(ids), want), 1e-4) << name;
    // The adapter directory itself loads as a (merged) model wherever a model directory does.
    auto via_dir = model::load_causal_lm(adapter);
    EXPECT_FALSE(model::has_lora(*via_dir));
    EXPECT_LE(max_abs_diff(via_dir->forward(ids), want), 1e-4) << name;
    for (auto& p : via_dir->parameters()) EXPECT_TRUE(p.requires_grad());
  }
}

TEST(LoraPeftTest, PeftAdapterLoadsInRleif) {
  const std::string base = fixture("qwen2");
  auto ids = load_tensor(base + "/expected.safetensors", "ids");
  const std::string tmp = temp_dir("lora_from_peft");
  write_ids_json(ids, tmp + "/ids.json");
  auto r = run_command({python_bin(), script(), "make", "--base", base, "--out", tmp + "/adapter", "--ids",
                        tmp + "/ids.json", "--r", "6", "--alpha", "12", "--targets", "q_proj,v_proj,down_proj"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto m = model::load_causal_lm(base);
  model::load_lora_adapter(*m, tmp + "/adapter");
  auto cfg = model::AdapterConfig::load(tmp + "/adapter");
  EXPECT_EQ(cfg.lora.r, 6);
  EXPECT_EQ(cfg.lora.target_modules.size(), 3u);
  torch::NoGradGuard ng;
  auto want = load_tensor(tmp + "/adapter/expected.safetensors", "logits");
  EXPECT_LE(max_abs_diff(m->forward(ids), want), 1e-4);
  // Adapters off: the base model's forward, bitwise.
  auto plain = model::load_causal_lm(base);
  {
    model::LoraDisabled off(*m);
    EXPECT_TRUE(torch::equal(m->forward(ids), plain->forward(ids)));
  }
  EXPECT_GT(max_abs_diff(m->forward(ids), plain->forward(ids)), 1e-3);
}

TEST(LoraPeftTest, RewardModelAdapterLoadsInPeftAsASequenceClassifier) {
  const std::string base = fixture("llama2");  // a policy: the score head is fresh, saved in modules_to_save
  auto ids = load_tensor(base + "/expected.safetensors", "ids");
  torch::manual_seed(5);
  auto m = model::load_score_model(base, {}, /*allow_new_head=*/true, 1);
  model::LoraOptions o = all_targets(4, 16.0);
  o.target_modules = {"q_proj", "v_proj", "up_proj"};
  model::add_lora(*m, o, {"score"});
  for (auto& p : m->named_parameters()) {
    const bool adapter = p.key().find(".lora_") != std::string::npos || p.key() == "score.weight";
    EXPECT_EQ(p.value().requires_grad(), adapter) << p.key();
  }
  randomise_b(*m, 12);
  const std::string adapter = temp_dir("lora_rm") + "/a";
  model::save_lora_adapter(*m, {base, "SEQ_CLS", o, {"score"}}, adapter);
  torch::NoGradGuard ng;
  auto scores = m->forward(ids).unsqueeze(-1);  // [B,T,1]
  auto want = load_tensor(run_peft_load(adapter, ids, true), "logits");
  EXPECT_LE(max_abs_diff(scores, want), 1e-4);
  auto merged = model::load_score_model(adapter, {}, false, 1);
  EXPECT_LE(max_abs_diff(merged->forward(ids).unsqueeze(-1), want), 1e-4);
}

// A PRM's adapter (two-label bias-free head) loads in PEFT as a token classifier with rleif's logits.
TEST(LoraPeftTest, PrmAdapterLoadsInPeftAsATokenClassifier) {
  const std::string base = fixture("qwen2");
  auto ids = load_tensor(base + "/expected.safetensors", "ids");
  torch::manual_seed(6);
  auto m = model::load_score_model(base, {}, /*allow_new_head=*/true, 2);
  model::LoraOptions o = all_targets(3, 6.0);
  model::add_lora(*m, o, {"score"});
  randomise_b(*m, 13);
  const std::string adapter = temp_dir("lora_prm") + "/a";
  model::save_lora_adapter(*m, {base, "TOKEN_CLS", o, {"score"}}, adapter);
  torch::NoGradGuard ng;
  auto want = load_tensor(run_peft_load(adapter, ids, false, {"--token-cls", "--num-labels", "2"}), "logits");
  EXPECT_LE(max_abs_diff(m->forward(ids), want), 1e-4);  // [B,T,2]
}

TEST(LoraPeftTest, BadAdaptersAreRefusedWithTheirFile) {
  const std::string base = fixture("llama2");
  auto m = model::load_causal_lm(base);
  model::LoraOptions o = all_targets(2, 4.0);
  o.target_modules = {"nothing_here"};
  EXPECT_THROW(model::add_lora(*m, o), Error);
  o.target_modules = {"q_proj"};
  model::add_lora(*m, o);
  const std::string adapter = temp_dir("lora_bad") + "/a";
  model::save_lora_adapter(*m, {base, "CAUSAL_LM", o, {}}, adapter);
  // Another rank: shapes differ.
  auto other = model::load_causal_lm(base);
  model::LoraOptions o3 = o;
  o3.r = 3;
  model::add_lora(*other, o3);
  try {
    model::load_lora_adapter(*other, adapter);
    ADD_FAILURE() << "a rank-2 adapter loaded into rank-3 layers";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adapter_model.safetensors"), std::string::npos) << e.what();
  }
  // DoRA and regex targets are refused by name.
  std::string cfg = read_file(adapter + "/adapter_config.json");
  json j = json::parse(cfg);
  j["use_dora"] = true;
  write_file_atomic(adapter + "/adapter_config.json", j.dump());
  EXPECT_THROW(model::AdapterConfig::load(adapter), Error);
  j["use_dora"] = false;
  j["target_modules"] = ".*proj";
  write_file_atomic(adapter + "/adapter_config.json", j.dump());
  EXPECT_THROW(model::AdapterConfig::load(adapter), Error);
}

}  // namespace
}  // namespace rleif::test
