// LoRA runs of the shared trainer: SFT and a reward model train only their adapters (and the RM's
// score head, or a likelihood PRM's scale and bias), save PEFT adapter directories that load anywhere a model does (merged), resume from
// an adapter checkpoint to the same weights as an uninterrupted run, merge on request
// (lora.merge_on_save), and refuse configurations that cannot work.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "model/hf_io.h"
#include "model/lora_io.h"
#include "rm/losses.h"
#include "rm/scorer.h"
#include "rm/task.h"
#include "rm/verifier.h"
#include "train/sft.h"
#include "tests/rm_util.h"
#include "tests/test_util.h"

namespace rleif::test {
namespace {

class LoraTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("lora_train");
    tok_ = write_math_tokenizer(dir_);
    // The base: a tiny policy with random weights, saved as a Hugging Face directory.
    const std::string cfg = write_tiny_config(dir_);
    torch::manual_seed(1);
    model::CausalLM lm(model::ModelConfig::from_json(json::parse(read_file(cfg)), cfg));
    train::init_fresh_weights(lm, 0.05);
    base_ = dir_ + "/base";
    model::save_causal_lm(lm, base_, parent_dir(tok_));
    std::vector<json> sft;
    for (const auto& r : math_prm_records(48, 3)) {
      std::string resp;
      for (const auto& s : r["steps"]) resp += s.get<std::string>() + "\n";
      sft.push_back(json{{"prompt", r["prompt"]}, {"response", resp}});
    }
    sft_data_ = write_records(dir_ + "/sft.jsonl", sft);
    prm_data_ = write_records(dir_ + "/prm.jsonl", math_prm_records(32, 4));
  }

  train::SftConfig sft_config(const std::string& out, int64_t steps) const {
    train::SftConfig c;
    c.model.path = base_;
    c.data.train = sft_data_;
    c.optim.lr = 1e-2;
    c.train.output_dir = out;
    c.train.max_steps = steps;
    c.train.batch_size = 8;
    c.train.threads = 1;
    c.train.deterministic = true;
    c.train.log_every_s = 1000;
    c.eval.samples = 0;
    c.lora.r = 4;
    c.lora.alpha = 8;
    c.lora.target_modules = {"q_proj", "v_proj", "down_proj"};
    return c;
  }

  // A PRM with LoRA (r 2) on the base, 4 steps.
  rm::RmConfig prm_config(const std::string& out) const {
    rm::RmConfig c;
    c.model.path = base_;
    c.data.kind = rm::RmKind::prm;
    c.data.train = prm_data_;
    c.optim.lr = 1e-2;
    c.train.output_dir = out;
    c.train.max_steps = 4;
    c.train.batch_size = 8;
    c.train.threads = 1;
    c.train.log_every_s = 1000;
    c.lora.r = 2;
    c.lora.alpha = 4;
    return c;
  }

  std::string dir_, tok_, base_, sft_data_, prm_data_;
};

// Every parameter of `a` equals `b`'s (same names), bit for bit.
void expect_equal_params(torch::nn::Module& a, torch::nn::Module& b, const std::string& what) {
  auto pb = b.named_parameters();
  for (auto& p : a.named_parameters()) {
    ASSERT_NE(pb.find(p.key()), nullptr) << what << ": " << p.key();
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << what << ": " << p.key();
  }
}

TEST_F(LoraTrain, SftTrainsOnlyTheAdapterAndResumesBitwise) {
  auto whole = train::run_sft(sft_config(dir_ + "/whole", 6), "cfg");
  ASSERT_EQ(whole.status, train::TrainStatus::completed);
  const std::string out = whole.model_dir;
  EXPECT_TRUE(path_present(out + "/adapter_config.json"));
  EXPECT_TRUE(path_present(out + "/adapter_model.safetensors"));
  EXPECT_FALSE(path_present(out + "/config.json")) << "an adapter directory must not look like a full model";
  EXPECT_TRUE(path_present(out + "/tokenizer.json"));
  auto ac = model::AdapterConfig::load(out);
  EXPECT_EQ(ac.task_type, "CAUSAL_LM");
  EXPECT_EQ(ac.lora.r, 4);
  EXPECT_TRUE(is_directory(ac.base_model));

  // The adapter learned something; the base it names is untouched (it was frozen).
  auto base = model::load_causal_lm(base_);
  auto merged = model::load_causal_lm(out);
  auto m = model::load_causal_lm(base_);
  model::load_lora_adapter(*m, out);
  double delta = 0;
  for (auto& p : m->named_parameters())
    if (p.key().find(".lora_B.") != std::string::npos) delta += p.value().abs().sum().item<double>();
  EXPECT_GT(delta, 0) << "B stayed zero: the adapters did not train";
  {
    auto ids = torch::arange(1, 13, torch::kInt64).view({2, 6});
    torch::NoGradGuard ng;
    EXPECT_LE((merged->forward(ids) - m->forward(ids)).abs().max().item<double>(), 1e-4);
    EXPECT_GT((m->forward(ids) - base->forward(ids)).abs().max().item<double>(), 1e-4);
    model::LoraDisabled off(*m);
    EXPECT_TRUE(torch::equal(m->forward(ids), base->forward(ids)));
  }

  // A run stopped after its step-3 checkpoint (an adapter) and resumed ends with the same adapter.
  auto split = sft_config(dir_ + "/split", 6);
  split.train.save_every = 3;
  ASSERT_EQ(train::run_sft(split, "cfg").status, train::TrainStatus::completed);
  ASSERT_TRUE(model::is_adapter_dir(dir_ + "/split/checkpoints/checkpoint-3"));
  remove_tree(dir_ + "/split/checkpoints/checkpoint-6");
  remove_tree(dir_ + "/split/model");
  auto rest = train::run_sft(split, "cfg");
  ASSERT_EQ(rest.status, train::TrainStatus::completed);
  EXPECT_EQ(read_file(out + "/adapter_model.safetensors"), read_file(rest.model_dir + "/adapter_model.safetensors"));

  // merge_on_save: the final model is a plain directory equal to the merged adapter.
  auto c = sft_config(dir_ + "/merged", 6);
  c.lora.merge_on_save = true;
  auto r = train::run_sft(c, "cfg");
  EXPECT_FALSE(path_present(r.model_dir + "/adapter_config.json"));
  auto plain = model::load_causal_lm(r.model_dir);
  expect_equal_params(*plain, *merged, "merge_on_save vs adapter directory");
}

TEST_F(LoraTrain, RewardModelTrainsAdapterAndHeadAndScoresFromItsDirectory) {
  rm::RmConfig c = prm_config(dir_ + "/prm");
  {
    rm::RmTask task(c);
    task.init_model("", torch::kCPU);
    for (auto& p : task.module().named_parameters()) {
      const bool trainable = p.key().find(".lora_") != std::string::npos || p.key() == "score.weight";
      EXPECT_EQ(p.value().requires_grad(), trainable) << p.key();
    }
  }
  auto r = rm::run_rm_train(c, "cfg");
  ASSERT_EQ(r.status, train::TrainStatus::completed);
  auto ac = model::AdapterConfig::load(r.model_dir);
  EXPECT_EQ(ac.task_type, "TOKEN_CLS");
  ASSERT_EQ(ac.modules_to_save, std::vector<std::string>{"score"});
  EXPECT_TRUE(path_present(r.model_dir + "/rleif_rm.json"));
  EXPECT_EQ(rm::RmInfo::load(r.model_dir).kind, rm::RmKind::prm);
  auto m = model::load_score_model(r.model_dir, {}, false, 2);  // merged: base + adapter + trained head
  EXPECT_EQ(m->cfg.num_labels, 2);
  // `rleif convert merge`'s path: a plain reward-model directory with the same weights.
  model::save_score_model(m, dir_ + "/prm_merged", "", torch::kFloat32, true);
  auto again = model::load_score_model(dir_ + "/prm_merged", {}, false, 2);
  expect_equal_params(*again, *m, "merged PRM");
}

// A likelihood PRM with LoRA: the adapters and the head's scale and bias train, nothing else; the
// directory is a CAUSAL_LM adapter with rleif_rm.json, and rm::Scorer scores from it exactly as the
// base with the adapter attached does.
TEST_F(LoraTrain, LikelihoodPrmTrainsAdapterScaleAndBiasAndScoresFromItsDirectory) {
  rm::RmConfig c = prm_config(dir_ + "/lprm");
  c.head.kind = rm::HeadKind::likelihood;
  double scale0 = 0;
  {
    rm::RmTask task(c);
    task.init_model("", torch::kCPU);
    for (auto& p : task.module().named_parameters()) {
      const bool trainable = p.key().find(".lora_") != std::string::npos || p.key() == "scale" || p.key() == "bias";
      EXPECT_EQ(p.value().requires_grad(), trainable) << p.key();
    }
    scale0 = task.net().likelihood->scale.item<double>();
  }
  auto r = rm::run_rm_train(c, "cfg");
  ASSERT_EQ(r.status, train::TrainStatus::completed);
  auto ac = model::AdapterConfig::load(r.model_dir);
  EXPECT_EQ(ac.task_type, "CAUSAL_LM");
  EXPECT_TRUE(ac.modules_to_save.empty());
  rm::RmInfo info = rm::RmInfo::load(r.model_dir);
  EXPECT_EQ(info.head, rm::HeadKind::likelihood);
  EXPECT_NE(info.scale, scale0) << "scale did not train";

  auto lm = model::load_causal_lm(base_);
  model::load_lora_adapter(*lm, r.model_dir);
  Tokenizer tok = Tokenizer::from_file(tok_);
  rm::LikelihoodVerifier v(lm, tok, rm::ScoredTokens::digits, info.scale, info.bias, 2);
  rm::Scorer scorer(r.model_dir);
  auto recs = math_prm_records(4, 9);
  std::vector<std::pair<std::string, std::vector<std::string>>> items;
  for (auto& rec : recs) items.emplace_back(rec["prompt"], rec["steps"].get<std::vector<std::string>>());
  auto got = scorer.score_steps(items);
  torch::NoGradGuard ng;
  for (size_t i = 0; i < items.size(); ++i) {
    rm::Encoded e = scorer.encoder().prompt_steps(items[i].first, items[i].second, "t");
    auto p = rm::step_probability(v->end_logits({&e}, torch::kCPU));
    ASSERT_EQ(got[i].steps.size(), static_cast<size_t>(p.numel()));
    for (int64_t s = 0; s < p.numel(); ++s) EXPECT_NEAR(got[i].steps[static_cast<size_t>(s)], p[s].item<double>(), 1e-5);
  }
}

TEST_F(LoraTrain, ImpossibleConfigurationsAreRefusedByKey) {
  auto c = sft_config(dir_ + "/bad", 2);
  c.model.path.clear();
  c.model.config = dir_ + "/config.json";
  c.model.tokenizer = tok_;
  try {
    train::SftTask t(c);
    ADD_FAILURE() << "LoRA on a model trained from scratch was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.path"), std::string::npos) << e.what();
  }
  c = sft_config(dir_ + "/bad", 2);
  c.lora.dropout = 0.1;
  c.train.gradient_checkpointing = true;
  EXPECT_THROW(train::SftTask t(c), Error);
  c = sft_config(dir_ + "/bad", 2);
  c.lora.alpha = 0;
  EXPECT_THROW(train::SftTask t(c), Error);
  c = sft_config(dir_ + "/bad", 2);
  c.lora.target_modules = {"lm_head"};
  EXPECT_THROW(train::run_sft(c, "cfg"), Error);
}

}  // namespace
}  // namespace rleif::test
