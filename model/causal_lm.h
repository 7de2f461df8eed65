// CausalLM: backbone + lm_head (tied to embed_tokens when config.tie_word_embeddings).
#pragma once
#include "model/transformer.h"

namespace rleif::model {

struct CausalLMImpl : torch::nn::Module {
  explicit CausalLMImpl(const ModelConfig& cfg);
  // ids [B,T], positions [B,T] -> logits [B,T,V].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions = {});
  // hidden [..., H] -> logits [..., V].
  torch::Tensor logits(const torch::Tensor& hidden);
  // log p(targets[b,t] | ids[b, :t+1]) for every position: ids [B,T], targets [B,T] -> [B,T] fp32.
  // Works in chunks of T so a full fp32 [B,T,V] log-softmax is never materialised.
  torch::Tensor token_logprobs(const torch::Tensor& ids, const torch::Tensor& targets,
                               const torch::Tensor& positions = {}, int64_t chunk = 256);
  // The same from precomputed hidden states [B,T,H].
  torch::Tensor token_logprobs_from_hidden(const torch::Tensor& hidden, const torch::Tensor& targets, int64_t chunk = 256);

  ModelConfig cfg;
  Transformer model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied
};
TORCH_MODULE(CausalLM);

}  // namespace rleif::model
