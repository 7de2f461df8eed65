// The product of a torch::nn::Linear for the few rows of a decode step, fp32 on the CPU:
// out [M,N] = x [M,K] . w [N,K]^T (+ bias [N]).
//
// Why not ATen's matmul: at M <= 64 MKL's sgemm copies (packs) the whole weight operand on every
// call, and at decode shapes that copy costs more than the multiplication (docs/perf/rollout.md).
// linear_nt reads the weights in their stored [N,K] layout, once per call: each 4-row block of x
// meets each 3-row block of w in 12 AVX2 dot-product accumulators over K, reduced horizontally at
// the end, with the N blocks split across ATen's threads. Summation order differs from MKL's, so
// results agree to fp32 rounding (tests/unit/model_cpu_gemm_test.cc), not bitwise.
#pragma once
#include <torch/torch.h>

namespace rleif::model::cpu {

// Rows up to which linear() uses the kernel; above it MKL's packing pays for itself.
constexpr int64_t kSmallGemmMaxRows = 64;

// out [M,N] = x [M,K] . w [N,K]^T + bias [N] (bias may be null); all row-major, contiguous.
// Runs the AVX2 kernel when the CPU has it (model/cpu_simd.h), else a portable loop.
void linear_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* out);

// torch::linear(x, weight, bias) for x [..., K]: the kernel above when x is fp32, on the CPU, with at
// most kSmallGemmMaxRows rows and no gradient to record, and the CPU has AVX2; otherwise torch::linear.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {});

// A Linear's weight re-laid once for repeated small-M products (a decode step's projections): W [N,K]
// as K-major panels of kPanel output columns, [ceil(N/16)][K][16], the last panel zero-padded. Its
// outer-product kernel (4-6 rows of x against one panel in 8-12 accumulators, no horizontal sums)
// runs at 1.2-1.5x linear_nt at decode shapes (bench/small_gemm.cc).
//
// The panels are a snapshot: stale() tells when the source weight has changed since (its version
// counter moves on every in-place update, an optimizer step included, and its storage on set_data),
// and pack() takes a new snapshot. Without AVX2 the product falls back to linear_nt on the source.
class PackedLinear {
 public:
  static constexpr int64_t kPanel = 16;
  // Floats of packed storage for a [N,K] weight.
  static int64_t packed_floats(int64_t n, int64_t k) { return (n + kPanel - 1) / kPanel * kPanel * k; }

  PackedLinear() = default;
  // weight [N,K] fp32 CPU, bias [N] or undefined; dst: packed_floats(N, K) floats owned by the caller
  // (kept alive for this object's life), 32-byte aligned.
  PackedLinear(torch::Tensor weight, torch::Tensor bias, float* dst);
  bool stale() const;
  void pack();
  // out [M,N] = x [M,K] . W^T + bias, all row-major contiguous; with accumulate, out += that
  // (a residual connection: the same rounding as adding the product afterwards).
  void forward(const float* x, int64_t m, float* out, bool accumulate = false) const;
  // Tensor form: x [M,K] -> [M,N].
  torch::Tensor operator()(const torch::Tensor& x) const;
  int64_t in_features() const { return k_; }
  int64_t out_features() const { return n_; }

 private:
  torch::Tensor weight_, bias_;
  float* panels_ = nullptr;
  int64_t n_ = 0, k_ = 0;
  uint32_t version_ = 0;
  const void* source_ = nullptr;
};

}  // namespace rleif::model::cpu
