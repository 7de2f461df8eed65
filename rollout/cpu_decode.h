// Fused fp32 CPU kernels for one decode step (T = 1). A decode step of a small model is dominated by
// per-op overhead, not arithmetic: these loops replace the ~30 small tensor ops of a layer's norm,
// RoPE, cache write, attention and SwiGLU with five passes over raw memory, leaving only the GEMMs
// to LibTorch. Decoder::forward's tensor-op path is their reference (tests compare the two).
// All tensors are contiguous fp32 on the CPU.
#pragma once
#include <torch/torch.h>

namespace rleif::rollout::cpu {

// out[n] = w * (x[n] * rsqrt(mean(x[n]^2) + eps)), HF's LlamaRMSNorm. x, out [N,H]; w [H].
void rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps, torch::Tensor& out);

// RoPE in place on q [B,Hq,D] and k [B,Hkv,D]: x * cos + swap_halves(x) * sin_signed, with
// cos / sin_signed the rows [B,D] of the position tables.
void rope(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& cos, const torch::Tensor& sin_signed);

// Writes k, v [B,Hkv,D] into cache rows 0..B-1 at positions pos[b]: cache [Bc,Hkv,Tmax,D].
void write_cache(const torch::Tensor& k, const torch::Tensor& v, const std::vector<int64_t>& pos, torch::Tensor& cache_k,
                 torch::Tensor& cache_v);

// Attention of q [B,Hq,D] over cache positions (pos[b] - window, pos[b]] of rows 0..B-1
// (window 0 = all), GQA head h reading kv head h / (Hq/Hkv). Softmax in fp32. -> out [B,Hq,D].
void attend(const torch::Tensor& q, const torch::Tensor& cache_k, const torch::Tensor& cache_v,
            const std::vector<int64_t>& pos, int64_t window, torch::Tensor& out);

// gate = silu(gate) * up, in place. gate, up [N,I].
void swiglu(torch::Tensor& gate, const torch::Tensor& up);

}  // namespace rleif::rollout::cpu
