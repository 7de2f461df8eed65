#include "rm/scorer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/fs.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "rm/bestofn.h"
#include "rm/dataset.h"
#include "rm/losses.h"
#include "rm/task.h"
#include "train/runtime.h"

namespace rleif::rm {
namespace fsys = std::filesystem;

void ScorerOptions::validate() const {
  RLEIF_CHECK(batch_size >= 1, "batch_size = ", batch_size, ": must be >= 1");
  model::check_device_name(device, "device");
  RLEIF_CHECK(threads >= 0, "threads = ", threads, ": must be >= 0");
  RLEIF_CHECK(max_length >= 0, "max_length = ", max_length, ": must be >= 0 (0 = the model's)");
}

double aggregate_steps(const std::vector<double>& steps, Aggregation a) { return aggregate_step_scores(steps, enum_name(a)); }

struct Scorer::Impl {
  ScorerOptions opts;
  RmInfo info;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Encoder> enc;
  RewardNet net;
  torch::Device device{torch::kCPU};

  // Scores encoded sequences in batches of similar length (order restored).
  std::vector<Score> run(std::vector<Encoded>& seqs) {
    torch::NoGradGuard ng;
    std::vector<Score> out(seqs.size());
    std::vector<size_t> order(seqs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seqs[a].ids.size() < seqs[b].ids.size(); });
    for (size_t b = 0; b < order.size(); b += static_cast<size_t>(opts.batch_size)) {
      const size_t e = std::min(order.size(), b + static_cast<size_t>(opts.batch_size));
      std::vector<const Encoded*> batch;
      for (size_t i = b; i < e; ++i)
        if (!seqs[order[i]].ids.empty()) batch.push_back(&seqs[order[i]]);
      if (batch.empty()) continue;
      auto logits = net.end_logits(batch, device).cpu();  // [E,C]
      torch::Tensor vals = info.kind == RmKind::prm ? step_probability(logits) : logits.select(1, 0);
      vals = vals.to(torch::kFloat64).contiguous();
      const double* v = vals.data_ptr<double>();
      int64_t off = 0;
      for (size_t i = b; i < e; ++i) {
        Encoded& s = seqs[order[i]];
        Score& sc = out[order[i]];
        sc.truncated = s.truncated;
        if (s.ids.empty()) continue;
        const auto n = static_cast<int64_t>(s.ends.size());
        if (info.kind == RmKind::prm) {
          sc.steps.assign(v + off, v + off + n);
          sc.score = aggregate_steps(sc.steps, opts.aggregation);
        } else {
          sc.score = v[off];
        }
        off += n;
      }
    }
    return out;
  }
};

Scorer::Scorer(const std::string& dir, const ScorerOptions& opts) : impl_(std::make_unique<Impl>()) {
  opts.validate();
  impl_->opts = opts;
  impl_->info = RmInfo::load(dir);
  if (opts.max_length > 0) impl_->info.encode.max_length = opts.max_length;
  // Scoring never drops an input: too long means truncated (counted in each Score).
  impl_->info.encode.overlong = train::Overlong::truncate;
  train::configure_threads(static_cast<int>(opts.threads));
  impl_->device = model::parse_device(opts.device, "device");
  const std::string tok_path = (fsys::path(dir) / "tokenizer.json").string();
  RLEIF_CHECK(path_exists(tok_path), dir, " has no tokenizer.json; copy the policy's tokenizer.json into it");
  impl_->tok = std::make_unique<Tokenizer>(Tokenizer::from_file(tok_path));
  model::LoadOptions lo;
  lo.device = impl_->device;
  const model::ModelConfig* mc = nullptr;
  if (impl_->info.head == HeadKind::likelihood) {
    auto lm = model::load_causal_lm(dir, lo);
    impl_->net.likelihood = LikelihoodVerifier(lm, *impl_->tok, impl_->info.tokens, impl_->info.scale, impl_->info.bias,
                                               impl_->info.kind == RmKind::prm ? 2 : 1, impl_->info.probe);
    mc = &impl_->net.likelihood->lm->cfg;
  } else {
    impl_->net.classifier = model::load_score_model(dir, lo, false, impl_->info.kind == RmKind::prm ? 2 : 1);
    mc = &impl_->net.classifier->cfg;
  }
  impl_->net.module().eval();
  int32_t eos = -1;
  if (auto e = impl_->tok->eos_id()) eos = *e;
  else if (!mc->eos_token_ids.empty()) eos = static_cast<int32_t>(mc->eos_token_ids[0]);
  RLEIF_CHECK(eos >= 0, dir, ": neither the tokenizer nor config.json names an EOS token");
  impl_->enc = std::make_unique<Encoder>(*impl_->tok, eos, impl_->info.encode);
}

Scorer::~Scorer() = default;

RmKind Scorer::kind() const { return impl_->info.kind; }
const EncodeOptions& Scorer::encoding() const { return impl_->info.encode; }
RewardNet& Scorer::net() { return impl_->net; }
Encoder& Scorer::encoder() { return *impl_->enc; }
torch::Device Scorer::device() const { return impl_->device; }

std::vector<Score> Scorer::score(const std::vector<std::pair<std::string, std::string>>& items) {
  std::vector<Encoded> seqs;
  seqs.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string where = str("input ", i + 1);
    if (impl_->info.kind == RmKind::prm) {
      auto steps = split_steps(items[i].second);
      if (steps.empty()) steps.push_back(items[i].second.empty() ? std::string(" ") : items[i].second);
      seqs.push_back(impl_->enc->prompt_steps(items[i].first, steps, where));
    } else if (impl_->info.kind == RmKind::irm) {
      seqs.push_back(impl_->enc->instruction(items[i].first, where));
    } else {
      seqs.push_back(impl_->enc->prompt_response(items[i].first, items[i].second, where));
    }
  }
  return impl_->run(seqs);
}

std::vector<Score> Scorer::score_steps(const std::vector<std::pair<std::string, std::vector<std::string>>>& items) {
  RLEIF_CHECK(impl_->info.kind == RmKind::prm, "score_steps: this is an ", enum_name(impl_->info.kind),
              " model; only a PRM scores steps");
  std::vector<Encoded> seqs;
  for (size_t i = 0; i < items.size(); ++i)
    seqs.push_back(impl_->enc->prompt_steps(items[i].first, items[i].second, str("input ", i + 1)));
  return impl_->run(seqs);
}

std::vector<Score> Scorer::score_instructions(const std::vector<std::string>& items) {
  std::vector<Encoded> seqs;
  for (size_t i = 0; i < items.size(); ++i) seqs.push_back(impl_->enc->instruction(items[i], str("input ", i + 1)));
  return impl_->run(seqs);
}

}  // namespace rleif::rm
