#include "model/generate.h"

#include <limits>

#include "core/error.h"

namespace rleif::model {

void SamplingOptions::validate() const {
  RLEIF_CHECK(max_new_tokens >= 0, "sampling.max_new_tokens must be >= 0, got ", max_new_tokens);
  RLEIF_CHECK(temperature >= 0, "sampling.temperature must be >= 0 (0 = greedy), got ", temperature);
  RLEIF_CHECK(top_p > 0 && top_p <= 1, "sampling.top_p must be in (0, 1], got ", top_p);
  RLEIF_CHECK(top_k >= 0, "sampling.top_k must be >= 0 (0 = off), got ", top_k);
}

torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingOptions& opts) {
  auto x = logits.to(torch::kFloat32) / opts.temperature;  // [B,V]
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (opts.top_k > 0 && opts.top_k < x.size(-1)) {
    auto kth = std::get<0>(x.topk(opts.top_k, -1)).narrow(-1, opts.top_k - 1, 1);  // [B,1]
    x = x.masked_fill(x < kth, neg_inf);
  }
  if (opts.top_p < 1.0) {
    auto [sorted, idx] = x.sort(-1, /*descending=*/true);
    auto probs = sorted.softmax(-1);
    // Drop a token when the mass before it already reaches top_p (the first token always stays).
    auto before = probs.cumsum(-1) - probs;
    auto drop_sorted = before >= opts.top_p;
    auto drop = torch::zeros_like(drop_sorted).scatter(-1, idx, drop_sorted);
    x = x.masked_fill(drop, neg_inf);
  }
  return x;
}

std::vector<Generation> generate(CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                                 const SamplingOptions& opts, const std::vector<int64_t>& eos_ids,
                                 const std::function<void(size_t, int32_t)>& on_token) {
  opts.validate();
  torch::NoGradGuard no_grad;
  const int64_t B = static_cast<int64_t>(prompts.size());
  std::vector<Generation> out(static_cast<size_t>(B));
  if (B == 0) return out;
  auto param = model->parameters().front();
  auto dev = param.device();
  int64_t P = 0;
  std::vector<int64_t> lens;
  for (auto& p : prompts) {
    RLEIF_CHECK(!p.empty(), "generate: a prompt has no tokens");
    for (auto id : p)
      RLEIF_CHECK(id >= 0 && id < model->cfg.vocab_size, "generate: token id ", id, " is outside the vocabulary (",
                  model->cfg.vocab_size, ")");
    P = std::max<int64_t>(P, static_cast<int64_t>(p.size()));
    lens.push_back(static_cast<int64_t>(p.size()));
  }
  // Right-padded prompts; each row's pad slots are overwritten when that row reaches them.
  auto ids = torch::zeros({B, P}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < lens[b]; ++t) ids[b][t] = prompts[b][t];
  ids = ids.to(dev);
  auto len_t = torch::tensor(lens, torch::kInt64).to(dev);  // [B]
  auto cache = KvCache::allocate(model->cfg, B, P + std::max<int64_t>(opts.max_new_tokens, 1), param.options());

  auto hidden = model->model->forward(ids, torch::Tensor(), &cache);  // [B,P,H]
  auto last = hidden.gather(1, (len_t - 1).view({B, 1, 1}).expand({B, 1, hidden.size(2)})).squeeze(1);  // [B,H]
  auto logits = model->logits(last);  // [B,V]

  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(opts.seed));
  auto eos = torch::tensor(eos_ids.empty() ? std::vector<int64_t>{-1} : eos_ids, torch::kInt64).to(dev);
  auto done = torch::zeros({B}, torch::kBool);
  auto pos = len_t.clone();
  for (int64_t step = 0; step < opts.max_new_tokens; ++step) {
    auto logp = logits.to(torch::kFloat32).log_softmax(-1);  // [B,V]
    torch::Tensor next;
    if (opts.temperature == 0) {
      next = logp.argmax(-1);
    } else {
      auto probs = filter_logits(logits, opts).softmax(-1).to(torch::kCPU);
      next = torch::multinomial(probs, 1, false, gen).squeeze(1).to(dev);
    }
    auto chosen_lp = logp.gather(1, next.unsqueeze(1)).squeeze(1).to(torch::kCPU);
    auto is_eos = (next.unsqueeze(1) == eos.unsqueeze(0)).any(1).to(torch::kCPU);
    auto next_cpu = next.to(torch::kCPU);
    for (int64_t b = 0; b < B; ++b) {
      if (done[b].item<bool>()) continue;
      if (is_eos[b].item<bool>()) {
        out[b].finish_reason = "stop";
        done[b] = true;
        continue;
      }
      int32_t tok = static_cast<int32_t>(next_cpu[b].item<int64_t>());
      out[b].tokens.push_back(tok);
      out[b].logprobs.push_back(chosen_lp[b].item<float>());
      if (on_token) on_token(static_cast<size_t>(b), tok);
    }
    if (done.all().item<bool>() || step + 1 == opts.max_new_tokens) break;
    hidden = model->model->forward(next.view({B, 1}), pos.view({B, 1}), &cache);  // [B,1,H]
    logits = model->logits(hidden.squeeze(1));
    pos = pos + 1;
  }
  for (auto& g : out)
    if (g.finish_reason.empty()) g.finish_reason = "length";
  return out;
}

}  // namespace rleif::model
