#include "model/cpu_gemm.h"

#include <ATen/Parallel.h>

#include "core/error.h"
#include "model/cpu_simd.h"
#include "model/fused_train.h"

namespace rleif::model::cpu {
namespace {

constexpr int64_t kRowBlock = 4;  // rows of x per register block
constexpr int64_t kColBlock = 3;  // rows of w (output columns) per register block

void linear_generic(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* out) {
  at::parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, m * k)), [&](int64_t n0, int64_t n1) {
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = n0; j < n1; ++j)
        out[r * n + j] = fused::dot(x + r * k, w + j * k, k) + (bias ? bias[j] : 0.0f);
  });
}

#if RLEIF_HAVE_AVX2_KERNELS
// One register block: out[i, j] for i < MB rows of x and j < NB rows of w. k8 = K rounded down to 8;
// the last K - k8 elements are read through a lane mask. (No __m256i parameters: the caller is the
// parallel_for lambda, which OpenMP outlines into a function compiled without AVX, and a vector
// argument across that boundary changes the ABI.)
template <int MB, int NB>
RLEIF_AVX2 void block(const float* x, int64_t k, int64_t k8, const float* w, const float* bias, float* out,
                      int64_t ldo) {
  __m256 acc[MB][NB];
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 3
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k8; p += 8) {
    __m256 wv[NB];
#pragma GCC unroll 3
    for (int j = 0; j < NB; ++j) wv[j] = _mm256_loadu_ps(w + j * k + p);
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      const __m256 xv = _mm256_loadu_ps(x + i * k + p);
#pragma GCC unroll 3
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (k8 < k) {
    const __m256i tail = simd::tail_mask(k - k8);
    __m256 wv[NB];
#pragma GCC unroll 3
    for (int j = 0; j < NB; ++j) wv[j] = _mm256_maskload_ps(w + j * k + k8, tail);
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      const __m256 xv = _mm256_maskload_ps(x + i * k + k8, tail);
#pragma GCC unroll 3
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) {
    alignas(16) float s[4];
    _mm_store_ps(s, simd::hsum4(acc[i][0], NB > 1 ? acc[i][1] : zero, NB > 2 ? acc[i][2] : zero, zero));
#pragma GCC unroll 3
    for (int j = 0; j < NB; ++j) out[i * ldo + j] = s[j] + (bias ? bias[j] : 0.0f);
  }
}

template <int MB>
RLEIF_AVX2 void block_cols(int64_t nb, const float* x, int64_t k, int64_t k8, const float* w, const float* bias,
                           float* out, int64_t ldo) {
  if (nb == 3) block<MB, 3>(x, k, k8, w, bias, out, ldo);
  else if (nb == 2) block<MB, 2>(x, k, k8, w, bias, out, ldo);
  else block<MB, 1>(x, k, k8, w, bias, out, ldo);
}

RLEIF_AVX2 void linear_avx2(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                            float* out) {
  const int64_t k8 = k / 8 * 8;
  const int64_t col_blocks = (n + kColBlock - 1) / kColBlock;
  // Enough work per chunk (~64k multiply-adds) that a second thread is worth waking.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, kColBlock * k * m));
  at::parallel_for(0, col_blocks, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t j0 = c * kColBlock, nb = std::min(kColBlock, n - j0);
      const float* wb = w + j0 * k;
      const float* bb = bias ? bias + j0 : nullptr;
      for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
        const int64_t mb = std::min(kRowBlock, m - i0);
        const float* xb = x + i0 * k;
        float* ob = out + i0 * n + j0;
        if (mb == 4) block_cols<4>(nb, xb, k, k8, wb, bb, ob, n);
        else if (mb == 3) block_cols<3>(nb, xb, k, k8, wb, bb, ob, n);
        else if (mb == 2) block_cols<2>(nb, xb, k, k8, wb, bb, ob, n);
        else block_cols<1>(nb, xb, k, k8, wb, bb, ob, n);
      }
    }
  });
}

// Packed panels: MB rows of x against one [K][16] panel, 2 x MB accumulators; `valid` output
// columns of the panel are stored (the rest is padding).
template <int MB>
RLEIF_AVX2 void panel_block(const float* x, int64_t k, const float* panel, const float* bias, int64_t valid, float* out,
                            int64_t ldo, bool accumulate) {
  __m256 acc[MB][2];
#pragma GCC unroll 6
  for (int i = 0; i < MB; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 w0 = _mm256_load_ps(panel + p * 16), w1 = _mm256_load_ps(panel + p * 16 + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MB; ++i) {
      const __m256 xb = _mm256_broadcast_ss(x + i * k + p);
      acc[i][0] = _mm256_fmadd_ps(xb, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xb, w1, acc[i][1]);
    }
  }
  if (valid == 16) {
    const __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < MB; ++i) {
      __m256 r0 = _mm256_add_ps(acc[i][0], b0), r1 = _mm256_add_ps(acc[i][1], b1);
      if (accumulate) {
        r0 = _mm256_add_ps(_mm256_loadu_ps(out + i * ldo), r0);
        r1 = _mm256_add_ps(_mm256_loadu_ps(out + i * ldo + 8), r1);
      }
      _mm256_storeu_ps(out + i * ldo, r0);
      _mm256_storeu_ps(out + i * ldo + 8, r1);
    }
    return;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MB; ++i) {
    alignas(32) float row[16];
    _mm256_store_ps(row, acc[i][0]);
    _mm256_store_ps(row + 8, acc[i][1]);
    for (int64_t j = 0; j < valid; ++j) {
      const float r = row[j] + (bias ? bias[j] : 0.0f);
      out[i * ldo + j] = accumulate ? out[i * ldo + j] + r : r;
    }
  }
}

RLEIF_AVX2 void packed_avx2(const float* x, int64_t m, int64_t k, const float* panels, int64_t n, const float* bias,
                            float* out, bool accumulate) {
  const int64_t count = (n + 15) / 16;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, 16 * k * m));
  at::parallel_for(0, count, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float* panel = panels + c * 16 * k;
      const int64_t j0 = c * 16, valid = std::min<int64_t>(16, n - j0);
      const float* bb = bias ? bias + j0 : nullptr;
      int64_t i0 = 0;
      for (; i0 + 6 <= m; i0 += 6) panel_block<6>(x + i0 * k, k, panel, bb, valid, out + i0 * n + j0, n, accumulate);
      switch (m - i0) {
        case 5: panel_block<5>(x + i0 * k, k, panel, bb, valid, out + i0 * n + j0, n, accumulate); break;
        case 4: panel_block<4>(x + i0 * k, k, panel, bb, valid, out + i0 * n + j0, n, accumulate); break;
        case 3: panel_block<3>(x + i0 * k, k, panel, bb, valid, out + i0 * n + j0, n, accumulate); break;
        case 2: panel_block<2>(x + i0 * k, k, panel, bb, valid, out + i0 * n + j0, n, accumulate); break;
        case 1: panel_block<1>(x + i0 * k, k, panel, bb, valid, out + i0 * n + j0, n, accumulate); break;
        default: break;
      }
    }
  });
}
#endif

}  // namespace

PackedLinear::PackedLinear(torch::Tensor weight, torch::Tensor bias, float* dst)
    : weight_(std::move(weight)), bias_(std::move(bias)), panels_(dst) {
  RLEIF_CHECK(weight_.dim() == 2 && weight_.device().is_cpu() && weight_.scalar_type() == torch::kFloat32,
              "PackedLinear: needs an fp32 CPU weight [N,K], got ", weight_.sizes(), " ", weight_.scalar_type());
  RLEIF_CHECK(reinterpret_cast<uintptr_t>(dst) % 32 == 0, "PackedLinear: panel storage must be 32-byte aligned");
  n_ = weight_.size(0);
  k_ = weight_.size(1);
  pack();
}

namespace {
// Inference tensors carry no version counter; they only change under InferenceMode, which a caller
// updating weights in place does not use (optimizer steps run on ordinary tensors).
uint32_t version_of(const torch::Tensor& t) { return t.is_inference() ? 0 : t._version(); }
}  // namespace

bool PackedLinear::stale() const { return version_of(weight_) != version_ || weight_.data_ptr() != source_; }

void PackedLinear::pack() {
  auto w = weight_.contiguous();
  const float* src = w.data_ptr<float>();
  const int64_t count = (n_ + kPanel - 1) / kPanel;
  at::parallel_for(0, count, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* panel = panels_ + c * kPanel * k_;
      for (int64_t p = 0; p < k_; ++p)
        for (int64_t j = 0; j < kPanel; ++j) {
          const int64_t row = c * kPanel + j;
          panel[p * kPanel + j] = row < n_ ? src[row * k_ + p] : 0.0f;
        }
    }
  });
  version_ = version_of(weight_);
  source_ = weight_.data_ptr();
}

void PackedLinear::forward(const float* x, int64_t m, float* out, bool accumulate) const {
  if (m <= 0) return;
  const float* b = bias_.defined() ? bias_.data_ptr<float>() : nullptr;
#if RLEIF_HAVE_AVX2_KERNELS
  if (simd::cpu_has_avx2()) return packed_avx2(x, m, k_, panels_, n_, b, out, accumulate);
#endif
  auto w = weight_.contiguous();
  if (!accumulate) return linear_nt(x, m, k_, w.data_ptr<float>(), n_, b, out);
  std::vector<float> tmp(static_cast<size_t>(m * n_));
  linear_nt(x, m, k_, w.data_ptr<float>(), n_, b, tmp.data());
  for (int64_t i = 0; i < m * n_; ++i) out[i] += tmp[i];
}

torch::Tensor PackedLinear::operator()(const torch::Tensor& x) const {
  RLEIF_CHECK(x.dim() == 2 && x.size(1) == k_ && x.is_contiguous() && x.scalar_type() == torch::kFloat32,
              "PackedLinear: x must be contiguous fp32 [M,", k_, "], got ", x.sizes());
  auto out = torch::empty({x.size(0), n_}, x.options());
  forward(x.data_ptr<float>(), x.size(0), out.data_ptr<float>());
  return out;
}

void linear_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* out) {
  if (m <= 0 || n <= 0) return;
#if RLEIF_HAVE_AVX2_KERNELS
  if (simd::cpu_has_avx2()) return linear_avx2(x, m, k, w, n, bias, out);
#endif
  linear_generic(x, m, k, w, n, bias, out);
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const int64_t k = weight.size(1), rows = x.numel() / std::max<int64_t>(1, k);
  const bool fits = simd::cpu_has_avx2() && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 &&
                    weight.scalar_type() == torch::kFloat32 && rows <= kSmallGemmMaxRows && x.size(-1) == k &&
                    (!torch::GradMode::is_enabled() || (!x.requires_grad() && !weight.requires_grad())) &&
                    (!bias.defined() || (bias.scalar_type() == torch::kFloat32 && !bias.requires_grad()));
  if (!fits) return torch::linear(x, weight, bias);
  auto xc = x.contiguous();
  auto wc = weight.contiguous();
  auto bc = bias.defined() ? bias.contiguous() : bias;
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  auto out = torch::empty(sizes, x.options());
  linear_nt(xc.data_ptr<float>(), rows, k, wc.data_ptr<float>(), weight.size(0), bc.defined() ? bc.data_ptr<float>() : nullptr,
            out.data_ptr<float>());
  return out;
}

}  // namespace rleif::model::cpu
