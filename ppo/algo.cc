#include "ppo/algo.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace rleif::ppo {
namespace {

std::string shape_str(const torch::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_float(const torch::Tensor& t, const char* fn, const char* name) {
  RLEIF_CHECK(t.defined(), fn, ": '", name, "' is undefined; pass a tensor");
  RLEIF_CHECK(t.is_floating_point(), fn, ": '", name, "' has dtype ", t.scalar_type(),
              "; expected a floating-point tensor");
}

// Every tensor of `ts` must be [B,A] and the shape of ts[0] (named names[i]).
void check_same_2d(const char* fn, std::initializer_list<std::pair<const char*, const torch::Tensor*>> ts) {
  const auto& [n0, t0] = *ts.begin();
  RLEIF_CHECK(t0->defined() && t0->dim() == 2, fn, ": '", n0, "' must be [B,A], got ", shape_str(*t0));
  for (const auto& [n, t] : ts)
    RLEIF_CHECK(t->defined() && t->sizes() == t0->sizes(), fn, ": '", n, "' has shape ", shape_str(*t), " but '", n0,
                "' has ", shape_str(*t0), "; give every [B,A] input the same shape");
}

torch::Tensor f32(const torch::Tensor& t) { return t.to(torch::kFloat); }
torch::Tensor is_real(const torch::Tensor& mask) { return mask.to(torch::kFloat) > 0; }  // [B,A] bool

// Group bookkeeping for critic-free advantages: scores [B] fp32, inv [B] group of each sequence in
// 0..G-1, count [G] members, mean [G] reward.
struct Groups {
  torch::Tensor r, inv, count, mean;
  int64_t n = 0;
};

Groups groups_of(const torch::Tensor& scores, const torch::Tensor& group, const char* fn) {
  check_float(scores, fn, "scores");
  RLEIF_CHECK(scores.dim() == 1, fn, ": 'scores' must be [B], got ", shape_str(scores));
  RLEIF_CHECK(group.defined() && group.dim() == 1 && group.size(0) == scores.size(0), fn, ": 'group' has shape ",
              shape_str(group), " but 'scores' has ", shape_str(scores), "; give one group id per sequence");
  RLEIF_CHECK(!group.is_floating_point(), fn, ": 'group' has dtype ", group.scalar_type(),
              "; expected integer prompt ids (int64)");
  Groups g;
  g.r = f32(scores);
  auto [uniq, inv, counts] = torch::_unique2(group.to(torch::kLong), /*sorted=*/true, /*return_inverse=*/true,
                                             /*return_counts=*/true);
  g.n = uniq.size(0);
  g.inv = inv.reshape({-1});
  g.count = counts.to(torch::kFloat);
  g.mean = torch::zeros({g.n}, g.r.options()).index_add_(0, g.inv, g.r) / g.count.clamp_min(1);
  return g;
}

}  // namespace

torch::Tensor kl_estimate(const torch::Tensor& logp, const torch::Tensor& ref_logp, const torch::Tensor& mask,
                          KlEstimator k, double clamp) {
  check_float(logp, "kl_estimate", "logp");
  check_float(ref_logp, "kl_estimate", "ref_logp");
  check_same_2d("kl_estimate", {{"logp", &logp}, {"ref_logp", &ref_logp}, {"mask", &mask}});
  RLEIF_CHECK(clamp > 0, "kl_estimate: clamp = ", clamp, "; must be > 0 (20 keeps k3 finite)");
  auto lr = (f32(logp) - f32(ref_logp)).clamp(-clamp, clamp);  // [B,A] log r
  torch::Tensor kl;
  switch (k) {
    case KlEstimator::k1: kl = lr; break;
    case KlEstimator::k2: kl = 0.5 * lr * lr; break;
    case KlEstimator::k3: kl = torch::exp(-lr) - 1 + lr; break;
  }
  return kl.masked_fill(~is_real(mask), 0.0);
}

torch::Tensor last_index(const torch::Tensor& mask) {
  RLEIF_CHECK(mask.defined() && mask.dim() == 2, "last_index: 'mask' must be [B,A], got ", shape_str(mask));
  const int64_t B = mask.size(0), A = mask.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(mask.device());
  if (A == 0) return torch::full({B}, -1, opts);
  auto pos = torch::arange(A, opts).unsqueeze(0).expand({B, A});        // [B,A]
  return torch::where(is_real(mask), pos, torch::full({}, -1, opts)).amax(1);  // [B]
}

torch::Tensor token_rewards(const torch::Tensor& score, const torch::Tensor& kl, const torch::Tensor& mask,
                            double beta) {
  check_float(kl, "token_rewards", "kl");
  check_float(score, "token_rewards", "score");
  check_same_2d("token_rewards", {{"kl", &kl}, {"mask", &mask}});
  RLEIF_CHECK(score.dim() == 1 && score.size(0) == kl.size(0), "token_rewards: 'score' has shape ", shape_str(score),
              " but 'kl' has ", shape_str(kl), "; give one score per row");
  const int64_t A = kl.size(1);
  auto m = is_real(mask);
  auto r = (-beta * f32(kl)).masked_fill(~m, 0.0);  // [B,A]
  auto pos = torch::arange(A, torch::TensorOptions().dtype(torch::kLong).device(kl.device())).unsqueeze(0);
  auto at_end = pos == last_index(mask).unsqueeze(1);  // [B,A]; no column for an empty row (-1)
  return r + torch::where(at_end, f32(score).unsqueeze(1), torch::zeros({}, r.options()));
}

std::pair<torch::Tensor, torch::Tensor> gae(const torch::Tensor& rewards, const torch::Tensor& values,
                                            const torch::Tensor& mask, double gamma, double lambda) {
  check_float(rewards, "gae", "rewards");
  check_float(values, "gae", "values");
  check_same_2d("gae", {{"rewards", &rewards}, {"values", &values}, {"mask", &mask}});
  auto m = is_real(mask);
  auto r = f32(rewards).masked_fill(~m, 0.0);  // [B,A]
  auto v = f32(values).masked_fill(~m, 0.0);   // [B,A]; V after the last real token is 0
  const int64_t B = r.size(0), A = r.size(1);
  std::vector<torch::Tensor> cols(static_cast<size_t>(A));
  auto next_adv = torch::zeros({B}, r.options());  // [B] A_{t+1}
  auto next_v = torch::zeros({B}, r.options());    // [B] V_{t+1}
  for (int64_t t = A - 1; t >= 0; --t) {
    auto vt = v.select(1, t);
    auto delta = r.select(1, t) + gamma * next_v - vt;
    next_adv = (delta + gamma * lambda * next_adv).masked_fill(~m.select(1, t), 0.0);
    cols[static_cast<size_t>(t)] = next_adv;
    next_v = vt;
  }
  auto adv = A ? torch::stack(cols, 1) : torch::zeros_like(r);  // [B,A]
  auto ret = (adv + v).masked_fill(~m, 0.0);
  return {adv, ret};
}

std::pair<torch::Tensor, torch::Tensor> gae_reference(const torch::Tensor& rewards, const torch::Tensor& values,
                                                      const torch::Tensor& mask, double gamma, double lambda) {
  check_same_2d("gae_reference", {{"rewards", &rewards}, {"values", &values}, {"mask", &mask}});
  auto r = rewards.to(torch::kCPU, torch::kDouble).contiguous();
  auto v = values.to(torch::kCPU, torch::kDouble).contiguous();
  auto m = mask.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t B = r.size(0), A = r.size(1);
  auto adv = torch::zeros({B, A}, torch::kDouble), ret = torch::zeros({B, A}, torch::kDouble);
  auto ra = r.accessor<double, 2>(), va = v.accessor<double, 2>(), ma = m.accessor<double, 2>();
  auto aa = adv.accessor<double, 2>(), rta = ret.accessor<double, 2>();
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = 0;  // right-padded: the real tokens are 0..len-1
    while (len < A && ma[b][len] > 0) ++len;
    double next_a = 0, next_v = 0;
    for (int64_t t = len - 1; t >= 0; --t) {
      const double delta = ra[b][t] + gamma * next_v - va[b][t];
      next_a = delta + gamma * lambda * next_a;
      aa[b][t] = next_a;
      rta[b][t] = next_a + va[b][t];
      next_v = va[b][t];
    }
  }
  return {adv.to(torch::kFloat), ret.to(torch::kFloat)};
}

torch::Tensor grpo_advantages(const torch::Tensor& scores, const torch::Tensor& group, ScaleRewards scale,
                              double eps) {
  Groups g = groups_of(scores, group, "grpo_advantages");
  RLEIF_CHECK(eps >= 0, "grpo_advantages: eps = ", eps, "; must be >= 0");
  auto single = g.count.index_select(0, g.inv) < 2;  // [B] no baseline
  auto centred = g.r - g.mean.index_select(0, g.inv);  // [B]
  torch::Tensor adv;
  switch (scale) {
    case ScaleRewards::group: {
      auto ssd = torch::zeros({g.n}, g.r.options()).index_add_(0, g.inv, centred * centred);  // [G]
      auto std = (ssd / (g.count - 1).clamp_min(1)).sqrt();                                  // [G] unbiased
      adv = centred / (std.index_select(0, g.inv) + eps);
      break;
    }
    case ScaleRewards::batch: {
      auto std = g.r.size(0) > 1 ? g.r.std(/*unbiased=*/true) : torch::zeros({}, g.r.options());
      adv = centred / (std + eps);
      break;
    }
    case ScaleRewards::none: adv = centred; break;
  }
  return adv.masked_fill(single, 0.0);
}

torch::Tensor rloo_advantages(const torch::Tensor& scores, const torch::Tensor& group) {
  Groups g = groups_of(scores, group, "rloo_advantages");
  auto k = g.count.index_select(0, g.inv);                                             // [B]
  auto sum = torch::zeros({g.n}, g.r.options()).index_add_(0, g.inv, g.r).index_select(0, g.inv);  // [B]
  auto loo = (sum - g.r) / (k - 1).clamp_min(1);                                       // [B] mean of the others
  return (g.r - loo).masked_fill(k < 2, 0.0);
}

double zero_std_share(const torch::Tensor& scores, const torch::Tensor& group) {
  Groups g = groups_of(scores, group, "zero_std_share");
  if (g.r.size(0) == 0) return 0.0;
  auto hi = torch::zeros({g.n}, g.r.options()).scatter_reduce(0, g.inv, g.r, "amax", /*include_self=*/false);
  auto lo = torch::zeros({g.n}, g.r.options()).scatter_reduce(0, g.inv, g.r, "amin", /*include_self=*/false);
  auto flat = (hi == lo) | (g.count < 2);  // [G]
  return flat.index_select(0, g.inv).to(torch::kDouble).mean().item<double>();
}

torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  check_float(x, "masked_mean", "x");
  RLEIF_CHECK(mask.defined() && x.sizes() == mask.sizes(), "masked_mean: 'x' has shape ", shape_str(x),
              " but 'mask' has ", shape_str(mask), "; give them the same shape");
  auto m = is_real(mask);
  auto n = m.sum().to(torch::kFloat).clamp_min(1);
  return f32(x).masked_fill(~m, 0.0).sum() / n;
}

torch::Tensor masked_whiten(const torch::Tensor& x, const torch::Tensor& mask, bool shift_mean, double eps) {
  check_float(x, "masked_whiten", "x");
  RLEIF_CHECK(mask.defined() && x.sizes() == mask.sizes(), "masked_whiten: 'x' has shape ", shape_str(x),
              " but 'mask' has ", shape_str(mask), "; give them the same shape");
  auto m = is_real(mask);
  auto n = m.sum().to(torch::kFloat);
  auto mean = f32(x).masked_fill(~m, 0.0).sum() / n.clamp_min(1);
  auto centred = (f32(x) - mean).masked_fill(~m, 0.0);
  auto var = (centred * centred).sum() / (n - 1).clamp_min(1);  // unbiased; 0 with fewer than 2 tokens
  auto out = centred * torch::rsqrt(var + eps);
  if (!shift_mean) out = out + mean;
  return out.masked_fill(~m, 0.0);
}

torch::Tensor aggregate_loss(const torch::Tensor& loss, const torch::Tensor& mask, LossAgg agg, double denominator,
                             int64_t norm_len) {
  check_float(loss, "aggregate_loss", "loss");
  check_same_2d("aggregate_loss", {{"loss", &loss}, {"mask", &mask}});
  RLEIF_CHECK(denominator >= 0, "aggregate_loss: denominator = ", denominator,
              "; must be > 0 (the minibatch's token or row count) or 0 (this batch's own count)");
  RLEIF_CHECK(norm_len >= 0, "aggregate_loss: norm_len = ", norm_len, "; must be >= 0 (0 = A)");
  auto m = is_real(mask);
  auto l = f32(loss).masked_fill(~m, 0.0);  // [B,A]
  switch (agg) {
    case LossAgg::token_mean: {
      const double n = denominator > 0 ? denominator : std::max<double>(1, m.sum().item<double>());
      return l.sum() / n;
    }
    case LossAgg::seq_mean_token_mean: {
      auto tokens = m.sum(1).to(torch::kFloat);             // [B]
      auto row_mean = l.sum(1) / tokens.clamp_min(1);       // [B]; 0 for an empty row
      const double rows = denominator > 0 ? denominator : std::max<double>(1, (tokens > 0).sum().item<double>());
      return row_mean.sum() / rows;
    }
    case LossAgg::seq_mean_token_sum_norm: {
      const double rows = denominator > 0 ? denominator : std::max<double>(1, static_cast<double>(l.size(0)));
      const double len = norm_len > 0 ? static_cast<double>(norm_len) : std::max<double>(1, l.size(1));
      return l.sum() / (rows * len);
    }
  }
  RLEIF_FAIL("aggregate_loss: unknown LossAgg");
}

PolicyLossOut policy_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& advantages,
                          const torch::Tensor& mask, double eps_low, double eps_high, double dual_clip) {
  check_float(logp, "policy_loss", "logp");
  check_float(old_logp, "policy_loss", "old_logp");
  check_float(advantages, "policy_loss", "advantages");
  check_same_2d("policy_loss",
                {{"logp", &logp}, {"old_logp", &old_logp}, {"advantages", &advantages}, {"mask", &mask}});
  RLEIF_CHECK(eps_low >= 0 && eps_low < 1 && eps_high >= 0, "policy_loss: clip (", eps_low, ", ", eps_high,
              ") must satisfy 0 <= eps_low < 1 and eps_high >= 0, e.g. 0.2 and 0.2");
  RLEIF_CHECK(dual_clip == 0 || dual_clip > 1, "policy_loss: dual_clip = ", dual_clip,
              "; must be > 1 (Ye et al. use 3) or 0 for off");
  auto m = is_real(mask);
  auto adv = f32(advantages);
  auto ratio = torch::exp((f32(logp) - f32(old_logp)).clamp(-20.0, 20.0));  // [B,A]
  auto s1 = -adv * ratio;                                                   // unclipped loss
  auto s2 = -adv * ratio.clamp(1 - eps_low, 1 + eps_high);                  // clipped loss
  auto loss = torch::max(s1, s2);
  auto clipped = s2 > s1;
  if (dual_clip > 0) loss = torch::where(adv < 0, torch::min(loss, -dual_clip * adv), loss);
  PolicyLossOut out;
  out.loss = loss.masked_fill(~m, 0.0);
  out.clipped = (clipped & m).to(torch::kFloat);
  out.ratio = ratio.masked_fill(~m, 0.0);
  return out;
}

ValueLossOut value_loss(const torch::Tensor& values, const torch::Tensor& old_values, const torch::Tensor& returns,
                        const torch::Tensor& mask, double eps) {
  check_float(values, "value_loss", "values");
  check_float(old_values, "value_loss", "old_values");
  check_float(returns, "value_loss", "returns");
  check_same_2d("value_loss", {{"values", &values}, {"old_values", &old_values}, {"returns", &returns}, {"mask", &mask}});
  auto m = is_real(mask);
  auto v = f32(values), ret = f32(returns);
  auto l1 = (v - ret).square();  // [B,A]
  ValueLossOut out;
  if (eps <= 0) {
    out.loss = (0.5 * l1).masked_fill(~m, 0.0);
    out.clipped = torch::zeros_like(l1);
    return out;
  }
  auto old = f32(old_values);
  auto l2 = (old + (v - old).clamp(-eps, eps) - ret).square();
  out.loss = (0.5 * torch::max(l1, l2)).masked_fill(~m, 0.0);
  out.clipped = ((l2 > l1) & m).to(torch::kFloat);
  return out;
}

torch::Tensor entropy_from_logits(const torch::Tensor& logits) {
  check_float(logits, "entropy_from_logits", "logits");
  RLEIF_CHECK(logits.dim() >= 1 && logits.size(-1) > 0, "entropy_from_logits: 'logits' must be [N,V] with V > 0, got ",
              shape_str(logits));
  auto logp = torch::log_softmax(f32(logits), -1);  // [N,V]
  auto p = logp.exp();
  return -(p * logp).masked_fill(p == 0, 0.0).sum(-1);  // [N]; a -inf logit adds 0, not NaN
}

double explained_variance(const torch::Tensor& values, const torch::Tensor& returns, const torch::Tensor& mask) {
  check_float(values, "explained_variance", "values");
  check_float(returns, "explained_variance", "returns");
  check_same_2d("explained_variance", {{"values", &values}, {"returns", &returns}, {"mask", &mask}});
  auto m = is_real(mask);
  const double n = m.sum().item<double>();
  if (n < 2) return 0.0;
  // In double: a metric, and constant returns must give Var = 0 exactly enough to detect.
  auto ret = returns.to(torch::kDouble).masked_fill(~m, 0.0);
  auto diff = (returns.to(torch::kDouble) - values.to(torch::kDouble)).masked_fill(~m, 0.0);
  auto var = [&](const torch::Tensor& x) {
    auto mean = x.sum() / n;
    return ((x - mean).masked_fill(~m, 0.0).square().sum() / n).item<double>();
  };
  const double var_r = var(ret);
  const double mean_r = (ret.sum() / n).item<double>();
  if (!(var_r > 1e-12 * std::max(1.0, mean_r * mean_r))) return 0.0;
  return 1.0 - var(diff) / var_r;
}

void KlControlOptions::validate() const {
  RLEIF_CHECK(std::isfinite(beta) && beta >= 0, "algo.kl.beta = ", beta,
              ": must be >= 0 (0 = no KL penalty; InstructGPT-style runs use 0.01..0.05)");
  RLEIF_CHECK(std::isfinite(target) && target >= 0, "algo.kl.target = ", target,
              ": must be >= 0 (0 = fixed beta; e.g. 6 for Ziegler et al.'s adaptive controller)");
  RLEIF_CHECK(std::isfinite(horizon) && horizon > 0, "algo.kl.horizon = ", horizon,
              ": must be > 0 (samples over which beta adapts, e.g. 10000)");
}

void KlController::update(double kl, int64_t n_samples) {
  if (opts_.target <= 0) return;
  RLEIF_CHECK(std::isfinite(kl), "KlController::update: kl = ", kl,
              " is not finite; check the KL estimate (log-probs of policy and reference)");
  RLEIF_CHECK(n_samples >= 0, "KlController::update: n_samples = ", n_samples, "; must be >= 0");
  const double e = std::clamp(kl / opts_.target - 1.0, -0.2, 0.2);
  beta_ *= 1.0 + e * static_cast<double>(n_samples) / opts_.horizon;
}

json KlController::state() const { return json{{"beta", beta_}}; }

void KlController::load_state(const json& j, const std::string& where) {
  RLEIF_CHECK(j.is_object() && j.contains("beta") && j.at("beta").is_number(), where,
              ": KL controller state must be {\"beta\": <number>}, got ", j.dump().substr(0, 80),
              "; the checkpoint is damaged or from another program");
  const double b = j.at("beta").get<double>();
  RLEIF_CHECK(std::isfinite(b) && b >= 0, where, ": KL controller beta = ", b,
              " must be a finite number >= 0; the checkpoint is damaged");
  beta_ = b;
}

}  // namespace rleif::ppo
