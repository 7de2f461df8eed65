// SFT data: WizardMath's template, the loss mask (response tokens and EOS only), batching, the loss
// head (zero gradient on prompt positions), and clear errors for malformed records.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

#include "core/fs.h"
#include "tests/test_util.h"
#include "train/domain_tokenizer.h"
#include "train/sft.h"
#include "train/sft_data.h"

namespace rleif::train {
namespace {

const char* kPrompt = "Ava has 12 marbles. Ben has 5 more marbles than Ava. How many marbles does Ben have?";
const char* kResponse = "Ben has 12 + 5 = 17 marbles.\nThe answer is: 17";

class SftData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("sftdata");
    std::vector<std::string> corpus;
    for (int i = 0; i < 3; ++i) {
      corpus.push_back(render_prompt(PromptTemplate::alpaca, kPrompt));
      corpus.push_back(kResponse);
    }
    write_file_atomic(dir_ + "/tokenizer.json", build_domain_tokenizer(corpus, {}).dump());
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(dir_ + "/tokenizer.json"));
  }
  std::string write(const std::string& name, const std::vector<std::string>& lines) {
    std::string text;
    for (auto& l : lines) text += l + "\n";
    write_file_atomic(dir_ + "/" + name, text);
    return dir_ + "/" + name;
  }
  std::string record(const std::string& prompt, const std::string& response) {
    return json{{"prompt", prompt}, {"response", response}}.dump();
  }
  // The error message load_sft_data throws, or "" when it does not throw.
  std::string error_of(const std::string& path, SftDataOptions o = {}) {
    try {
      load_sft_data(path, *tok_, 2, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::string dir_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(SftData, AlpacaTemplateIsWizardMaths) {
  EXPECT_EQ(render_prompt(PromptTemplate::alpaca, "What is 2+2?"),
            "Below is an instruction that describes a task. Write a response that appropriately completes the request."
            "\n\n### Instruction:\nWhat is 2+2?\n\n### Response:");
  EXPECT_EQ(render_prompt(PromptTemplate::alpaca_cot, "Q"),
            render_prompt(PromptTemplate::alpaca, "Q") + " Let's think step by step.");
}

TEST_F(SftData, LossMaskCoversResponseAndEosOnly) {
  auto path = write("a.jsonl", {record(kPrompt, kResponse)});
  SftDataOptions o;
  SftDataset ds = load_sft_data(path, *tok_, 2, o);
  ASSERT_EQ(ds.examples.size(), 1u);
  const SftExample& ex = ds.examples[0];
  auto prompt_ids = tok_->encode(render_prompt(PromptTemplate::alpaca, kPrompt), true);
  auto response_ids = tok_->encode(kResponse, false);
  std::vector<int32_t> want = prompt_ids;
  want.insert(want.end(), response_ids.begin(), response_ids.end());
  want.push_back(2);
  EXPECT_EQ(ex.ids, want);
  std::vector<int32_t> trained, untrained;
  for (size_t t = 0; t < ex.ids.size(); ++t) (ex.target[t] ? trained : untrained).push_back(ex.ids[t]);
  EXPECT_EQ(tok_->decode(trained), std::string(kResponse) + "</s>");
  EXPECT_EQ(tok_->decode(untrained), "<s>" + render_prompt(PromptTemplate::alpaca, kPrompt));
  EXPECT_EQ(ex.n_targets, static_cast<int64_t>(response_ids.size()) + 1);
  EXPECT_EQ(ds.stats.target_tokens, ex.n_targets);
}

TEST_F(SftData, BatchTargetsAreNextTokensOnResponsePositions) {
  auto path = write("b.jsonl", {record(kPrompt, kResponse), record("Ben has 5 marbles.", "The answer is: 5")});
  SftDataset ds = load_sft_data(path, *tok_, 2, SftDataOptions{});
  SftBatcher b(ds, 2, Batching::random, 512, 1, 0, 1);
  ASSERT_EQ(b.size(), 1);
  SftBatch batch = b.batch(0);
  ASSERT_EQ(batch.ids.size(0), 2);
  EXPECT_EQ(batch.n_targets, ds.examples[0].n_targets + ds.examples[1].n_targets);
  EXPECT_EQ((batch.targets != -100).sum().item<int64_t>(), batch.n_targets);
  for (int64_t r = 0; r < 2; ++r) {
    // Find which example this row is.
    const SftExample* ex = nullptr;
    for (auto& e : ds.examples)
      if (batch.ids[r][0].item<int64_t>() == e.ids[0] && static_cast<int64_t>(e.ids.size()) <= batch.ids.size(1) &&
          batch.ids[r][static_cast<int64_t>(e.ids.size()) - 1].item<int64_t>() == e.ids.back() &&
          (batch.targets[r] != -100).sum().item<int64_t>() == e.n_targets)
        ex = &e;
    ASSERT_NE(ex, nullptr);
    for (int64_t t = 0; t + 1 < static_cast<int64_t>(ex->ids.size()); ++t) {
      const int64_t want = ex->target[static_cast<size_t>(t + 1)] ? ex->ids[static_cast<size_t>(t + 1)] : -100;
      EXPECT_EQ(batch.targets[r][t].item<int64_t>(), want) << "row " << r << " position " << t;
    }
    for (int64_t t = static_cast<int64_t>(ex->ids.size()) - 1; t < batch.ids.size(1); ++t)
      EXPECT_EQ(batch.targets[r][t].item<int64_t>(), -100) << "padding must carry no loss";
  }
}

TEST_F(SftData, LossHeadPutsZeroGradientOnPromptPositions) {
  json cfg{{"model_type", "llama"}, {"vocab_size", tok_->vocab_size()}, {"hidden_size", 16},
           {"intermediate_size", 32}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
           {"num_key_value_heads", 2}, {"max_position_embeddings", 256}};
  torch::manual_seed(0);
  model::CausalLM m(model::ModelConfig::from_json(cfg, "test"));
  // targets [2,5]: loss on (0,2), (0,3), (1,4); everything else is prompt or padding.
  torch::Tensor targets = torch::full({2, 5}, -100, torch::kInt64);
  targets[0][2] = 7;
  targets[0][3] = 9;
  targets[1][4] = 3;
  torch::Tensor hidden = torch::randn({2, 5, 16}, torch::requires_grad());
  torch::Tensor loss = SftTask::masked_lm_loss(m, hidden, targets);
  loss.backward();
  torch::Tensor g = hidden.grad().abs().sum(-1);  // [2,5]
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 5; ++t) {
      if (targets[b][t].item<int64_t>() == -100) EXPECT_EQ(g[b][t].item<float>(), 0.0f) << b << "," << t;
      else EXPECT_GT(g[b][t].item<float>(), 0.0f) << b << "," << t;
    }
  // And it is the summed cross-entropy of the full logits with the prompt ignored.
  torch::Tensor full = torch::nn::functional::cross_entropy(
      m->logits(hidden).reshape({10, -1}), targets.reshape({10}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
  EXPECT_NEAR(loss.item<double>(), full.item<double>(), 1e-5);
}

TEST_F(SftData, GradientCheckpointingGivesTheSameGradients) {
  json cfg{{"model_type", "llama"}, {"vocab_size", tok_->vocab_size()}, {"hidden_size", 32},
           {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
           {"num_key_value_heads", 2}, {"max_position_embeddings", 256}};
  auto path = write("gc.jsonl", {record(kPrompt, kResponse), record("Ben has 5 marbles.", "The answer is: 5")});
  SftDataset ds = load_sft_data(path, *tok_, 2, SftDataOptions{});
  SftBatch b = SftBatcher(ds, 2, Batching::random, 512, 1, 0, 1).batch(0);
  std::vector<std::vector<torch::Tensor>> grads;
  for (bool on : {false, true}) {
    torch::manual_seed(0);
    model::CausalLM m(model::ModelConfig::from_json(cfg, "test"));
    init_fresh_weights(m);
    m->train();
    m->model->set_gradient_checkpointing(on);
    SftTask::batch_loss(m, b, torch::kCPU).backward();
    std::vector<torch::Tensor> g;
    for (auto& p : m->parameters()) g.push_back(p.grad().clone());
    grads.push_back(g);
  }
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_TRUE(torch::allclose(grads[0][i], grads[1][i], 1e-5, 1e-6)) << i;
}

// On the CPU batch_loss drops the padding and runs the rows packed; loss and gradients are those of
// the padded batch through the plain forward.
TEST_F(SftData, PaddingFreeBatchLossEqualsThePaddedBatch) {
  json cfg{{"model_type", "llama"}, {"vocab_size", tok_->vocab_size()}, {"hidden_size", 32},
           {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
           {"num_key_value_heads", 2}, {"max_position_embeddings", 256}};
  auto path = write("pf.jsonl", {record(kPrompt, kResponse), record("Ben has 5 marbles.", "The answer is: 5"),
                                 record("Cy has 3 cats.", "3 + 0 = 3\nThe answer is: 3")});
  SftDataset ds = load_sft_data(path, *tok_, 2, SftDataOptions{});
  SftBatch b = SftBatcher(ds, 3, Batching::random, 512, 1, 0, 1).batch(0);
  ASSERT_EQ(b.lengths.size(), 3u);
  ASSERT_LT(*std::min_element(b.lengths.begin(), b.lengths.end()), b.ids.size(1)) << "the batch must have padding";
  torch::manual_seed(0);
  model::CausalLM m(model::ModelConfig::from_json(cfg, "test"));
  init_fresh_weights(m);
  m->train();
  ASSERT_TRUE(m->model->packed_is_fast(b.ids.size(1)));
  auto grads = [&](const torch::Tensor& loss) {
    loss.backward();
    std::vector<torch::Tensor> g;
    for (auto& p : m->parameters()) g.push_back(p.grad().clone()), p.mutable_grad().zero_();
    return g;
  };
  torch::Tensor packed = SftTask::batch_loss(m, b, torch::kCPU);
  const double packed_value = packed.item<double>();
  auto g_packed = grads(packed);
  torch::Tensor padded = SftTask::masked_lm_loss(m, m->model->forward(b.ids), b.targets);
  EXPECT_NEAR(packed_value, padded.item<double>(), 1e-4 * std::abs(packed_value));
  auto g_padded = grads(padded);
  for (size_t i = 0; i < g_packed.size(); ++i)
    EXPECT_TRUE(torch::allclose(g_packed[i], g_padded[i], 1e-4, 1e-6)) << "parameter " << i;
}

TEST_F(SftData, ModelDirectoryRecordsItsPromptTemplate) {
  const std::string m = test::temp_dir("sftmodel");
  EXPECT_FALSE(read_model_template(m).has_value()) << "no record: the caller's default applies";
  write_model_template(m, PromptTemplate::plain);
  EXPECT_EQ(read_model_template(m), PromptTemplate::plain);
  write_model_template(m, PromptTemplate::chatml);
  EXPECT_EQ(read_model_template(m), PromptTemplate::chatml);
  write_file_atomic(m + "/rleif_prompt.json", "{\"template\": \"alpacca\"}");
  try {
    read_model_template(m);
    ADD_FAILURE() << "an unknown template name must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rleif_prompt.json"), std::string::npos) << e.what();
  }
  write_file_atomic(m + "/rleif_prompt.json", "{not json");
  EXPECT_THROW(read_model_template(m), Error);
}

TEST_F(SftData, MissingFieldIsAnErrorNamingFileAndLine) {
  auto path = write("missing.jsonl", {record(kPrompt, kResponse), json{{"prompt", kPrompt}}.dump()});
  std::string e = error_of(path);
  EXPECT_NE(e.find("missing.jsonl:2: missing required field 'response'"), std::string::npos) << e;
  auto both = write("neither.jsonl", {json{{"text", "x"}}.dump()});
  e = error_of(both);
  EXPECT_NE(e.find("neither.jsonl:1: missing required fields 'prompt' and 'response'"), std::string::npos) << e;
  auto typed = write("typed.jsonl", {json{{"prompt", 3}, {"response", "x"}}.dump()});
  e = error_of(typed);
  EXPECT_NE(e.find("typed.jsonl:1: field 'prompt' must be a string"), std::string::npos) << e;
}

TEST_F(SftData, EmptyResponseIsAnError) {
  auto path = write("empty.jsonl", {record(kPrompt, "  \n")});
  std::string e = error_of(path);
  EXPECT_NE(e.find("empty.jsonl:1: 'response' is empty"), std::string::npos) << e;
}

TEST_F(SftData, MalformedJsonIsAnErrorOrSkippedAndCounted) {
  auto path = write("bad.jsonl", {record(kPrompt, kResponse), "{not json", record(kPrompt, ""),
                                  record(kPrompt, kResponse)});
  std::string e = error_of(path);
  EXPECT_NE(e.find("bad.jsonl:2"), std::string::npos) << e;
  SftDataOptions o;
  o.on_error = OnError::skip;
  SftDataset ds = load_sft_data(path, *tok_, 2, o);
  EXPECT_EQ(ds.examples.size(), 2u);
  EXPECT_EQ(ds.stats.bad, 2);
  EXPECT_NE(ds.stats.summary().find("2 malformed skipped"), std::string::npos) << ds.stats.summary();
}

TEST_F(SftData, OverlongRecordsErrorTruncateOrSkip) {
  auto path = write("long.jsonl", {record(kPrompt, kResponse), record("Ben has 5 marbles.", "The answer is: 5")});
  const int64_t full = static_cast<int64_t>(load_sft_data(path, *tok_, 2, SftDataOptions{}).examples[0].ids.size());
  SftDataOptions o;
  o.max_length = full - 3;
  o.overlong = Overlong::error;
  std::string e = error_of(path, o);
  EXPECT_NE(e.find("long.jsonl:1: the example is " + std::to_string(full) + " tokens"), std::string::npos) << e;
  EXPECT_NE(e.find("longer than data.max_length = " + std::to_string(full - 3)), std::string::npos) << e;

  o.overlong = Overlong::truncate;
  SftDataset t = load_sft_data(path, *tok_, 2, o);
  ASSERT_EQ(t.examples.size(), 2u);
  EXPECT_EQ(t.stats.truncated, 1);
  EXPECT_EQ(static_cast<int64_t>(t.examples[0].ids.size()), full - 3);

  o.overlong = Overlong::skip;
  SftDataset s = load_sft_data(path, *tok_, 2, o);
  EXPECT_EQ(s.examples.size(), 1u);
  EXPECT_EQ(s.stats.overlong_skipped, 1);

  // A prompt that alone fills max_length cannot be truncated into a useful example.
  o.overlong = Overlong::truncate;
  o.max_length = 10;
  SftDataset p = load_sft_data(path, *tok_, 2, o);
  EXPECT_EQ(p.stats.overlong_skipped, 2);
}

TEST_F(SftData, MessagesRecords) {
  json m{{"messages", {{{"role", "user"}, {"content", kPrompt}}, {{"role", "assistant"}, {"content", kResponse}}}}};
  auto a = write("m.jsonl", {m.dump()});
  auto b = write("pr.jsonl", {record(kPrompt, kResponse)});
  EXPECT_EQ(load_sft_data(a, *tok_, 2, SftDataOptions{}).examples[0].ids,
            load_sft_data(b, *tok_, 2, SftDataOptions{}).examples[0].ids);

  json multi{{"messages",
              {{{"role", "system"}, {"content", "Be brief."}},
               {{"role", "user"}, {"content", "Ben has 5 marbles."}},
               {{"role", "assistant"}, {"content", "Yes."}},
               {{"role", "user"}, {"content", "How many?"}},
               {{"role", "assistant"}, {"content", "The answer is: 5"}}}}};
  auto c = write("multi.jsonl", {multi.dump()});
  std::string e = error_of(c);
  EXPECT_NE(e.find("template 'alpaca' takes one user turn then one assistant turn"), std::string::npos) << e;
  SftDataOptions o;
  o.prompt_template = PromptTemplate::chatml;
  SftDataset ds = load_sft_data(c, *tok_, 2, o);
  std::vector<int32_t> trained;
  for (size_t t = 0; t < ds.examples[0].ids.size(); ++t)
    if (ds.examples[0].target[t]) trained.push_back(ds.examples[0].ids[t]);
  EXPECT_EQ(tok_->decode(trained), "Yes.<|im_end|>The answer is: 5<|im_end|>");

  auto bad_role = write("role.jsonl", {json{{"messages", {{{"role", "bot"}, {"content", "x"}}}}}.dump()});
  e = error_of(bad_role);
  EXPECT_NE(e.find("role.jsonl:1: messages[0].role is 'bot'"), std::string::npos) << e;
}

TEST_F(SftData, BucketBatchesAreDeterministicPerEpochAndCoverEveryExample) {
  std::vector<std::string> lines;
  for (int i = 0; i < 40; ++i) {
    std::string p = "Ava has " + std::to_string(i) + " marbles.";
    for (int k = 0; k < i % 7; ++k) p += " Ben has 5 more marbles than Ava.";
    lines.push_back(record(p, "The answer is: " + std::to_string(i)));
  }
  auto path = write("many.jsonl", lines);
  SftDataset ds = load_sft_data(path, *tok_, 2, SftDataOptions{});
  auto epoch_batches = [&](int64_t epoch) {
    SftBatcher b(ds, 4, Batching::bucket, 512, 5, 0, 3);
    b.start_epoch(epoch);
    std::vector<std::vector<int64_t>> out;
    for (int64_t i = 0; i < b.size(); ++i) {
      SftBatch x = b.batch(i);
      out.push_back(std::vector<int64_t>(x.ids.data_ptr<int64_t>(), x.ids.data_ptr<int64_t>() + x.ids.numel()));
    }
    return std::make_pair(b.size(), out);
  };
  auto [n0, e0] = epoch_batches(0);
  auto [n0b, e0b] = epoch_batches(0);
  auto [n1, e1] = epoch_batches(1);
  EXPECT_EQ(n0, 10);
  EXPECT_EQ(n1, 10);
  EXPECT_EQ(e0, e0b);
  EXPECT_NE(e0, e1);
  // Within a bucket window the lengths are sorted, so a batch wastes little on padding.
  SftBatcher b(ds, 4, Batching::bucket, 512, 5, 0, 3);
  int64_t real = 0, padded = 0;
  for (int64_t i = 0; i < b.size(); ++i) {
    real += b.n_tokens(i);
    padded += b.batch(i).ids.numel();
  }
  SftBatcher r(ds, 4, Batching::random, 512, 5, 0, 3);
  int64_t padded_random = 0;
  for (int64_t i = 0; i < r.size(); ++i) padded_random += r.batch(i).ids.numel();
  EXPECT_LT(padded - real, padded_random - real);
}

TEST_F(SftData, PackedRowsFitMaxLengthAndKeepEveryTarget) {
  std::vector<std::string> lines;
  for (int i = 0; i < 30; ++i) lines.push_back(record("Ava has " + std::to_string(i) + " marbles.", "The answer is: 1"));
  auto path = write("pack.jsonl", lines);
  SftDataset ds = load_sft_data(path, *tok_, 2, SftDataOptions{});
  int64_t targets = 0;
  for (auto& e : ds.examples) targets += e.n_targets;
  SftBatcher b(ds, 2, Batching::pack, 100, 1, 0, 5);
  int64_t got = 0;
  for (int64_t i = 0; i < b.size(); ++i) {
    SftBatch x = b.batch(i);
    EXPECT_LE(x.ids.size(1), 100);
    got += x.n_targets;
  }
  EXPECT_EQ(got, targets);
  EXPECT_LT(b.size() * 2, static_cast<int64_t>(ds.examples.size()));
}

}  // namespace
}  // namespace rleif::train
