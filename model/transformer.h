// Llama-family decoder backbone (Llama 2/3, Mistral, Qwen2): RMSNorm, RoPE (with llama3 scaling),
// grouped-query attention, SwiGLU MLP. Parameters carry the Hugging Face names under `model.`.
//
// Positions are explicit: positions[b, t] is the RoPE position of token t of row b. A query at
// position p attends to keys at positions <= p (and > p - window with a sliding window), so right
// padding needs no mask: padded tokens sit at later positions. Incremental decoding with a KV cache
// is rollout::Decoder's (rollout/decoder.h), over these modules.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/config.h"
#include "model/fused_attention.h"
#include "model/lora.h"

namespace rleif::model {

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // [..., H] -> [..., H]
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

struct RotaryEmbedding {
  torch::Tensor inv_freq;  // [D/2] fp32
  explicit RotaryEmbedding(const ModelConfig& cfg);
  // cos/sin [B, T, D] in x's dtype for positions [B, T].
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions, torch::ScalarType dtype) const;
};

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& cfg);
  // x [B,T,H], cos/sin [B,T,D], mask [B,1,T,T] boolean or undefined (causal) -> [B,T,H]. packed: a
  // padding-free batch (B = 1, model/fused_attention.h's Packing); with no mask it takes the fused kernel.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const fused::Packing* packed = nullptr);
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};  // torch::nn::Linear + optional LoRA
  int64_t n_heads, n_kv_heads, head_dim;
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);  // [B,T,H] -> [B,T,H]
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

struct DecoderLayerImpl : torch::nn::Module {
  explicit DecoderLayerImpl(const ModelConfig& cfg);
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

struct TransformerImpl : torch::nn::Module {
  explicit TransformerImpl(const ModelConfig& cfg);
  // ids [B,T] int64, positions [B,T] int64 (undefined = 0..T-1 for every row) -> hidden [B,T,H].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions = {});
  // Padding-free batches: ids [1,N] hold sequences of `lengths` back to back (their sum is N), each
  // at positions 0..L-1 and attending only within itself -> hidden [1,N,H], equal to running each
  // sequence alone. No compute goes to padding; on the CPU the fused attention takes the sequences as
  // they are (packed_is_fast), elsewhere a block-diagonal mask does.
  // prefix (empty = none shared): shared prompts, as fused::Packing says: a sequence with prefix p > 0
  // continues the first p tokens of the nearest earlier sequence with prefix 0, its tokens at positions
  // p.., so a prompt's n samples run it once; each hidden state equals the unshared sequence's.
  torch::Tensor forward_packed(const torch::Tensor& ids, const std::vector<int64_t>& lengths,
                               const std::vector<int64_t>& prefix = {});
  // True when forward_packed runs without an N x N mask when a query sees at most `longest` keys
  // (the longest sequence, prefix included): CPU fp32 parameters, fused attention on, no
  // sliding-window layers.
  bool packed_is_fast(int64_t longest) const;
  // Gradient checkpointing of each decoder layer during training (recompute in backward).
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }

  ModelConfig cfg;
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};
  RotaryEmbedding rope;

 private:
  torch::Tensor run_layers(torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                           const torch::Tensor& mask_full, const torch::Tensor& mask_window,
                           const fused::Packing* packed);
  bool checkpointing_ = false;
};
TORCH_MODULE(Transformer);

}  // namespace rleif::model
