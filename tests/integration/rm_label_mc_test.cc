// rm label-mc on the rollout engine with a tiny policy built by hand in the test (a math-domain
// tokenizer and a 2-layer Llama turned into a bigram table that answers 7 or 3 at random): the output
// has the prm_steps shape in input order with consistent hard/soft labels and the last step labelled by the solution's own answer; a run SIGKILLed
// partway and started again, and a limited run extended to the whole input, both end with the bytes
// of an uninterrupted run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "core/fs.h"
#include "core/strings.h"
#include "evol/math_domain.h"
#include "model/hf_io.h"
#include "model/tokenizer.h"
#include "rm/label_mc.h"
#include "tests/test_util.h"
#include "train/domain_tokenizer.h"
#include "train/sft_data.h"

namespace rleif::rm {
namespace {

// A policy built by hand: attention and MLP outputs are zeroed, so the residual stream is the current
// token's embedding and the model is a bigram table. After "\n" it writes "The answer is: " and then
// "7" or "3" with probability 1/2 each, then EOS; every other token is followed by EOS. The truth is 7,
// so each rolled-out prefix hits it with probability 1/2 per completion and the labels depend on the
// request seeds.
void make_bigram_policy(const std::string& tok_dir, const std::string& out) {
  auto tok = Tokenizer::from_file(tok_dir + "/tokenizer.json");
  const auto nl = tok.encode("\n", false), a7 = tok.encode("The answer is: 7", false),
             a3 = tok.encode("The answer is: 3", false);
  ASSERT_EQ(nl.size(), 1u);
  ASSERT_EQ(a7.size(), a3.size());
  const size_t m = a7.size() - 1;  // the chain is a7[0..m-1], then the digit
  ASSERT_TRUE(std::equal(a7.begin(), a7.begin() + static_cast<std::ptrdiff_t>(m), a3.begin()));
  ASSERT_NE(a7[m], a3[m]);
  const int64_t H = 32, eos = 2;
  json cfg{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 512},
           {"hidden_size", H}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
           {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 512},
           {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
           {"bos_token_id", 1}, {"eos_token_id", eos}};
  torch::manual_seed(17);
  model::CausalLM lm(model::ModelConfig::from_json(cfg, "test config"));
  torch::NoGradGuard ng;
  auto params = lm->named_parameters();
  for (auto& p : params)
    if (p.key().find("o_proj") != std::string::npos || p.key().find("down_proj") != std::string::npos) p.value().zero_();
  torch::Tensor E = params["model.embed_tokens.weight"], W = params["lm_head.weight"];  // [V,H] each
  const double scale = std::sqrt(static_cast<double>(H));  // RMSNorm(scale * e_j) = scale * e_j
  E.zero_();
  E.select(1, H - 1).fill_(scale);  // slot H-1: every other token
  W.zero_();
  W[eos][H - 1] = 30.0 / scale;
  std::vector<int32_t> chain{nl[0]};
  chain.insert(chain.end(), a7.begin(), a7.begin() + static_cast<std::ptrdiff_t>(m));
  ASSERT_LT(chain.size() + 2, static_cast<size_t>(H));
  auto state = [&](int32_t token, int64_t slot, std::vector<int32_t> next) {
    E[token].zero_();
    E[token][slot] = scale;
    for (int32_t t : next) W[t][slot] = 30.0 / scale;  // logit 30 each: the rest have e^-30 of the mass
  };
  for (size_t i = 0; i < chain.size(); ++i)
    state(chain[i], static_cast<int64_t>(i), i + 1 < chain.size() ? std::vector<int32_t>{chain[i + 1]}
                                                                   : std::vector<int32_t>{a7[m], a3[m]});
  state(a7[m], static_cast<int64_t>(chain.size()), {eos});
  state(a3[m], static_cast<int64_t>(chain.size() + 1), {eos});
  model::save_causal_lm(lm, out, tok_dir);
  train::write_model_template(out, train::PromptTemplate::plain);
}

class LabelMcEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);  // no thread pool in this process, so the resume test can fork
    root_ = new std::string(test::temp_dir("label_mc_engine"));
    std::vector<std::string> corpus;
    for (const auto& p : evol::generate_problems(300, 3, 1, 4)) corpus.push_back(p.question + "\n" + p.solution);
    train::DomainTokenizerOptions to;
    to.vocab_size = 512;
    make_dirs(*root_ + "/tok");
    write_file_atomic(*root_ + "/tok/tokenizer.json", train::build_domain_tokenizer(corpus, to).dump());
    make_bigram_policy(*root_ + "/tok", *root_ + "/policy");

    // 20 problems with 1-3 steps before the answer line; sample 0 is right (7), sample 1 wrong (4).
    std::ofstream f(*root_ + "/solutions.jsonl");
    const std::vector<std::string> lines{"First we look.", "Then we add 2 + 2 = 4.", "So it is done."};
    for (size_t i = 0; i < 20; ++i) {
      std::string body;
      for (size_t k = 0; k <= i % 3; ++k) body += lines[k] + "\n";
      json rec{{"id", "q" + std::to_string(i)}, {"prompt", "Question " + std::to_string(i) + ": what is it?"},
               {"answer", 7}, {"samples", {{{"text", body + "The answer is: 7"}}, {{"text", body + "The answer is: 4"}}}}};
      f << rec.dump() << "\n";
    }
  }
  static void TearDownTestSuite() { delete root_; }

  static LabelMcConfig config(const std::string& output) {
    LabelMcConfig c;
    c.model = *root_ + "/policy";
    c.input = *root_ + "/solutions.jsonl";
    c.output = output;
    c.n = 3;
    c.temperature = 1.0;
    c.top_k = 40;  // the filtered draw is an exponential race: rounding noise between batches cannot move it
    c.max_new_tokens = 12;
    c.batch = 8;
    c.threads = 1;
    c.device = "cpu";
    c.seed = 5;
    return c;
  }
  // The uninterrupted run's bytes (computed once).
  static const std::string& straight() {
    static std::string bytes;
    if (bytes.empty()) {
      const std::string out = *root_ + "/straight.jsonl";
      EXPECT_EQ(run_label_mc(config(out), "n: 3\n"), 0);
      bytes = read_file(out);
    }
    return bytes;
  }
  static std::string* root_;
};
std::string* LabelMcEngine::root_ = nullptr;

TEST_F(LabelMcEngine, WritesPrmStepsInInputOrder) {
  const std::string& bytes = straight();
  EXPECT_EQ(read_file(*root_ + "/straight.jsonl.config.yaml"), "n: 3\n");
  auto rows = read_jsonl(*root_ + "/straight.jsonl");
  ASSERT_EQ(rows.size(), 40u) << bytes;
  int rolled = 0, partial = 0, misses = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const json& row = rows[r];
    EXPECT_EQ(row["source_id"], "q" + std::to_string(r / 2));
    EXPECT_EQ(row["sample"], r % 2);
    EXPECT_EQ(row["n"], 3);
    const auto steps = row["steps"].get<std::vector<std::string>>();
    const auto labels = row["labels"].get<std::vector<float>>(), hard = row["hard"].get<std::vector<float>>(),
               soft = row["soft"].get<std::vector<float>>();
    ASSERT_EQ(steps.size(), r / 2 % 3 + 2);
    ASSERT_EQ(hard.size(), steps.size());
    ASSERT_EQ(soft.size(), steps.size());
    EXPECT_EQ(labels, hard);
    EXPECT_EQ(steps.back().rfind("The answer is: ", 0), 0u);
    // The last step is the solution's own answer: right for the true solution, wrong for the other.
    EXPECT_EQ(hard.back(), r % 2 == 0 ? 1.0f : 0.0f);
    for (size_t s = 0; s < steps.size(); ++s) {
      EXPECT_TRUE(hard[s] == 0.0f || hard[s] == 1.0f);
      EXPECT_GE(hard[s], soft[s]);
      EXPECT_EQ(hard[s] > 0, soft[s] > 0);
      const float k = soft[s] * 3;
      EXPECT_NEAR(k, std::round(k), 1e-5);  // a fraction of the n completions
      if (s + 1 < steps.size()) {
        ++rolled;
        partial += soft[s] > 0 && soft[s] < 1 ? 1 : 0;
        misses += hard[s] == 0 ? 1 : 0;
      }
    }
  }
  // The policy reaches 7 with probability 1/2: with n = 3 most rolled-out steps get 1/3 or 2/3,
  // some get 0 (all three miss, 1/8) and some 1.
  EXPECT_EQ(rolled, 78);
  EXPECT_GT(partial, 40);
  EXPECT_GT(misses, 0);
  EXPECT_LT(misses, 30);
}

TEST_F(LabelMcEngine, SigkillThenRerunEqualsUninterruptedRun) {
  const std::string& want = straight();
  const std::string out = *root_ + "/killed.jsonl";
  pid_t pid = ::fork();
  if (pid == 0) {
    try {
      run_label_mc(config(out));
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  // Kill as soon as the first line is out: a run in the middle of its work.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    if (path_exists(out) && read_file(out).find('\n') != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before the kill (exit " << WEXITSTATUS(status) << ")";
  const std::string partial = read_file(out);
  const size_t whole = partial.rfind('\n') + 1;
  EXPECT_GT(whole, 0u);
  EXPECT_LT(whole, want.size());
  EXPECT_EQ(partial.substr(0, whole), want.substr(0, whole));
  ASSERT_EQ(run_label_mc(config(out)), 0);
  EXPECT_EQ(read_file(out), want);
}

TEST_F(LabelMcEngine, LimitedRunExtendedEqualsUninterruptedRun) {
  const std::string& want = straight();
  LabelMcConfig c = config(*root_ + "/limited.jsonl");
  c.limit = 5;
  c.batch = 3;  // other batch shapes too
  ASSERT_EQ(run_label_mc(c), 0);
  EXPECT_EQ(read_jsonl(c.output).size(), 10u);
  c.limit = 0;
  c.batch = 16;
  ASSERT_EQ(run_label_mc(c), 0);
  EXPECT_EQ(read_file(c.output), want);
}

}  // namespace
}  // namespace rleif::rm
