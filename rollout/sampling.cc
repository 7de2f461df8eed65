#include "rollout/sampling.h"

#include "model/cpu_simd.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rleif::rollout {

void SamplingParams::validate() const {
  RLEIF_CHECK(n >= 1, "sampling.n is ", n, "; give at least 1 sample per prompt");
  RLEIF_CHECK(max_new_tokens >= 1, "sampling.max_new_tokens is ", max_new_tokens, "; give at least 1");
  RLEIF_CHECK(std::isfinite(temperature) && temperature >= 0.0, "sampling.temperature is ", temperature,
              "; use 0 for greedy or a positive finite value");
  RLEIF_CHECK(top_k >= 0, "sampling.top_k is ", top_k, "; use 0 (off) or a positive count");
  RLEIF_CHECK(std::isfinite(top_p) && top_p > 0.0 && top_p <= 1.0, "sampling.top_p is ", top_p,
              "; it must lie in (0, 1], 1 = off");
  RLEIF_CHECK(std::isfinite(min_p) && min_p >= 0.0 && min_p <= 1.0, "sampling.min_p is ", min_p,
              "; it must lie in [0, 1], 0 = off");
  RLEIF_CHECK(top_logprobs >= 0 && top_logprobs <= 20, "sampling.top_logprobs is ", top_logprobs,
              "; it must lie in [0, 20]");
  for (const auto& s : stop) RLEIF_CHECK(!s.empty(), "sampling.stop holds an empty string; remove it");
}

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace

double stream_uniform(uint64_t seed, uint64_t sample, uint64_t step) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ (sample * 0xD1B54A32D192ED03ULL));
  h = splitmix64(h ^ (step * 0x8CB92BA72F3D8DD7ULL));
  // 24 random bits: exactly representable in fp32, so the draw stays below 1 on the device too.
  return static_cast<double>(h >> 40) / static_cast<double>(1ULL << 24);
}

namespace {
// The race key of a row's draw: the 24 random bits of its uniform (see stream_uniform).
int64_t race_key(double u) { return static_cast<int64_t>(u * static_cast<double>(1ULL << 24)); }

// The uniform in (0, 1) behind token `token`'s Exp(1) variate -log(u) in the race keyed `key`: a
// function of (key, token) only.
// mixed_key = splitmix64(key), hoisted out of loops over tokens.
double race_uniform_mixed(uint64_t mixed_key, int64_t token) {
  const uint64_t h = splitmix64(mixed_key ^ (static_cast<uint64_t>(token) * 0xD1B54A32D192ED03ULL));
  return (static_cast<double>(h >> 11) + 0.5) / static_cast<double>(1ULL << 53);
}

// The same on tensors: key [B] int64, tokens [B,K] int64 -> [B,K] fp64. uint64 arithmetic in int64
// (two's complement wraps alike); logical right shifts are arithmetic shifts with the sign bits masked.
torch::Tensor race_exponentials(const torch::Tensor& key, const torch::Tensor& tokens) {
  auto lsr = [](const torch::Tensor& x, int64_t s) {
    return x.bitwise_right_shift(s).bitwise_and((int64_t{1} << (64 - s)) - 1);
  };
  auto mix = [&](torch::Tensor x) {
    x = x + static_cast<int64_t>(0x9E3779B97F4A7C15ULL);
    x = x.bitwise_xor(lsr(x, 30)) * static_cast<int64_t>(0xBF58476D1CE4E5B9ULL);
    x = x.bitwise_xor(lsr(x, 27)) * static_cast<int64_t>(0x94D049BB133111EBULL);
    return x.bitwise_xor(lsr(x, 31));
  };
  auto h = mix(mix(key.unsqueeze(1)).bitwise_xor(tokens * static_cast<int64_t>(0xD1B54A32D192ED03ULL)));
  auto u = (lsr(h, 11).to(torch::kFloat64) + 0.5) / static_cast<double>(1ULL << 53);
  return -u.log();
}
}  // namespace

RowParams RowParams::make(const std::vector<const SamplingParams*>& params, const std::vector<double>& uniforms,
                          const torch::Device& device) {
  const int64_t b = static_cast<int64_t>(params.size());
  RLEIF_CHECK(uniforms.size() == params.size(), "RowParams::make: ", params.size(), " rows but ",
              uniforms.size(), " uniforms");
  auto f = torch::empty({4, b}, torch::kFloat32);  // temperature, top_p, min_p, uniform
  auto k = torch::empty({b}, torch::kInt64);
  auto filt = torch::zeros({b}, torch::kBool);
  auto fa = f.accessor<float, 2>();
  auto ka = k.accessor<int64_t, 1>();
  auto filt_a = filt.accessor<bool, 1>();
  RowParams r;
  bool all_sampled_have_k = true;
  for (int64_t i = 0; i < b; ++i) {
    const SamplingParams& p = *params[i];
    fa[0][i] = static_cast<float>(p.temperature);
    fa[1][i] = static_cast<float>(p.top_p);
    fa[2][i] = static_cast<float>(p.min_p);
    fa[3][i] = static_cast<float>(uniforms[i]);
    ka[i] = p.top_k;
    if (p.greedy()) {
      r.any_greedy = true;
      continue;
    }
    r.any_sampled = true;
    filt_a[i] = p.top_k > 0 || p.top_p < 1.0 || p.min_p > 0.0;
    if (filt_a[i]) r.any_filter = true;
    else r.any_plain = true;
    if (p.top_k > 0) r.max_top_k = std::max(r.max_top_k, p.top_k);
    else all_sampled_have_k = false;
  }
  if (!all_sampled_have_k) r.max_top_k = 0;
  if (!r.any_sampled) return r;  // greedy rows need no tensors (the common eval case: no copies)
  f = f.to(device);
  r.temperature = f[0];
  r.top_p = f[1];
  r.min_p = f[2];
  r.uniform = f[3];
  auto keys = torch::empty({b}, torch::kInt64);
  auto key_a = keys.accessor<int64_t, 1>();
  for (int64_t i = 0; i < b; ++i) key_a[i] = race_key(uniforms[i]);
  r.key = keys.to(device);
  r.top_k = k.to(device);
  r.filtered = filt.to(device);
  return r;
}

std::pair<torch::Tensor, torch::Tensor> filtered_distribution(const torch::Tensor& logits, const RowParams& p) {
  const int64_t v = logits.size(1);
  auto temp = torch::where(p.temperature > 0, p.temperature, torch::ones_like(p.temperature)).unsqueeze(1);
  auto z = logits.to(torch::kFloat32) / temp;  // [B,V]
  // When every sampled row caps k, a partial top-k replaces the full sort of the vocabulary.
  const int64_t k = p.max_top_k > 0 ? std::min(p.max_top_k, v) : v;
  torch::Tensor vals, idx;  // [B,K] descending
  if (k < v) std::tie(vals, idx) = z.topk(k, /*dim=*/-1, /*largest=*/true, /*sorted=*/true);
  else std::tie(vals, idx) = z.sort(/*dim=*/-1, /*descending=*/true);
  auto rank = torch::arange(k, idx.options()).unsqueeze(0);  // [1,K]
  auto topk = p.top_k.unsqueeze(1);
  vals = vals.masked_fill((topk > 0) & (rank >= topk), -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(vals, -1);  // the top-k renormalised distribution
  // Top-p: drop a token once the mass ranked above it already reaches top_p (the HF rule
  // "ascending cumulative mass <= 1 - top_p", written in descending order). Rows at 1 are exempt so
  // rounding in the cumulative sum never trims them.
  auto topp = p.top_p.unsqueeze(1);
  auto drop_p = ((probs.cumsum(-1) - probs) >= topp) & (topp < 1.0f);
  probs = probs.masked_fill(drop_p, 0.0f);
  // Min-p compares against the most likely token; the ratio is unchanged by renormalisation.
  auto minp = p.min_p.unsqueeze(1);
  probs = probs.masked_fill(probs < minp * probs.narrow(1, 0, 1), 0.0f);
  probs = probs / probs.sum(-1, /*keepdim=*/true);
  return {probs, idx};
}

namespace {
// Inverse-CDF draw: the first index whose cumulative mass exceeds u * total, never past the last
// token with non-zero mass. probs [B,K] >= 0, uniform [B] -> [B] int64 indices into K.
torch::Tensor inverse_cdf(const torch::Tensor& probs, const torch::Tensor& uniform) {
  auto cdf = probs.cumsum(-1);                        // [B,K], non-decreasing
  auto total = cdf.narrow(1, cdf.size(1) - 1, 1);     // [B,1]
  auto target = uniform.unsqueeze(1) * total;         // [B,1]
  auto pick = torch::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).squeeze(1);
  auto last = (cdf < total).sum(-1);                  // index where the mass is complete
  return torch::minimum(pick, last);
}
}  // namespace

torch::Tensor sample_tokens(const torch::Tensor& logits, const RowParams& p) {
  torch::Tensor greedy, sampled;
  if (p.any_greedy) greedy = logits.argmax(-1);
  if (p.any_sampled) {
    torch::Tensor with_filter, plain;
    if (p.any_filter) {
      // An exponential race over the kept tokens, argmax p_i / E_i with E_i ~ Exp(1) a function of
      // (row key, token id): exactly a draw from p. Unlike an inverse CDF, it cannot be moved by
      // rounding noise (another batch size's GEMM) that reorders near-tied tokens or changes which
      // token sits at the top-p edge: only the winner matters, and the winner wins by a margin.
      auto [probs, idx] = filtered_distribution(logits, p);
      auto score = torch::where(probs > 0, probs.to(torch::kFloat64) / race_exponentials(p.key, idx),
                                torch::full({}, -1.0, torch::kFloat64).to(probs.device()));
      with_filter = idx.gather(1, score.argmax(-1, /*keepdim=*/true)).squeeze(1);
    }
    if (p.any_plain) {
      auto temp = torch::where(p.temperature > 0, p.temperature, torch::ones_like(p.temperature)).unsqueeze(1);
      auto probs = torch::softmax(logits.to(torch::kFloat32) / temp, -1);
      plain = inverse_cdf(probs, p.uniform);
    }
    sampled = !p.any_plain ? with_filter : !p.any_filter ? plain : torch::where(p.filtered, with_filter, plain);
  }
  if (!p.any_sampled) return greedy;
  if (!p.any_greedy) return sampled;
  return torch::where(p.temperature > 0, sampled, greedy);
}

namespace {
// Inverse-CDF pick over probs[0..n): first index whose running mass exceeds u * total, never past
// the last index with mass (the tensor path's rule).
int64_t pick_cdf(const float* probs, int64_t n, float u, std::vector<float>& cdf) {
  cdf.resize(static_cast<size_t>(n));
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) cdf[i] = static_cast<float>(acc += probs[i]);
  const float total = cdf[n - 1], target = u * total;
  int64_t pick = std::upper_bound(cdf.begin(), cdf.end(), target) - cdf.begin();
  const int64_t last = std::lower_bound(cdf.begin(), cdf.end(), total) - cdf.begin();
  return std::min(pick, last);
}

// out[i] = exp(z[i] - mx) over n floats -> their sum: AVX2's vector exp when the CPU has it
// (model/cpu_simd.h, within 2.5e-7 of std::exp), else std::exp.
#if RLEIF_HAVE_AVX2_KERNELS
RLEIF_AVX2 float exp_shifted_avx2(const float* z, float mx, float* out, int64_t n) {
  const __m256 m8 = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = model::simd::exp8(_mm256_sub_ps(_mm256_loadu_ps(z + i), m8));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = model::simd::hsum(acc);
  for (; i < n; ++i) sum += (out[i] = std::exp(z[i] - mx));
  return sum;
}
#endif

float exp_shifted(const float* z, float mx, float* out, int64_t n) {
#if RLEIF_HAVE_AVX2_KERNELS
  if (model::simd::cpu_has_avx2()) return exp_shifted_avx2(z, mx, out, n);
#endif
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (out[i] = std::exp(z[i] - mx));
  return sum;
}

// A filtered row's draw on the CPU: sample_tokens' exponential race, argmax p_i / E_i over the kept
// tokens, found without sorting the vocabulary. Candidates are the top-k tokens (all when k = V),
// ranked as the sort ranks them (z descending, then id ascending); p is their softmax. The race runs
// over the candidates that pass min-p; its winner must then pass top-p (the mass ranked above it
// stays below top_p), and a winner that fails takes every token ranked below it out of the race,
// which is then re-run (rarely: the race picks a token of the dropped tail with the tail's mass).
// E_i = -log(u_i) >= 1 - u_i bounds each score from above, so the log is only taken for tokens
// that could still win.
int64_t race_filtered(const std::vector<float>& z, const SamplingParams& p, int64_t key, std::vector<int64_t>& cand,
                      std::vector<float>& probs, std::vector<double>& score) {
  const int64_t v = static_cast<int64_t>(z.size());
  const int64_t k = p.top_k > 0 ? std::min(p.top_k, v) : v;
  auto before = [&](int64_t a, int64_t c) { return z[a] > z[c] || (z[a] == z[c] && a < c); };
  cand.resize(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i) cand[i] = i;
  if (k < v) {
    std::nth_element(cand.begin(), cand.begin() + k, cand.end(), before);
    cand.resize(static_cast<size_t>(k));
  }
  float mx = -INFINITY;
  for (int64_t c : cand) mx = z[c] > mx ? z[c] : mx;  // (std::max's reference kept mx in memory)
  probs.resize(static_cast<size_t>(k));
  float sum = 0;
  if (k == v) {
    sum = exp_shifted(z.data(), mx, probs.data(), v);
  } else {
    for (int64_t i = 0; i < k; ++i) sum += (probs[i] = std::exp(z[cand[i]] - mx));
  }
  const float inv_sum = 1.0f / sum;
  for (auto& x : probs) x *= inv_sum;
  // min-p against the most likely token, whose probability is exp(0) / sum.
  const float floor = p.min_p > 0.0 ? static_cast<float>(p.min_p) * inv_sum : 0.0f;
  score.assign(static_cast<size_t>(k), 0.0);
  for (int64_t i = 0; i < k; ++i) score[i] = probs[i] > 0 && probs[i] >= floor ? 1.0 : -1.0;  // 1 = in the race
  const float top_p = static_cast<float>(p.top_p);
  const uint64_t mixed_key = splitmix64(static_cast<uint64_t>(key));
  while (true) {
    int64_t best = -1;
    double best_score = -1;
    for (int64_t i = 0; i < k; ++i) {
      if (score[i] < 0) continue;
      const double u = race_uniform_mixed(mixed_key, cand[i]);
      if (static_cast<double>(probs[i]) <= best_score * (1.0 - u)) continue;  // cannot win: E >= 1 - u
      const double s_i = static_cast<double>(probs[i]) / -std::log(u);
      if (s_i > best_score) best_score = s_i, best = i;
    }
    RLEIF_CHECK(best >= 0, "sample_tokens_cpu: no token left to sample (non-finite logits?)");
    if (p.top_p >= 1.0) return cand[best];
    double above = 0;  // mass ranked above the winner
    for (int64_t i = 0; i < k; ++i)
      if (before(cand[i], cand[best])) above += probs[i];
    const float cum = static_cast<float>(above + probs[best]);
    if (!(cum - probs[best] >= top_p)) return cand[best];
    for (int64_t i = 0; i < k; ++i)
      if (!before(cand[i], cand[best])) score[i] = -1;
  }
}
}  // namespace

std::vector<int64_t> sample_tokens_cpu(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                       const std::vector<double>& uniforms) {
  const int64_t b = logits.size(0), v = logits.size(1);
  RLEIF_CHECK(logits.is_cpu() && logits.scalar_type() == torch::kFloat32 && logits.is_contiguous(),
              "sample_tokens_cpu: needs contiguous fp32 CPU logits");
  const float* lp = logits.data_ptr<float>();
  std::vector<int64_t> out(static_cast<size_t>(b));
  std::vector<float> z, probs, cdf;
  std::vector<double> score;
  std::vector<int64_t> cand;
  for (int64_t r = 0; r < b; ++r) {
    const SamplingParams& p = *params[r];
    const float* row = lp + r * v;
    if (p.greedy()) {
      out[r] = std::max_element(row, row + v) - row;  // the first maximum, as argmax
      continue;
    }
    const float temp = static_cast<float>(p.temperature), u = static_cast<float>(uniforms[r]);
    z.resize(static_cast<size_t>(v));
    for (int64_t i = 0; i < v; ++i) z[i] = row[i] / temp;
    if (p.top_k == 0 && p.top_p >= 1.0 && p.min_p <= 0.0) {  // plain softmax in vocabulary order
      const float mx = *std::max_element(z.begin(), z.end());
      probs.resize(static_cast<size_t>(v));
      float sum = 0;
      for (int64_t i = 0; i < v; ++i) sum += (probs[i] = std::exp(z[i] - mx));
      for (auto& x : probs) x /= sum;
      out[r] = pick_cdf(probs.data(), v, u, cdf);
      continue;
    }
    out[r] = race_filtered(z, p, race_key(uniforms[r]), cand, probs, score);
  }
  return out;
}

torch::Tensor token_logprobs(const torch::Tensor& logits, const torch::Tensor& tokens) {
  // logit - logsumexp, the formula model::CausalLM::token_logprobs uses, so equal logits give
  // bit-equal log-probs (log_softmax reduces in another order: ~1e-5 apart over a 50K vocabulary).
  auto lg = logits.to(torch::kFloat32);
  return lg.gather(1, tokens.unsqueeze(1)).squeeze(1) - lg.logsumexp(-1);
}

}  // namespace rleif::rollout
