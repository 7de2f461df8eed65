#include "model/causal_lm.h"

#include "core/error.h"

namespace rleif::model {

CausalLMImpl::CausalLMImpl(const ModelConfig& c) : cfg(c) {
  model = register_module("model", Transformer(cfg));
  if (!cfg.tie_word_embeddings)
    lm_head = register_module("lm_head",
                              torch::nn::Linear(torch::nn::LinearOptions(cfg.hidden_size, cfg.vocab_size).bias(false)));
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  if (lm_head) return lm_head(hidden);
  return torch::matmul(hidden, model->embed_tokens->weight.t());
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions) {
  return logits(model(ids, positions));
}

torch::Tensor CausalLMImpl::token_logprobs_from_hidden(const torch::Tensor& hidden, const torch::Tensor& targets,
                                                       int64_t chunk) {
  RLEIF_CHECK(hidden.dim() == 3 && targets.dim() == 2 && hidden.size(0) == targets.size(0) &&
                  hidden.size(1) == targets.size(1),
              "token_logprobs: hidden ", hidden.sizes(), " and targets ", targets.sizes(), " must be [B,T,H] and [B,T]");
  const int64_t T = hidden.size(1);
  std::vector<torch::Tensor> parts;
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    const int64_t n = std::min(chunk, T - t0);
    // log p(y) = logit_y - logsumexp(logits), in fp32 for one chunk of positions at a time.
    auto lg = logits(hidden.narrow(1, t0, n)).to(torch::kFloat32);  // [B,n,V]
    auto tgt = targets.narrow(1, t0, n).to(torch::kInt64).unsqueeze(-1);
    parts.push_back(lg.gather(-1, tgt).squeeze(-1) - lg.logsumexp(-1));
  }
  return torch::cat(parts, 1);
}

torch::Tensor CausalLMImpl::token_logprobs(const torch::Tensor& ids, const torch::Tensor& targets,
                                           const torch::Tensor& positions, int64_t chunk) {
  return token_logprobs_from_hidden(model(ids, positions), targets, chunk);
}

}  // namespace rleif::model
