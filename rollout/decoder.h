// The engine's forward pass: a slot KV cache and an attention core written for batched decoding,
// on top of the model's own modules (embeddings, norms, projections, MLPs, RoPE tables, lm_head),
// so the numbers match model::CausalLM while the cache layout suits decoding.
//
// Cache layout: L x [Bc, Hkv, Tmax, D] (head-major):
// the keys of one (row, head) are a contiguous [Tmax, D] block, so decode attention over the first
// rows is a batched GEMM over views with no copy, and SDPA reads the cache directly.
#pragma once
#include <torch/torch.h>

#include "core/options.h"
#include "model/causal_lm.h"
#include "model/cpu_gemm.h"

namespace rleif::rollout {

// matmul / sdpa: tensor-op attention (the reference path). fused: fp32 CPU loops for decode steps
// (rollout/cpu_decode.h; prefill uses matmul). automatic: fused on CPU fp32, sdpa on CUDA, else matmul.
enum class AttentionKernel { automatic, matmul, sdpa, fused };

class Decoder {
 public:
  // slots: cache rows (Bc); capacity: positions per row (Tmax). kernel: matmul (explicit scores, the
  // CPU default) or sdpa (at::scaled_dot_product_attention, the CUDA default); automatic picks.
  Decoder(model::CausalLM lm, int64_t slots, int64_t capacity, AttentionKernel kernel);

  // ids [B,T] int64, positions [B,T] int64 (RoPE positions and cache slots), rows [B] int64 (cache
  // row of each batch row; undefined = rows 0..B-1, read without a gather), kv_len: cache positions
  // read per row (> every position) -> hidden [B,T,H]. Writes the new keys/values into the cache.
  // A query at position p sees cache positions <= p (and > p - window with a sliding window), so
  // right padding is harmless: padded tokens sit at later positions. Graph-safe when rows is
  // undefined (no host sync, no host-to-device copy).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& rows,
                        int64_t kv_len);
  // The fused CPU decode step: one token per cache row 0..B-1 at positions pos (ids, pos: B values)
  // -> hidden [B,H]. Same contract as forward() with T = 1 and kv_len > every position.
  torch::Tensor decode_fused(const std::vector<int64_t>& ids, const std::vector<int64_t>& pos);
  bool fused_decode() const { return fused_decode_; }
  // hidden [..., H] -> logits [..., V] in the model dtype.
  torch::Tensor logits(const torch::Tensor& hidden);
  // Copies cache positions [0, len) of row src into row dst (n samples sharing one prefill, compaction).
  void copy_row(int64_t src, int64_t dst, int64_t len);

  int64_t slots() const { return slots_; }
  int64_t capacity() const { return capacity_; }
  const model::ModelConfig& config() const { return lm_->cfg; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }
  AttentionKernel kernel() const { return kernel_; }
  model::CausalLM& model() { return lm_; }

 private:
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& valid) const;
  // The fused decode step's weights, packed once (model::cpu::PackedLinear) into huge-page memory:
  // 7 per layer (q, k, v, o, gate, up, down), then the lm_head. Skipped above kMaxPackedBytes.
  void pack_weights();
  // Re-packs any weight changed in place since (an optimizer step between rollouts).
  void refresh_packed();
  // decode_fused's layers: x [B,H] updated in place, h [B,H] scratch.
  void decode_layers(torch::Tensor& x, torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                            const std::vector<int64_t>& pos);
  static constexpr int64_t kMaxPackedBytes = int64_t{2} << 30;

  model::CausalLM lm_;
  std::vector<model::DecoderLayerImpl*> layers_;
  int64_t slots_, capacity_;
  int64_t n_heads_, n_kv_heads_, head_dim_;
  torch::Device device_{torch::kCPU};
  torch::ScalarType dtype_ = torch::kFloat32;
  AttentionKernel kernel_;
  bool fused_decode_ = false;
  std::vector<torch::Tensor> k_, v_;  // L x [Bc, Hkv, Tmax, D]
  torch::Tensor cos_, sin_;           // [Tmax, D] RoPE tables in the model dtype; sin_'s first half negated
  torch::Tensor slot_index_;          // [Tmax] int64 0..Tmax-1 on the device
  std::vector<model::cpu::PackedLinear> packed_;
  torch::Tensor packed_arena_;        // storage of packed_'s panels
};

}  // namespace rleif::rollout

RLEIF_ENUM_NAMES(rleif::rollout::AttentionKernel, {rleif::rollout::AttentionKernel::automatic, "auto"},
                 {rleif::rollout::AttentionKernel::matmul, "matmul"}, {rleif::rollout::AttentionKernel::sdpa, "sdpa"},
                 {rleif::rollout::AttentionKernel::fused, "fused"});
