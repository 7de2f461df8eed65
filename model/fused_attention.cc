#include "model/fused_attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/cpu_simd.h"
#include "model/fused_train.h"

namespace rleif::model::fused {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kMr = 6;  // rows per register tile
int64_t round8(int64_t n) { return (n + 7) / 8 * 8; }

// One row tile's part of a product: columns [0, n) (a multiple of 8) and the reduction range [k0, k1).
struct Span {
  int64_t n, k0, k1;
};

// The products. C[i, j] = alpha * sum_{k0 <= kk < k1} A(i, kk) * B[kk * ldb + j] (+ C[i, j] when
// accumulate), for rows i of [0, m) in tiles of kMr, where span(i0, i1) gives each tile's columns and
// reduction range (the causal structure: a tile of queries needs keys up to its last row only).
// A(i, kk) is a[i * lda + kk], or a[kk * lda + i] for a transposed A (P^T, dS^T in the backward).
// B is row-major with ldb >= n; every B and C row has n readable/writable floats.
template <bool TA>
void scalar_tile(int64_t mr, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                 const Span& s, float alpha, bool accumulate) {
  std::vector<float> acc(static_cast<size_t>(s.n));
  for (int64_t r = 0; r < mr; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t kk = s.k0; kk < s.k1; ++kk) {
      const float av = TA ? a[kk * lda + r] : a[r * lda + kk];
      const float* br = b + kk * ldb;
      for (int64_t j = 0; j < s.n; ++j) acc[static_cast<size_t>(j)] += av * br[j];
    }
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < s.n; ++j) cr[j] = alpha * acc[static_cast<size_t>(j)] + (accumulate ? cr[j] : 0.0f);
  }
}

#if RLEIF_HAVE_AVX2_KERNELS
// MR x (8 NV) register tile: NV vectors of B per reduction step, MR broadcasts of A, MR x NV FMAs.
// The accumulators are named variables, not an array: GCC keeps an array of __m256 in registers but
// also stores it back to the stack on every step, which made the kernel store-bound.
template <int MR, int NV, bool TA>
RLEIF_AVX2 void micro(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t k0,
                      int64_t k1, float alpha, bool accumulate) {
  static_assert(MR >= 1 && MR <= 6 && (NV == 1 || NV == 2), "tile shape");
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t kk = k0; kk < k1; ++kk) {
    const float* br = b + kk * ldb;
    const __m256 b0 = _mm256_loadu_ps(br), b1 = NV > 1 ? _mm256_loadu_ps(br + 8) : b0;
    auto step = [&](int r, __m256& x0, __m256& x1) RLEIF_AVX2 {
      const __m256 av = _mm256_broadcast_ss(TA ? a + kk * lda + r : a + r * lda + kk);
      x0 = _mm256_fmadd_ps(av, b0, x0);
      if (NV > 1) x1 = _mm256_fmadd_ps(av, b1, x1);
    };
    step(0, c00, c01);
    if (MR > 1) step(1, c10, c11);
    if (MR > 2) step(2, c20, c21);
    if (MR > 3) step(3, c30, c31);
    if (MR > 4) step(4, c40, c41);
    if (MR > 5) step(5, c50, c51);
  }
  const __m256 al = _mm256_set1_ps(alpha);
  auto store = [&](int r, __m256 x0, __m256 x1) RLEIF_AVX2 {
    float* cp = c + r * ldc;
    x0 = _mm256_mul_ps(al, x0);
    if (accumulate) x0 = _mm256_add_ps(x0, _mm256_loadu_ps(cp));
    _mm256_storeu_ps(cp, x0);
    if (NV > 1) {
      x1 = _mm256_mul_ps(al, x1);
      if (accumulate) x1 = _mm256_add_ps(x1, _mm256_loadu_ps(cp + 8));
      _mm256_storeu_ps(cp + 8, x1);
    }
  };
  store(0, c00, c01);
  if (MR > 1) store(1, c10, c11);
  if (MR > 2) store(2, c20, c21);
  if (MR > 3) store(3, c30, c31);
  if (MR > 4) store(4, c40, c41);
  if (MR > 5) store(5, c50, c51);
}

template <int NV, bool TA>
RLEIF_AVX2 void micro_rows(int64_t mr, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                           int64_t k0, int64_t k1, float alpha, bool accumulate) {
  switch (mr) {
    case 6: return micro<6, NV, TA>(a, lda, b, ldb, c, ldc, k0, k1, alpha, accumulate);
    case 5: return micro<5, NV, TA>(a, lda, b, ldb, c, ldc, k0, k1, alpha, accumulate);
    case 4: return micro<4, NV, TA>(a, lda, b, ldb, c, ldc, k0, k1, alpha, accumulate);
    case 3: return micro<3, NV, TA>(a, lda, b, ldb, c, ldc, k0, k1, alpha, accumulate);
    case 2: return micro<2, NV, TA>(a, lda, b, ldb, c, ldc, k0, k1, alpha, accumulate);
    default: return micro<1, NV, TA>(a, lda, b, ldb, c, ldc, k0, k1, alpha, accumulate);
  }
}

template <bool TA>
RLEIF_AVX2 void avx2_tile(int64_t mr, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                          const Span& s, float alpha, bool accumulate) {
  int64_t j = 0;
  for (; j + 16 <= s.n; j += 16) micro_rows<2, TA>(mr, a, lda, b + j, ldb, c + j, ldc, s.k0, s.k1, alpha, accumulate);
  if (j < s.n) micro_rows<1, TA>(mr, a, lda, b + j, ldb, c + j, ldc, s.k0, s.k1, alpha, accumulate);
}
#endif

template <bool TA, class SpanFn>
void product(int64_t m, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
             bool accumulate, bool avx2, SpanFn span) {
  for (int64_t i0 = 0; i0 < m; i0 += kMr) {
    const int64_t mr = std::min(kMr, m - i0);
    const Span s = span(i0, i0 + mr);
    if (s.n <= 0) continue;
    const float* ai = TA ? a + i0 : a + i0 * lda;
#if RLEIF_HAVE_AVX2_KERNELS
    if (avx2) {
      avx2_tile<TA>(mr, ai, lda, b, ldb, c + i0 * ldc, ldc, s, alpha, accumulate);
      continue;
    }
#endif
    scalar_tile<TA>(mr, ai, lda, b, ldb, c + i0 * ldc, ldc, s, alpha, accumulate);
  }
}

// row[j] = exp(row[j] - shift) for j < len; returns their sum.
float exp_row_scalar(float* row, int64_t len, float shift) {
  float sum = 0;
  for (int64_t j = 0; j < len; ++j) sum += (row[j] = std::exp(row[j] - shift));
  return sum;
}

#if RLEIF_HAVE_AVX2_KERNELS
RLEIF_AVX2 float exp_row_avx2(float* row, int64_t len, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= len; j += 8) {
    const __m256 e = simd::exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), s));
    _mm256_storeu_ps(row + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  return simd::hsum(acc) + exp_row_scalar(row + j, len - j, shift);
}
#endif

float exp_row(float* row, int64_t len, float shift, bool avx2) {
#if RLEIF_HAVE_AVX2_KERNELS
  if (avx2) return exp_row_avx2(row, len, shift);
#endif
  (void)avx2;
  return exp_row_scalar(row, len, shift);
}

// Shapes of one call: N token rows (B x T, or packed sequences back to back), the heads and head size,
// and the longest sequence (the per-thread buffers' size). Pointers are to token row 0 of each tensor.
struct Dims {
  int64_t N, Hq, Hkv, D, longest;
  int64_t sq() const { return Hq * D; }    // row stride of q, o, dq, do
  int64_t skv() const { return Hkv * D; }  // row stride of k, v, dk, dv
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(D)); }
};

// One sequence: token rows [start, start + T), attending causally within themselves only.
struct Seq {
  int64_t start, T;
  int64_t tp() const { return round8(T); }  // row length of the per-task score buffers
};

// dst [D, tp] = src^T for src's T rows of D floats (row stride ld); columns T..tp are zero.
void transpose_head(const float* src, int64_t ld, const Seq& s, int64_t D, float* dst) {
  const int64_t tp = s.tp();
  for (int64_t t = 0; t < s.T; ++t)
    for (int64_t e = 0; e < D; ++e) dst[e * tp + t] = src[t * ld + e];
  for (int64_t e = 0; e < D; ++e) std::fill(dst + e * tp + s.T, dst + (e + 1) * tp, 0.0f);
}

// The span of a score-matrix product (S = Q K^T, dP = dO V^T) for query rows [i0, i1): keys up to
// i1 - 1, rounded up to whole vectors (the buffers are tp wide), reducing over D.
Span score_span(int64_t i1, int64_t D) { return {round8(i1), 0, D}; }

// Per-thread buffers for sequences up to d.longest: s (scores, then P) and dp [T, tp]; kt, vt [D, tp];
// delta [T]. They live in a thread_local vector that only grows: a fresh allocation per call is an
// mmap above 128 KiB, and its page faults and the unmap's TLB shootdowns across threads had cost more
// than the products.
struct Scratch {
  float *s, *dp, *kt, *vt, *delta;
  explicit Scratch(const Dims& d) {
    thread_local std::vector<float> buf;
    const int64_t T = d.longest, tp = round8(T);
    const size_t need = static_cast<size_t>(2 * T * tp + 2 * d.D * tp + T);
    if (buf.size() < need) buf.resize(need);
    s = buf.data();
    dp = s + T * tp;
    kt = dp + T * tp;
    vt = kt + d.D * tp;
    delta = vt + d.D * tp;
  }
};

// One (sequence, query head h): o = softmax(scale q k^T, causal) v, and lse = each query's log-sum-exp.
// lse is [Hq, N].
void forward_head(const Dims& d, const Seq& sq_, int64_t h, const float* q, const float* k, const float* v, float* o,
                  float* lse, Scratch& w, bool avx2) {
  const int64_t g = h / (d.Hq / d.Hkv), T = sq_.T, sq = d.sq(), skv = d.skv(), tp = sq_.tp();
  const float* Q = q + sq_.start * sq + h * d.D;
  const float* K = k + sq_.start * skv + g * d.D;
  const float* V = v + sq_.start * skv + g * d.D;
  float* O = o + sq_.start * sq + h * d.D;
  float* L = lse + h * d.N + sq_.start;
  transpose_head(K, skv, sq_, d.D, w.kt);
  product<false>(T, Q, sq, w.kt, tp, w.s, tp, d.scale(), false, avx2,
                 [&](int64_t, int64_t i1) { return score_span(i1, d.D); });
  for (int64_t i = 0; i < T; ++i) {
    float* row = w.s + i * tp;
    const int64_t len = i + 1;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < len; ++j) mx = std::max(mx, row[j]);
    const float sum = exp_row(row, len, mx, avx2), inv = 1.0f / sum;
    for (int64_t j = 0; j < len; ++j) row[j] *= inv;
    std::fill(row + len, row + tp, 0.0f);  // the masked keys, read by the P V product's tile
    L[i] = mx + std::log(sum);
  }
  product<false>(T, w.s, tp, V, skv, O, sq, 1.0f, false, avx2,
                 [&](int64_t, int64_t i1) { return Span{d.D, 0, i1}; });
}

// One (sequence, kv head g): the gradients of every query head sharing g. dk and dv start at zero.
void backward_group(const Dims& d, const Seq& sq_, int64_t g, const float* q, const float* k, const float* v,
                    const float* o, const float* lse, const float* dout, float* dq, float* dk, float* dv, Scratch& w,
                    bool avx2) {
  const int64_t rep = d.Hq / d.Hkv, T = sq_.T, D = d.D, sq = d.sq(), skv = d.skv(), tp = sq_.tp();
  const float scale = d.scale();
  const float* K = k + sq_.start * skv + g * D;
  const float* V = v + sq_.start * skv + g * D;
  float* dK = dk + sq_.start * skv + g * D;
  float* dV = dv + sq_.start * skv + g * D;
  transpose_head(K, skv, sq_, D, w.kt);
  transpose_head(V, skv, sq_, D, w.vt);
  auto scores = [&](int64_t, int64_t i1) { return score_span(i1, D); };
  auto keys_upto = [&](int64_t, int64_t i1) { return Span{D, 0, i1}; };   // query rows: keys < i1
  auto queries_from = [&](int64_t j0, int64_t) { return Span{D, j0, T}; };  // key rows: queries >= j0
  for (int64_t h = g * rep; h < (g + 1) * rep; ++h) {
    const int64_t off = sq_.start * sq + h * D;
    const float *Q = q + off, *O = o + off, *dO = dout + off;
    const float* L = lse + h * d.N + sq_.start;
    for (int64_t t = 0; t < T; ++t) w.delta[t] = dot(dO + t * sq, O + t * sq, D);  // rowsum(P * dP)
    product<false>(T, Q, sq, w.kt, tp, w.s, tp, scale, false, avx2, scores);     // S again
    product<false>(T, dO, sq, w.vt, tp, w.dp, tp, 1.0f, false, avx2, scores);    // dP = dO V^T
    for (int64_t i = 0; i < T; ++i) {
      float* pr = w.s + i * tp;
      float* dr = w.dp + i * tp;
      const int64_t len = i + 1;
      exp_row(pr, len, L[i], avx2);  // P = exp(S - lse)
      const float dl = w.delta[i];
      for (int64_t j = 0; j < len; ++j) dr[j] = pr[j] * (dr[j] - dl);  // dS
      std::fill(pr + len, pr + tp, 0.0f);
      std::fill(dr + len, dr + tp, 0.0f);
    }
    product<false>(T, w.dp, tp, K, skv, dq + off, sq, scale, false, avx2, keys_upto);  // dQ = scale dS K
    product<true>(T, w.s, tp, dO, sq, dV, skv, 1.0f, true, avx2, queries_from);       // dV += P^T dO
    product<true>(T, w.dp, tp, Q, sq, dK, skv, scale, true, avx2, queries_from);      // dK += scale dS^T Q
  }
}

// The sequences of a call: B rows of T for [B,T,H,D] (lengths empty), else the packed lengths.
std::vector<Seq> sequences(const torch::Tensor& q, const std::vector<int64_t>& lengths) {
  std::vector<Seq> out;
  if (lengths.empty()) {
    for (int64_t b = 0; b < q.size(0); ++b) out.push_back({b * q.size(1), q.size(1)});
  } else {
    int64_t start = 0;
    for (int64_t L : lengths) {
      out.push_back({start, L});
      start += L;
    }
  }
  return out;
}

Dims dims_of(const torch::Tensor& q, const torch::Tensor& k, const std::vector<Seq>& seqs) {
  int64_t longest = 0;
  for (const Seq& s : seqs) longest = std::max(longest, s.T);
  return {q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3), longest};
}

// The vector kernels need whole vectors of D (every head size in use is a multiple of 8).
bool use_avx2(const Dims& d) { return simd::cpu_has_avx2() && d.D % 8 == 0; }

struct CausalAttentionFn : torch::autograd::Function<CausalAttentionFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, const std::vector<int64_t>& lengths) {
    auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const std::vector<Seq> seqs = sequences(q, lengths);
    const Dims d = dims_of(q, k, seqs);
    const int64_t S = static_cast<int64_t>(seqs.size());
    auto o = torch::empty_like(q);                       // [B,T,Hq,D]
    auto lse = torch::empty({d.Hq, d.N}, q.options());  // [Hq, B*T]
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
    float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>();
    const bool avx2 = use_avx2(d);
    at::parallel_for(0, S * d.Hq, 1, [&](int64_t t0, int64_t t1) {
      Scratch w(d);
      for (int64_t t = t0; t < t1; ++t)
        forward_head(d, seqs[static_cast<size_t>(t / d.Hq)], t % d.Hq, qp, kp, vp, op, lp, w, avx2);
    });
    ctx->save_for_backward({q, k, v, o, lse});
    ctx->saved_data["lengths"] = lengths;
    return o;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &o = saved[3], &lse = saved[4];
    const std::vector<int64_t> lengths = ctx->saved_data["lengths"].toIntVector();
    const std::vector<Seq> seqs = sequences(q, lengths);
    auto dout = grads[0].contiguous();
    const Dims d = dims_of(q, k, seqs);
    const int64_t S = static_cast<int64_t>(seqs.size());
    auto dq = torch::empty_like(q), dk = torch::zeros_like(k), dv = torch::zeros_like(v);
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
    const float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>(), *gp = dout.data_ptr<float>();
    float *dqp = dq.data_ptr<float>(), *dkp = dk.data_ptr<float>(), *dvp = dv.data_ptr<float>();
    const bool avx2 = use_avx2(d);
    at::parallel_for(0, S * d.Hkv, 1, [&](int64_t t0, int64_t t1) {
      Scratch w(d);
      for (int64_t t = t0; t < t1; ++t)
        backward_group(d, seqs[static_cast<size_t>(t / d.Hkv)], t % d.Hkv, qp, kp, vp, op, lp, gp, dqp, dkp, dvp, w,
                       avx2);
    });
    return {dq, dk, dv, torch::Tensor()};
  }
};

}  // namespace

bool attention_applies(const torch::Tensor& q, int64_t longest) {
  static const bool enabled = [] {
    const char* env = std::getenv("RLEIF_CPU_ATTENTION");
    return !(env && std::string(env) == "sdpa");
  }();
  return enabled && q.device().is_cpu() && q.scalar_type() == torch::kFloat32 && !c10::InferenceMode::is_enabled() &&
         longest <= kMaxAttentionLength;
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const std::vector<int64_t>& lengths) {
  RLEIF_CHECK(q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes(), "fused::causal_attention: q ", q.sizes(),
              ", k ", k.sizes(), ", v ", v.sizes(), " must be [B,T,Hq,D], [B,T,Hkv,D], [B,T,Hkv,D]");
  RLEIF_CHECK(q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3) && k.size(2) > 0 &&
                  q.size(2) % k.size(2) == 0,
              "fused::causal_attention: q ", q.sizes(), " and k ", k.sizes(),
              " must share B, T and D, with Hq a multiple of Hkv");
  RLEIF_CHECK(q.scalar_type() == torch::kFloat32 && k.scalar_type() == torch::kFloat32 &&
                  v.scalar_type() == torch::kFloat32 && q.device().is_cpu() && k.device().is_cpu() &&
                  v.device().is_cpu(),
              "fused::causal_attention: fp32 CPU tensors only");
  if (!lengths.empty()) {
    int64_t sum = 0;
    for (int64_t L : lengths) {
      RLEIF_CHECK(L >= 1, "fused::causal_attention: sequence lengths must be >= 1, got ", L);
      sum += L;
    }
    RLEIF_CHECK(q.size(0) == 1 && sum == q.size(1), "fused::causal_attention: packed sequences need q [1,N,H,D] with N = ",
                "the sum of the lengths (", sum, "), got ", q.sizes());
  }
  return CausalAttentionFn::apply(q, k, v, lengths);
}

}  // namespace rleif::model::fused
