#include "rm/verifier.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "rm/dataset.h"

namespace rleif::rm {

void HeadOptions::validate() const {
  RLEIF_CHECK(std::isfinite(init_scale) && std::isfinite(init_bias), "head.init_scale = ", init_scale,
              ", head.init_bias = ", init_bias, ": must be finite");
}

torch::Tensor scored_token_mask(const Tokenizer& tok, ScoredTokens which, int64_t vocab_size) {
  auto mask = torch::zeros({vocab_size}, torch::kBool);  // [V]
  auto acc = mask.accessor<bool, 1>();
  for (int64_t id = 0; id < vocab_size; ++id) {
    if (which == ScoredTokens::all) {
      acc[id] = true;
      continue;
    }
    // The decoded text, not the vocabulary string: a byte-fallback piece such as <0x31> is the digit 1,
    // and the string "<0x20>" holds digits but decodes to a space.
    const std::string text = id < tok.vocab_size() ? tok.decode({static_cast<int32_t>(id)}) : std::string();
    acc[id] = std::any_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  return mask;
}

LikelihoodVerifierImpl::LikelihoodVerifierImpl(model::CausalLM lm_, const Tokenizer& tok, ScoredTokens tokens_,
                                               double scale_, double bias_, int64_t width_, const std::vector<float>& probe_)
    : tokens(tokens_), width(width_) {
  RLEIF_CHECK(width == 1 || width == 2, "likelihood head: width ", width, " (1 = ORM, 2 = PRM)");
  lm = register_module("lm", std::move(lm_));
  mask = scored_token_mask(tok, tokens, lm->cfg.vocab_size);
  auto opts = lm->model->embed_tokens->weight.options();
  scale = register_parameter("scale", torch::full({1}, scale_, opts));
  bias = register_parameter("bias", torch::full({1}, bias_, opts));
  if (!probe_.empty()) {
    RLEIF_CHECK(static_cast<int64_t>(probe_.size()) == lm->cfg.hidden_size, "likelihood head: the probe has ",
                probe_.size(), " weights but the model's hidden size is ", lm->cfg.hidden_size,
                "; the reward model's rleif_rm.json belongs to another model");
    probe = register_parameter("probe", torch::tensor(probe_, torch::kFloat32).to(opts));
  }
}

torch::Tensor LikelihoodVerifierImpl::features(const std::vector<const Encoded*>& seqs, const torch::Device& device) {
  return compute(seqs, device, nullptr);
}

torch::Tensor LikelihoodVerifierImpl::compute(const std::vector<const Encoded*>& seqs, const torch::Device& device,
                                              torch::Tensor* end_hidden) {
  BackboneRows rows = backbone_rows(lm->model, seqs, device);
  // Rows whose next token is a response token: (row, target) for t in [max(start, 1), len) reads
  // row t - 1 of the sequence and scores token t.
  std::vector<int64_t> src, first;  // first[b]: index into src of sequence b's first response token
  for (size_t b = 0; b < seqs.size(); ++b) {
    const Encoded* s = seqs[b];
    first.push_back(static_cast<int64_t>(src.size()));
    const int64_t len = static_cast<int64_t>(s->ids.size());
    for (int64_t t = std::max<int64_t>(s->response_start, 1); t < len; ++t) src.push_back(rows.offset[b] + t - 1);
  }
  first.push_back(static_cast<int64_t>(src.size()));
  auto src_t = torch::tensor(src, torch::kInt64);                                  // [M]
  auto target = rows.ids.index_select(0, src_t + 1);                              // [M] token t
  auto scored = mask.index_select(0, target);                                      // [M]
  if (tokens == ScoredTokens::numbers) {
    // The response token right after a digit-bearing one: where the number stops. Not the sequence's
    // last token: a PRM encoding appends the step separator after the last step, where the policy
    // wrote EOS, so it would score every final answer as cut short.
    auto after = torch::zeros_like(scored);
    auto sa = scored.accessor<bool, 1>();
    auto aa = after.accessor<bool, 1>();
    for (size_t b = 0; b < seqs.size(); ++b)
      for (int64_t k = first[b] + 1; k + 1 < first[b + 1]; ++k) aa[k] = sa[k - 1];
    scored = scored | after;
  }
  scored = scored.to(device);
  auto lp = lm->token_logprobs_from_hidden(rows.hidden.index_select(0, src_t.to(device)).unsqueeze(0),
                                           target.to(device).unsqueeze(0))
                .squeeze(0);                                                        // [M] fp32
  auto v = torch::where(scored, lp, torch::zeros_like(lp));                         // [M] 0 = not scored
  std::vector<torch::Tensor> out;
  std::vector<int64_t> end_rows;  // the row of each step end
  for (size_t b = 0; b < seqs.size(); ++b) {
    const Encoded* s = seqs[b];
    for (int64_t e : s->ends) end_rows.push_back(rows.offset[b] + e);
    if (s->ends.empty()) continue;
    const int64_t t0 = std::max<int64_t>(s->response_start, 1), n = first[b + 1] - first[b];
    auto cm = n > 0 ? std::get<0>(v.slice(0, first[b], first[b + 1]).cummin(0)) : v.new_zeros({0});  // [n]
    auto padded = torch::cat({v.new_zeros({1}), cm});  // [n+1]: index 0 = no scored token yet
    std::vector<int64_t> at;
    for (int64_t e : s->ends) at.push_back(std::clamp<int64_t>(e - t0 + 1, 0, n));
    out.push_back(padded.index_select(0, torch::tensor(at, torch::kInt64).to(device)));
  }
  if (end_hidden)
    *end_hidden = rows.hidden.index_select(0, torch::tensor(end_rows, torch::kInt64).to(device)).to(torch::kFloat32);  // [E,H]
  return out.empty() ? torch::zeros({0}, torch::dtype(torch::kFloat32).device(device)) : torch::cat(out);  // [E]
}

torch::Tensor LikelihoodVerifierImpl::end_logits(const std::vector<const Encoded*>& seqs, const torch::Device& device) {
  torch::Tensor h;
  auto f = compute(seqs, device, probe.defined() ? &h : nullptr);      // [E]
  auto z = scale.to(torch::kFloat32) * f + bias.to(torch::kFloat32);   // [E]
  if (probe.defined()) z = z + h.matmul(probe.to(torch::kFloat32));   // [E,H] @ [H]
  return width == 1 ? z.unsqueeze(1) : torch::stack({torch::zeros_like(z), z}, 1);  // [E,1] | [E,2]
}

void LikelihoodVerifierImpl::calibrate(const torch::Tensor& features, const torch::Tensor& labels) {
  auto f = features.to(torch::kFloat64).contiguous(), y = labels.to(torch::kFloat64).contiguous();
  RLEIF_CHECK(f.numel() == y.numel() && f.numel() > 0, "calibrate: ", f.numel(), " features and ", y.numel(), " labels");
  const double mean = f.mean().item<double>(), sd = f.std(/*unbiased=*/false).item<double>();
  const double ybar = std::clamp(y.mean().item<double>(), 1e-4, 1 - 1e-4);
  torch::NoGradGuard ng;
  if (sd < 1e-6) {  // one feature value: only the base rate can be fitted
    bias.fill_(std::log(ybar / (1 - ybar)) - scale.item<double>() * mean);
    return;
  }
  // On the standardised feature z = (f - mean) / sd: logit = a z + c. Minimise
  //   L(a, c) = sum BCE(a z + c, y) + a^2 / 2
  // by Newton's method with step halving; the ridge keeps (near-)separable data finite.
  const auto z = ((f - mean) / sd).contiguous();
  const double* zp = z.data_ptr<double>();
  const double* yp = y.data_ptr<double>();
  const int64_t n = z.numel();
  auto objective = [&](double a, double c) {
    double l = 0.5 * a * a;
    for (int64_t i = 0; i < n; ++i) {
      const double x = a * zp[i] + c;
      l += std::max(x, 0.0) - x * yp[i] + std::log1p(std::exp(-std::abs(x)));  // BCE with logits, stable
    }
    return l;
  };
  double a = 0, c = std::log(ybar / (1 - ybar)), l = objective(a, c);
  for (int it = 0; it < 100; ++it) {
    double ga = a, gc = 0, haa = 1, hac = 0, hcc = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double p = 1.0 / (1.0 + std::exp(-(a * zp[i] + c))), r = p - yp[i], q = p * (1 - p);
      ga += r * zp[i];
      gc += r;
      haa += q * zp[i] * zp[i];
      hac += q * zp[i];
      hcc += q;
    }
    const double det = haa * hcc - hac * hac;
    if (!(det > 0)) break;
    double da = (hcc * ga - hac * gc) / det, dc = (haa * gc - hac * ga) / det, t = 1;
    double next = objective(a - da, c - dc);
    for (int h = 0; h < 40 && !(next <= l); ++h) t /= 2, next = objective(a - t * da, c - t * dc);
    if (!(next <= l)) break;
    a -= t * da;
    c -= t * dc;
    const bool done = l - next < 1e-12 * (1 + l);
    l = next;
    if (done) break;
  }
  scale.fill_(a / sd);
  bias.fill_(c - a * mean / sd);
}

}  // namespace rleif::rm
