#include "rollout/cpu_decode.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "model/cpu_simd.h"
#include "model/fused_train.h"

namespace rleif::rollout::cpu {

using model::fused::dot;

namespace {
// One query's attention over cache positions [lo, hi] of one (row, kv head): keys and values
// [Tmax, D] blocks; p: scratch for hi - lo + 1 scores. The portable loop; attend_one_avx2 is its
// vector form and the tests hold the two together.
void attend_one(const float* qv, const float* kbase, const float* vbase, int64_t lo, int64_t hi, int64_t d, float scale,
                std::vector<float>& p, float* o) {
  p.resize(static_cast<size_t>(hi - lo + 1));
  float mx = -INFINITY;
  for (int64_t j = lo; j <= hi; ++j) {
    p[j - lo] = dot(qv, kbase + j * d, d) * scale;
    mx = std::max(mx, p[j - lo]);
  }
  float sum = 0;
  for (auto& x : p) sum += (x = std::exp(x - mx));
  const float inv = 1.0f / sum;
  std::fill(o, o + d, 0.0f);
  for (int64_t j = lo; j <= hi; ++j) {
    const float w = p[j - lo] * inv;
    const float* vv = vbase + j * d;
    for (int64_t e = 0; e < d; ++e) o[e] += w * vv[e];
  }
}

#if RLEIF_HAVE_AVX2_KERNELS
namespace simd = model::simd;

// attend_one for D a multiple of 8: scores 4 positions at a time (4 dot products reduced together),
// a vector exp, and the value sum D/8 lanes wide, 4 vectors at a time.
RLEIF_AVX2 void attend_one_avx2(const float* qv, const float* kbase, const float* vbase, int64_t lo, int64_t hi,
                                int64_t d, float scale, std::vector<float>& p, float* o) {
  const int64_t n = hi - lo + 1;
  p.resize(static_cast<size_t>((n + 7) / 8 * 8));
  float* s = p.data();
  const float* k0 = kbase + lo * d;
  const __m256 vscale = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float* kj = k0 + j * d;
    for (int64_t e = 0; e < d; e += 8) {
      const __m256 q8 = _mm256_loadu_ps(qv + e);
      a0 = _mm256_fmadd_ps(q8, _mm256_loadu_ps(kj + e), a0);
      a1 = _mm256_fmadd_ps(q8, _mm256_loadu_ps(kj + d + e), a1);
      a2 = _mm256_fmadd_ps(q8, _mm256_loadu_ps(kj + 2 * d + e), a2);
      a3 = _mm256_fmadd_ps(q8, _mm256_loadu_ps(kj + 3 * d + e), a3);
    }
    _mm_storeu_ps(s + j, _mm_mul_ps(simd::hsum4(a0, a1, a2, a3), _mm256_castps256_ps128(vscale)));
  }
  for (; j < n; ++j) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t e = 0; e < d; e += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(qv + e), _mm256_loadu_ps(k0 + j * d + e), a);
    s[j] = simd::hsum(a) * scale;
  }
  for (j = n; j % 8; ++j) s[j] = -INFINITY;  // pad to whole vectors: exp gives 0 there
  const int64_t n8 = (n + 7) / 8 * 8;
  __m256 m8 = _mm256_set1_ps(-INFINITY);
  for (j = 0; j < n8; j += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(s + j));
  const __m256 mx = _mm256_set1_ps(simd::hmax(m8));
  __m256 sum8 = _mm256_setzero_ps();
  for (j = 0; j < n8; j += 8) {
    const __m256 e = simd::exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mx));
    _mm256_storeu_ps(s + j, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / simd::hsum(sum8));
  const float* v0 = vbase + lo * d;
  int64_t e0 = 0;
  for (; e0 + 32 <= d; e0 += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (j = 0; j < n; ++j) {
      const __m256 w = _mm256_broadcast_ss(s + j);
      const float* vj = v0 + j * d + e0;
      a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj), a0);
      a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 8), a1);
      a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 16), a2);
      a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 24), a3);
    }
    _mm256_storeu_ps(o + e0, _mm256_mul_ps(a0, inv));
    _mm256_storeu_ps(o + e0 + 8, _mm256_mul_ps(a1, inv));
    _mm256_storeu_ps(o + e0 + 16, _mm256_mul_ps(a2, inv));
    _mm256_storeu_ps(o + e0 + 24, _mm256_mul_ps(a3, inv));
  }
  for (; e0 < d; e0 += 8) {
    __m256 a = _mm256_setzero_ps();
    for (j = 0; j < n; ++j) a = _mm256_fmadd_ps(_mm256_broadcast_ss(s + j), _mm256_loadu_ps(v0 + j * d + e0), a);
    _mm256_storeu_ps(o + e0, _mm256_mul_ps(a, inv));
  }
}

RLEIF_AVX2 void swiglu_avx2(float* g, const float* u, int64_t a, int64_t z) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = a;
  for (; i + 8 <= z; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, simd::exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(u + i)));
  }
  for (; i < z; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}
#endif
}  // namespace

void rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps, torch::Tensor& out) {
  model::fused::rms_norm_rows(x.data_ptr<float>(), w.data_ptr<float>(), x.size(0), x.size(1), eps,
                              out.data_ptr<float>(), nullptr);
}

void rope(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& cos, const torch::Tensor& sin_signed) {
  const int64_t b = q.size(0), d = q.size(2), half = d / 2;
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin_signed.data_ptr<float>();
  auto one = [&](torch::Tensor& x) {
    const int64_t heads = x.size(1);
    float* xp = x.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r) {
      const float* c = cp + r * d;
      const float* s = sp + r * d;
      for (int64_t hh = 0; hh < heads; ++hh) {
        float* v = xp + (r * heads + hh) * d;
        for (int64_t i = 0; i < half; ++i) {
          const float lo = v[i], hi = v[i + half];
          v[i] = lo * c[i] + hi * s[i];
          v[i + half] = hi * c[i + half] + lo * s[i + half];
        }
      }
    }
  };
  one(q);
  one(k);
}

void write_cache(const torch::Tensor& k, const torch::Tensor& v, const std::vector<int64_t>& pos, torch::Tensor& cache_k,
                 torch::Tensor& cache_v) {
  const int64_t b = k.size(0), hkv = k.size(1), d = k.size(2), tmax = cache_k.size(2);
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  float* ck = cache_k.data_ptr<float>();
  float* cv = cache_v.data_ptr<float>();
  for (int64_t r = 0; r < b; ++r)
    for (int64_t h = 0; h < hkv; ++h) {
      const int64_t dst = ((r * hkv + h) * tmax + pos[r]) * d, src = (r * hkv + h) * d;
      std::memcpy(ck + dst, kp + src, sizeof(float) * d);
      std::memcpy(cv + dst, vp + src, sizeof(float) * d);
    }
}

void attend(const torch::Tensor& q, const torch::Tensor& cache_k, const torch::Tensor& cache_v,
            const std::vector<int64_t>& pos, int64_t window, torch::Tensor& out) {
  const int64_t b = q.size(0), hq = q.size(1), d = q.size(2);
  const int64_t hkv = cache_k.size(1), tmax = cache_k.size(2), g = hq / hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const float* qp = q.data_ptr<float>();
  const float* ck = cache_k.data_ptr<float>();
  const float* cv = cache_v.data_ptr<float>();
  float* op = out.data_ptr<float>();
#if RLEIF_HAVE_AVX2_KERNELS
  const bool avx2 = d % 8 == 0 && model::simd::cpu_has_avx2();
#else
  const bool avx2 = false;
#endif
  at::parallel_for(0, b * hq, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> p;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = i / hq, h = i % hq, kh = h / g;
      const int64_t hi = pos[r], lo = window > 0 ? std::max<int64_t>(0, hi - window + 1) : 0;
      const float* kbase = ck + (r * hkv + kh) * tmax * d;
      const float* vbase = cv + (r * hkv + kh) * tmax * d;
#if RLEIF_HAVE_AVX2_KERNELS
      if (avx2) {
        attend_one_avx2(qp + i * d, kbase, vbase, lo, hi, d, scale, p, op + i * d);
        continue;
      }
#endif
      attend_one(qp + i * d, kbase, vbase, lo, hi, d, scale, p, op + i * d);
    }
  });
}

void swiglu(torch::Tensor& gate, const torch::Tensor& up) {
  const int64_t n = gate.numel();
  float* g = gate.data_ptr<float>();
  const float* u = up.data_ptr<float>();
  at::parallel_for(0, n, 4096, [&](int64_t a, int64_t z) {
#if RLEIF_HAVE_AVX2_KERNELS
    if (model::simd::cpu_has_avx2()) return swiglu_avx2(g, u, a, z);
#endif
    for (int64_t i = a; i < z; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  });
}

}  // namespace rleif::rollout::cpu
