// The Monte-Carlo labeller's completer on the rollout engine: every step prefix is one request of n
// samples; the engine batches them continuously (rollout/engine.h) and seeds each request itself,
// so a continuation depends on (request seed, sample) only, not on what shares the batch.
//
// Tokens of a prefix: the rendered prompt (with BOS) followed by the steps text encoded on its own,
// the way SFT tokenises a prompt and its response (train/sft_data.cc) and generation continues one.
#include <chrono>
#include <filesystem>

#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/strings.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "model/tokenizer.h"
#include "rm/label_mc.h"
#include "rollout/engine.h"
#include "train/evaluate.h"
#include "train/runtime.h"
#include "train/sft_data.h"

namespace rleif::rm {
namespace {

class EngineCompleter : public McCompleter {
 public:
  explicit EngineCompleter(const LabelMcConfig& cfg) : cfg_(cfg) {}

  // Loads the policy here, not in the constructor, so bad input fails before a model is loaded and a
  // finished output loads none.
  void start(const std::vector<const McSolution*>& todo) override {
    const LabelMcConfig& cfg = cfg_;
    RLEIF_CHECK(is_directory(cfg.model), "rm label-mc: --model ", cfg.model, ": no such model directory");
    const std::string tok_path = (std::filesystem::path(cfg.model) / "tokenizer.json").string();
    RLEIF_CHECK(path_exists(tok_path), cfg.model, ": no tokenizer.json; copy the tokenizer into the model directory");
    train::configure_threads(static_cast<int>(cfg.threads));
    const torch::Device device = model::parse_device(cfg.device, "device");
    lm_ = model::load_causal_lm(cfg.model, {model::parse_torch_dtype(cfg.dtype, "dtype"), device});
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file(tok_path));
    if (cfg.prompt_template == "auto") {
      const auto recorded = train::read_model_template(cfg.model);
      template_ = recorded.value_or(train::PromptTemplate::alpaca);
      log_info("rm label-mc: prompt template ", enum_name(template_),
               recorded ? " (recorded by rleif sft in the model directory)" : " (the default; none recorded)");
    } else {
      template_ = parse_enum<train::PromptTemplate>(cfg.prompt_template, "rm label-mc: template");
    }
    params_.temperature = cfg.temperature;
    params_.top_p = cfg.top_p;
    params_.top_k = cfg.top_k;
    params_.max_new_tokens = cfg.max_new_tokens;
    params_.stop = cfg.stop;
    params_.stop_token_ids = train::stop_token_ids(*tok_, lm_->cfg);

    // Cache rows long enough for the longest rolled-out prefix (all steps but the last) plus the
    // completion; the whole solution is a cheap upper bound.
    size_t longest = 1;
    for (const McSolution* s : todo) longest = std::max(longest, tokens(*s, join(s->steps, "\n") + "\n").size());
    rollout::EngineOptions o;
    o.max_batch = cfg_.batch;
    o.max_len = std::min<int64_t>(lm_->cfg.max_position_embeddings,
                                  static_cast<int64_t>(longest) + cfg_.max_new_tokens);
    engine_ = std::make_unique<rollout::Engine>(lm_, tok_.get(), o);
    t0_ = std::chrono::steady_clock::now();
  }

  void submit(uint64_t tag, const McSolution& s, const std::string& prefix, int64_t n, int64_t seed) override {
    rollout::Request req{tokens(s, prefix), params_};
    req.params.n = n;
    req.params.seed = seed;
    const std::string why = engine_->check(req);
    RLEIF_CHECK(why.empty(), s.loc.str(), ": solution (id ", json(s.source_id).dump(), ", sample ", s.sample,
                "): a step prefix of ", req.prompt.size(), " tokens cannot be completed: ", why,
                "; lower max_new_tokens or drop the record");
    engine_->submit(std::move(req), {}, [this, tag](rollout::Completion&& c) {
      std::vector<std::string> texts;
      texts.reserve(c.samples.size());
      for (auto& smp : c.samples) texts.push_back(std::move(smp.text));
      finished_.emplace_back(tag, std::move(texts));
    });
  }

  bool step(const DoneFn& done) override {
    const bool busy = engine_->step();
    for (auto& [tag, texts] : finished_) done(tag, std::move(texts));
    finished_.clear();
    return busy;
  }

  size_t queued() const override { return engine_ ? engine_->waiting() : 0; }

  std::vector<std::pair<std::string, std::string>> progress_fields() const override {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double tps = secs > 0 ? static_cast<double>(engine_->stats().generated_tokens) / secs : 0.0;
    return {{"tok/s", human_count(tps)}, {"rows", str(engine_->running(), "/", cfg_.batch)}};
  }

 private:
  std::vector<int32_t> tokens(const McSolution& s, const std::string& prefix) const {
    std::vector<int32_t> ids = tok_->encode(train::render_prompt(template_, s.prompt), /*add_special_tokens=*/true);
    const std::vector<int32_t> rest = tok_->encode(prefix, /*add_special_tokens=*/false);
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  }

  LabelMcConfig cfg_;
  model::CausalLM lm_{nullptr};
  std::unique_ptr<Tokenizer> tok_;
  train::PromptTemplate template_ = train::PromptTemplate::alpaca;
  rollout::SamplingParams params_;
  std::unique_ptr<rollout::Engine> engine_;
  std::vector<std::pair<uint64_t, std::vector<std::string>>> finished_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

}  // namespace

std::unique_ptr<McCompleter> make_engine_completer(const LabelMcConfig& cfg) {
  return std::make_unique<EngineCompleter>(cfg);
}

}  // namespace rleif::rm
