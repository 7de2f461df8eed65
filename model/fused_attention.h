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
// backward runs one task per (row or shared-prefix group, kv head), so dK and dV are accumulated by one
// thread in a fixed order and the results do not depend on the thread count.
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

// A padding-free batch: one row of N tokens holding sequences back to back. A sequence whose prefix
// is 0 is whole in the row: positions 0..L-1, attending causally within itself. One with prefix p > 0
// is a branch: its first p tokens are the first p of its group's head (the nearest earlier sequence
// with prefix 0) and are not repeated; its L tokens in the row sit at positions p..p+L-1 and attend to
// the head's first p tokens and causally within themselves, never to other branches. So a prompt
// sampled n times runs once: [P R1][R2]...[Rn] with prefix {0, |P|, ..., |P|}, the same numbers as
// [P R1][P R2]...[P Rn] unshared.
struct Packing {
  std::vector<int64_t> lengths;  // tokens of each sequence in the row; their sum is N
  std::vector<int64_t> prefix;   // per sequence, tokens shared with its group's head; empty = none shared
  // Checks sizes and bounds against a row of n tokens; throws naming `where` and the sequence.
  void validate(int64_t n, const char* where) const;
  // The most keys a query sees: max over sequences of prefix + length.
  int64_t longest() const;
};

// softmax(q k^T / sqrt(D) + causal mask) v. q [B,T,Hq,D], k, v [B,T,Hkv,D] -> [B,T,Hq,D].
// packing: a padding-free batch (q, k and v are [1,N,H,D]); empty lengths = B rows of T. In the
// backward a shared prefix's dK and dV are the sums over its head and branches.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const Packing& packing = {});

}  // namespace rleif::model::fused
