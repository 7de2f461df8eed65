// Fused fp32 CPU kernels, with hand-written backward passes, for the element-wise parts of a
// training step: RMSNorm, RoPE and SwiGLU. Each replaces 5-10 ATen ops and as many autograd nodes
// (and their saved intermediates) with one forward loop and one backward loop over raw memory, which
// is most of a small model's step outside the GEMMs. The tensor-op formulas in transformer.cc are
// their reference (tests/unit/model_fused_train_test.cc compares values and gradients).
//
// The model uses them on the CPU in fp32 while gradients are recorded (training); inference, bf16 and
// CUDA keep the tensor-op path, so the logits compared with transformers are unchanged. Every loop is
// per row (or per element) and the one reduction across rows (RMSNorm's weight gradient) is an ATen
// sum, so results do not depend on the thread count's chunking beyond what ATen's own sum does.
#pragma once
#include <torch/torch.h>

namespace rleif::model::fused {

// Sum of a[i] * b[i] over n floats with 8 independent partial sums, so the compiler vectorises it
// without -ffast-math (shared with the decode kernels, rollout/cpu_decode.cc).
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// HF's LlamaRMSNorm over n rows of h floats: y[r] = w * (x[r] * inv), inv = 1 / sqrt(mean(x[r]^2) + eps),
// in parallel over rows; inv goes to rstd[r] when rstd is not null. Shared by the training kernel and
// the decode step (rollout/cpu_decode.cc).
void rms_norm_rows(const float* x, const float* w, int64_t n, int64_t h, double eps, float* y, float* rstd);

// True when the fused kernels replace the tensor ops for x: CPU, fp32, gradients being recorded.
bool applies(const torch::Tensor& x);

// HF's LlamaRMSNorm: w * (x * rsqrt(mean(x^2, -1) + eps)). x [..., H], w [H] -> [..., H].
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps);

// Rotary embedding on x [B,T,Hx,D] (the layout a q/k projection produces): with halves x1, x2 of the
// last dim, y1 = x1 * cos1 - x2 * sin1, y2 = x2 * cos2 + x1 * sin2, i.e. x * cos + rotate_half(x) * sin.
// cos, sin [B,T,D] (no gradient) -> [B,T,Hx,D].
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// SwiGLU: silu(gate) * up, elementwise. gate, up [..., I] -> [..., I].
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);

}  // namespace rleif::model::fused
