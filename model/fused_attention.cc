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

// One sequence's queries: token rows [start, start + T). Their keys are the ctx prefix rows
// [ctx_start, ctx_start + ctx) (a shared prompt's, all visible; none when ctx = 0) and then their own
// rows, causally: query i sees keys 0 .. ctx + i of that list.
struct Seq {
  int64_t start, T;
  int64_t ctx_start = 0, ctx = 0;
  int64_t keys() const { return ctx + T; }
  int64_t tp() const { return round8(keys()); }  // row length of the per-task score buffers
};

// The key (or value) rows of s for one head, [keys, D] with row stride *ld: in place (stride `ld`) when
// s has no prefix, else the prefix's rows and then its own copied into buf (stride D).
const float* key_rows(const float* head, int64_t ld, const Seq& s, int64_t D, float* buf, int64_t* ld_out) {
  if (s.ctx == 0) {
    *ld_out = ld;
    return head + s.start * ld;
  }
  for (int64_t t = 0; t < s.ctx; ++t) std::memcpy(buf + t * D, head + (s.ctx_start + t) * ld, sizeof(float) * D);
  for (int64_t t = 0; t < s.T; ++t) std::memcpy(buf + (s.ctx + t) * D, head + (s.start + t) * ld, sizeof(float) * D);
  *ld_out = D;
  return buf;
}

// dst [D, tp] = src^T for src's n rows of D floats (row stride ld); columns n..tp are zero.
void transpose_rows(const float* src, int64_t ld, int64_t n, int64_t D, int64_t tp, float* dst) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t e = 0; e < D; ++e) dst[e * tp + t] = src[t * ld + e];
  for (int64_t e = 0; e < D; ++e) std::fill(dst + e * tp + n, dst + (e + 1) * tp, 0.0f);
}

// The span of a score-matrix product (S = Q K^T, dP = dO V^T) for query rows [i0, i1) of a sequence
// with a ctx-row prefix: keys up to ctx + i1 - 1, rounded up to whole vectors (the buffers are tp
// wide), reducing over D.
Span score_span(int64_t ctx, int64_t i1, int64_t D) { return {round8(ctx + i1), 0, D}; }

// Per-thread buffers for up to d.longest keys (and queries): s (scores, then P) and dp [T, tp]; kt, vt
// [D, tp]; kc, vc [T, D] (a prefixed sequence's key and value rows, gathered); delta [T]. They live in
// a thread_local vector that only grows: a fresh allocation per call is an mmap above 128 KiB, and its
// page faults and the unmap's TLB shootdowns across threads had cost more than the products.
struct Scratch {
  float *s, *dp, *kt, *vt, *kc, *vc, *delta;
  explicit Scratch(const Dims& d) {
    thread_local std::vector<float> buf;
    const int64_t T = d.longest, tp = round8(T);
    const size_t need = static_cast<size_t>(2 * T * tp + 4 * d.D * tp + T);
    if (buf.size() < need) buf.resize(need);
    s = buf.data();
    dp = s + T * tp;
    kt = dp + T * tp;
    vt = kt + d.D * tp;
    kc = vt + d.D * tp;
    vc = kc + d.D * tp;
    delta = vc + d.D * tp;
  }
};

// One (sequence, query head h): o = softmax(scale q k^T, causal) v, and lse = each query's log-sum-exp.
// lse is [Hq, N].
void forward_head(const Dims& d, const Seq& sq_, int64_t h, const float* q, const float* k, const float* v, float* o,
                  float* lse, Scratch& w, bool avx2) {
  const int64_t g = h / (d.Hq / d.Hkv), T = sq_.T, C = sq_.ctx, sq = d.sq(), skv = d.skv(), tp = sq_.tp();
  const float* Q = q + sq_.start * sq + h * d.D;
  int64_t ldk = 0, ldv = 0;
  const float* K = key_rows(k + g * d.D, skv, sq_, d.D, w.kc, &ldk);  // [C+T, D]
  const float* V = key_rows(v + g * d.D, skv, sq_, d.D, w.vc, &ldv);  // [C+T, D]
  float* O = o + sq_.start * sq + h * d.D;
  float* L = lse + h * d.N + sq_.start;
  transpose_rows(K, ldk, sq_.keys(), d.D, tp, w.kt);
  product<false>(T, Q, sq, w.kt, tp, w.s, tp, d.scale(), false, avx2,
                 [&](int64_t, int64_t i1) { return score_span(C, i1, d.D); });
  for (int64_t i = 0; i < T; ++i) {
    float* row = w.s + i * tp;
    const int64_t len = C + i + 1;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < len; ++j) mx = std::max(mx, row[j]);
    const float sum = exp_row(row, len, mx, avx2), inv = 1.0f / sum;
    for (int64_t j = 0; j < len; ++j) row[j] *= inv;
    std::fill(row + len, row + tp, 0.0f);  // the masked keys, read by the P V product's tile
    L[i] = mx + std::log(sum);
  }
  product<false>(T, w.s, tp, V, ldv, O, sq, 1.0f, false, avx2,
                 [&](int64_t, int64_t i1) { return Span{d.D, 0, C + i1}; });
}

// One (sequence, kv head g): the gradients of every query head sharing g. dK and dV of the sequence's
// own rows and of its prefix rows are accumulated (they start at zero; a prefix collects its head's
// and every branch's share, all within one task).
void backward_seq(const Dims& d, const Seq& sq_, int64_t g, const float* q, const float* k, const float* v,
                  const float* o, const float* lse, const float* dout, float* dq, float* dk, float* dv, Scratch& w,
                  bool avx2) {
  const int64_t rep = d.Hq / d.Hkv, T = sq_.T, C = sq_.ctx, D = d.D, sq = d.sq(), skv = d.skv(), tp = sq_.tp();
  const float scale = d.scale();
  int64_t ldk = 0, ldv = 0;
  const float* K = key_rows(k + g * D, skv, sq_, D, w.kc, &ldk);  // [C+T, D]
  const float* V = key_rows(v + g * D, skv, sq_, D, w.vc, &ldv);  // [C+T, D]
  float* dK = dk + sq_.start * skv + g * D;
  float* dV = dv + sq_.start * skv + g * D;
  float* dKc = dk + sq_.ctx_start * skv + g * D;  // the prefix's rows
  float* dVc = dv + sq_.ctx_start * skv + g * D;
  transpose_rows(K, ldk, sq_.keys(), D, tp, w.kt);
  transpose_rows(V, ldv, sq_.keys(), D, tp, w.vt);
  auto scores = [&](int64_t, int64_t i1) { return score_span(C, i1, D); };
  auto keys_upto = [&](int64_t, int64_t i1) { return Span{D, 0, C + i1}; };  // query rows: keys < C + i1
  auto every_query = [&](int64_t, int64_t) { return Span{D, 0, T}; };        // prefix key rows
  auto queries_from = [&](int64_t j0, int64_t) { return Span{D, j0, T}; };   // own key rows: queries >= j0
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
      const int64_t len = C + i + 1;
      exp_row(pr, len, L[i], avx2);  // P = exp(S - lse)
      const float dl = w.delta[i];
      for (int64_t j = 0; j < len; ++j) dr[j] = pr[j] * (dr[j] - dl);  // dS
      std::fill(pr + len, pr + tp, 0.0f);
      std::fill(dr + len, dr + tp, 0.0f);
    }
    product<false>(T, w.dp, tp, K, ldk, dq + off, sq, scale, false, avx2, keys_upto);  // dQ = scale dS K
    if (C > 0) {
      product<true>(C, w.s, tp, dO, sq, dVc, skv, 1.0f, true, avx2, every_query);   // dV_prefix += P^T dO
      product<true>(C, w.dp, tp, Q, sq, dKc, skv, scale, true, avx2, every_query);  // dK_prefix += scale dS^T Q
    }
    product<true>(T, w.s + C, tp, dO, sq, dV, skv, 1.0f, true, avx2, queries_from);   // dV += P^T dO
    product<true>(T, w.dp + C, tp, Q, sq, dK, skv, scale, true, avx2, queries_from);  // dK += scale dS^T Q
  }
}

// The sequences of a call: B rows of T for [B,T,H,D] (no lengths), else the packed ones, and the
// backward's tasks: runs of sequences [first, next first) that share a prefix (a head and its branches;
// a sequence alone otherwise), which write disjoint rows of dK and dV.
struct Layout {
  std::vector<Seq> seqs;
  std::vector<int64_t> groups;  // first sequence of each group, then seqs.size()
};

Layout layout_of(const torch::Tensor& q, const Packing& p) {
  Layout out;
  if (p.lengths.empty()) {
    for (int64_t b = 0; b < q.size(0); ++b) out.seqs.push_back({b * q.size(1), q.size(1)});
  } else {
    int64_t start = 0, head = 0;
    for (size_t i = 0; i < p.lengths.size(); ++i) {
      const int64_t pre = p.prefix.empty() ? 0 : p.prefix[i];
      if (pre == 0) head = start;
      out.seqs.push_back({start, p.lengths[i], pre > 0 ? head : 0, pre});
      start += p.lengths[i];
    }
  }
  for (size_t i = 0; i < out.seqs.size(); ++i)
    if (out.seqs[i].ctx == 0) out.groups.push_back(static_cast<int64_t>(i));
  out.groups.push_back(static_cast<int64_t>(out.seqs.size()));
  return out;
}

Dims dims_of(const torch::Tensor& q, const torch::Tensor& k, const std::vector<Seq>& seqs) {
  int64_t longest = 0;
  for (const Seq& s : seqs) longest = std::max(longest, s.keys());
  return {q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3), longest};
}

// The vector kernels need whole vectors of D (every head size in use is a multiple of 8).
bool use_avx2(const Dims& d) { return simd::cpu_has_avx2() && d.D % 8 == 0; }

struct CausalAttentionFn : torch::autograd::Function<CausalAttentionFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, const Packing& packing) {
    auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const Layout lay = layout_of(q, packing);
    const Dims d = dims_of(q, k, lay.seqs);
    const int64_t S = static_cast<int64_t>(lay.seqs.size());
    auto o = torch::empty_like(q);                       // [B,T,Hq,D]
    auto lse = torch::empty({d.Hq, d.N}, q.options());  // [Hq, B*T]
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
    float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>();
    const bool avx2 = use_avx2(d);
    at::parallel_for(0, S * d.Hq, 1, [&](int64_t t0, int64_t t1) {
      Scratch w(d);
      for (int64_t t = t0; t < t1; ++t)
        forward_head(d, lay.seqs[static_cast<size_t>(t / d.Hq)], t % d.Hq, qp, kp, vp, op, lp, w, avx2);
    });
    ctx->save_for_backward({q, k, v, o, lse});
    ctx->saved_data["lengths"] = packing.lengths;
    ctx->saved_data["prefix"] = packing.prefix;
    return o;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &o = saved[3], &lse = saved[4];
    const Packing packing{ctx->saved_data["lengths"].toIntVector(), ctx->saved_data["prefix"].toIntVector()};
    const Layout lay = layout_of(q, packing);
    auto dout = grads[0].contiguous();
    const Dims d = dims_of(q, k, lay.seqs);
    const int64_t G = static_cast<int64_t>(lay.groups.size()) - 1;
    auto dq = torch::empty_like(q), dk = torch::zeros_like(k), dv = torch::zeros_like(v);
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
    const float *op = o.data_ptr<float>(), *lp = lse.data_ptr<float>(), *gp = dout.data_ptr<float>();
    float *dqp = dq.data_ptr<float>(), *dkp = dk.data_ptr<float>(), *dvp = dv.data_ptr<float>();
    const bool avx2 = use_avx2(d);
    // One task per (group, kv head): a shared prefix's dK and dV are summed by one thread, in order.
    at::parallel_for(0, G * d.Hkv, 1, [&](int64_t t0, int64_t t1) {
      Scratch w(d);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t grp = t / d.Hkv;
        for (int64_t i = lay.groups[static_cast<size_t>(grp)]; i < lay.groups[static_cast<size_t>(grp + 1)]; ++i)
          backward_seq(d, lay.seqs[static_cast<size_t>(i)], t % d.Hkv, qp, kp, vp, op, lp, gp, dqp, dkp, dvp, w, avx2);
      }
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

void Packing::validate(int64_t n, const char* where) const {
  RLEIF_CHECK(!lengths.empty(), where, ": a packed batch with no sequence lengths");
  RLEIF_CHECK(prefix.empty() || prefix.size() == lengths.size(), where, ": ", prefix.size(), " prefix lengths for ",
              lengths.size(), " sequences; give one per sequence (0 = not shared) or none");
  int64_t sum = 0, head_len = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int64_t pre = prefix.empty() ? 0 : prefix[i];
    RLEIF_CHECK(lengths[i] >= 1, where, ": sequence ", i, " has length ", lengths[i], "; every sequence needs a token");
    RLEIF_CHECK(pre >= 0 && (pre == 0 || i > 0), where, ": sequence ", i, " has prefix ", pre,
                "; a prefix is >= 0, and the first sequence is a group's head (prefix 0)");
    RLEIF_CHECK(pre <= head_len || pre == 0, where, ": sequence ", i, " shares ", pre,
                " tokens with its group's head, which has ", head_len, "; a branch shares at most its head's tokens");
    if (pre == 0) head_len = lengths[i];
    sum += lengths[i];
  }
  RLEIF_CHECK(sum == n, where, ": the sequence lengths sum to ", sum, " but the packed row has ", n, " tokens");
}

int64_t Packing::longest() const {
  int64_t m = 0;
  for (size_t i = 0; i < lengths.size(); ++i) m = std::max(m, lengths[i] + (prefix.empty() ? 0 : prefix[i]));
  return m;
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const Packing& packing) {
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
  if (!packing.lengths.empty() || !packing.prefix.empty()) {
    RLEIF_CHECK(q.size(0) == 1, "fused::causal_attention: packed sequences need q [1,N,H,D], got ", q.sizes());
    packing.validate(q.size(1), "fused::causal_attention");
  }
  return CausalAttentionFn::apply(q, k, v, packing);
}

}  // namespace rleif::model::fused
