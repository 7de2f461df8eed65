// Causal self-attention for fp32 CPU training, in the layout the projections produce.
//
// ATen's CPU flash-attention kernel spends most of its time outside its products at a small model's
// shapes (T ~100, D 32-64: docs/perf/train.md). Here each (row, head) is a task: the scores
// S = scale Q K^T of every query against the keys up to its register tile's last row (the causal half,
// to the tile), the masked softmax, and P V, each product in 6 x 16 AVX2 register tiles over buffers
// that stay in cache. The backward recomputes P from the saved log-sum-exp, as flash attention does,
// so nothing of size T x T outlives a task.
//
// q [B,T,Hq,D], k and v [B,T,Hkv,D] are read in place (no transposes of the tensors): each head's
// rows are strided by H x D. The output is [B,T,Hq,D], which the output projection reads as
// [B,T,Hq*D] without a copy. Grouped-query attention shares a kv head among Hq / Hkv query heads; the
// backward runs one task per (row, kv head), so dK and dV are accumulated by one thread in a fixed
// order and the results do not depend on the thread count.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace rleif::model::fused {

// Longest sequence the kernel takes: its per-thread buffers hold 2 x T x T floats (8 MiB at 1024);
// longer sequences keep SDPA, whose flash kernel tiles the keys.
constexpr int64_t kMaxAttentionLength = 1024;

// True when causal_attention replaces SDPA for q whose longest sequence has `longest` tokens (T of
// [B,T,Hq,D], or the longest of packed sequences): CPU, fp32, outside inference mode, at most
// kMaxAttentionLength. It applies with or without gradients, so a checkpointed layer's forward and
// its recompute take the same path. RLEIF_CPU_ATTENTION=sdpa turns it off.
bool attention_applies(const torch::Tensor& q, int64_t longest);

// softmax(q k^T / sqrt(D) + causal mask) v. q [B,T,Hq,D], k, v [B,T,Hkv,D] -> [B,T,Hq,D].
// lengths: padding-free batches. When given, q, k and v are [1,N,H,D] holding sequences of these
// lengths back to back (their sum is N); each attends causally within itself only.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const std::vector<int64_t>& lengths = {});

}  // namespace rleif::model::fused
