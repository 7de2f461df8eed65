#include "ppo/reward.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/answer.h"
#include "core/error.h"
#include "core/strings.h"
#include "rm/encode.h"
#include "rm/scorer.h"

namespace rleif::ppo {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::unique_ptr<rm::Scorer> open_rm(const std::string& dir, rm::RmKind want, const RewardOptions& o,
                                    const std::string& device, const char* field) {
  rm::ScorerOptions so;
  so.device = device;
  so.batch_size = o.batch_size;
  so.aggregation = o.aggregation;
  auto s = std::make_unique<rm::Scorer>(dir, so);
  RLEIF_CHECK(s->kind() == want, "reward.", field, "=", dir, " is an ", enum_name(s->kind()), " model, but reward.",
              field, " needs an ", enum_name(want), " (train one with rleif rm train --config configs/rm_", enum_name(want),
              ".yaml)");
  return s;
}

}  // namespace

struct Rewarder::Impl {
  RewardOptions opts;
  train::PromptTemplate tmpl;
  RemoteRewardFn remote;
  std::unique_ptr<rm::Scorer> irm, prm, orm;
  std::vector<double> irm_reference;  // irm_scale=rank: reference logits, ascending
};

Rewarder::Rewarder(const RewardOptions& opts, train::PromptTemplate policy_template, const std::string& device,
                   RemoteRewardFn remote)
    : impl_(std::make_unique<Impl>()) {
  opts.validate();
  impl_->opts = opts;
  impl_->tmpl = policy_template;
  impl_->remote = std::move(remote);
  if (opts.kind == RewardKind::rleif) impl_->irm = open_rm(opts.irm, rm::RmKind::irm, opts, device, "irm");
  if (opts.kind == RewardKind::rleif || opts.kind == RewardKind::prm || opts.per_step)
    impl_->prm = open_rm(opts.prm, rm::RmKind::prm, opts, device, "prm");
  if (opts.kind == RewardKind::orm) impl_->orm = open_rm(opts.orm, rm::RmKind::orm, opts, device, "orm");
  RLEIF_CHECK(opts.kind != RewardKind::remote || impl_->remote, "reward.kind=remote: no HTTP client was given");
}

Rewarder::~Rewarder() = default;

std::vector<double> Rewarder::set_irm_reference(const std::vector<std::string>& instructions) {
  if (!impl_->irm || impl_->opts.irm_scale != IrmScale::rank) return {};
  RLEIF_CHECK(!instructions.empty(), "reward.irm_scale=rank needs reference prompts; data.prompts gave none");
  std::vector<double> ref;
  for (const auto& s : impl_->irm->score_instructions(instructions)) ref.push_back(s.score);
  std::sort(ref.begin(), ref.end());
  impl_->irm_reference = ref;
  return ref;
}

double midrank(const std::vector<double>& sorted, double x) {
  RLEIF_CHECK(!sorted.empty(), "midrank: no reference values");
  const double tol = 1e-6 * std::max(1.0, std::abs(x));
  const auto lo = std::lower_bound(sorted.begin(), sorted.end(), x - tol);
  const auto hi = std::upper_bound(sorted.begin(), sorted.end(), x + tol);
  const double below = static_cast<double>(lo - sorted.begin()), equal = static_cast<double>(hi - lo);
  return (below + equal / 2) / static_cast<double>(sorted.size());
}

std::vector<std::string> Rewarder::model_dirs() const {
  std::vector<std::string> out;
  if (impl_->irm) out.push_back(impl_->opts.irm);
  if (impl_->prm) out.push_back(impl_->opts.prm);
  if (impl_->orm) out.push_back(impl_->opts.orm);
  return out;
}

std::vector<RewardResult> Rewarder::score(const std::vector<RewardItem>& items) {
  const RewardOptions& o = impl_->opts;
  const size_t n = items.size();
  std::vector<RewardResult> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto pred = extract_answer(items[i].response);
    out[i].answered = pred.has_value();
    if (!items[i].truth.empty()) out[i].correct = pred && answers_match(*pred, items[i].truth) ? 1 : 0;
  }

  // The reward models see non-empty responses; an empty one scores the bottom of the [0,1] scale.
  std::vector<size_t> live;
  for (size_t i = 0; i < n; ++i)
    if (!trim(items[i].response).empty()) live.push_back(i);
  std::vector<double> raw(n, 0.0);

  if (impl_->prm && !live.empty()) {
    std::vector<std::pair<std::string, std::string>> qs;
    for (size_t i : live) qs.emplace_back(items[i].question, items[i].response);
    auto scores = impl_->prm->score(qs);
    for (size_t k = 0; k < live.size(); ++k) {
      const size_t i = live[k];
      out[i].r_a = rm::aggregate_steps(scores[k].steps, o.aggregation);
      if (o.per_step) {
        auto ends = step_end_offsets(items[i].response);
        // A truncated encoding scores fewer steps: the rest take the last kept score.
        for (size_t s = 0; s < ends.size(); ++s) {
          const auto& st = scores[k].steps;
          const double v = st.empty() ? 0.0 : st[std::min(s, st.size() - 1)];
          out[i].step_scores.emplace_back(ends[s], v);
        }
      }
    }
  }
  if (impl_->irm) {
    // The distinct instructions of this call, scored together: a prompt's n samples share one score.
    // No cache across calls: a score depends (in the last bits) on its batch, and the batch must be a
    // function of this call alone for a resumed run to equal an uninterrupted one.
    std::vector<std::string> todo;
    std::map<std::string, size_t> at;
    for (size_t i = 0; i < n; ++i)
      if (at.emplace(items[i].question, todo.size()).second) todo.push_back(items[i].question);
    auto s = impl_->irm->score_instructions(todo);
    const bool rank = o.irm_scale == IrmScale::rank;
    RLEIF_CHECK(!rank || !impl_->irm_reference.empty(),
                "reward.irm_scale=rank: the reference prompts were not scored (Rewarder::set_irm_reference)");
    for (size_t i = 0; i < n; ++i) {
      const double logit = s[at[items[i].question]].score;
      out[i].r_i = rank ? midrank(impl_->irm_reference, logit) : sigmoid(logit);
    }
  }
  switch (o.kind) {
    case RewardKind::rleif:
      for (size_t i = 0; i < n; ++i) raw[i] = std::isnan(out[i].r_a) ? 0.0 : out[i].r_i * out[i].r_a;
      break;
    case RewardKind::prm:
      for (size_t i = 0; i < n; ++i) raw[i] = std::isnan(out[i].r_a) ? 0.0 : out[i].r_a;
      break;
    case RewardKind::orm: {
      std::vector<std::pair<std::string, std::string>> qs;
      for (size_t i : live) qs.emplace_back(items[i].question, items[i].response);
      if (!qs.empty()) {
        auto s = impl_->orm->score(qs);
        for (size_t k = 0; k < live.size(); ++k) raw[live[k]] = sigmoid(s[k].score);
      }
      break;
    }
    case RewardKind::rule:
      for (size_t i = 0; i < n; ++i) {
        RLEIF_CHECK(out[i].correct >= 0, "reward.kind=rule needs a reference answer for every prompt, but the prompt '",
                    items[i].question.substr(0, 60), "...' has none; give data.prompts an 'answer' field or use an RM reward");
        raw[i] = out[i].correct ? o.rule_correct : o.rule_wrong;
      }
      break;
    case RewardKind::remote: {
      std::vector<std::string> queries, prompts, labels;
      for (const auto& it : items) {
        const std::string p = train::render_prompt(impl_->tmpl, it.question);
        queries.push_back(p + it.response);
        prompts.push_back(p);
        labels.push_back(it.truth);
      }
      auto r = impl_->remote(queries, prompts, labels);
      RLEIF_CHECK(r.size() == n, "reward.url answered ", r.size(), " rewards for ", n, " queries");
      raw = r;
      break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    double s = raw[i];
    if (!std::isfinite(s)) {
      out[i].score = std::numeric_limits<double>::quiet_NaN();  // the trainer counts and drops it
      continue;
    }
    s = std::clamp(s, -o.clip, o.clip);
    if (!items[i].eos) s -= o.missing_eos_penalty;
    if (!out[i].answered) s -= o.missing_answer_penalty;
    out[i].score = s;
  }
  return out;
}

std::vector<int64_t> step_end_offsets(const std::string& text) {
  std::vector<int64_t> ends;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    const size_t end = nl == std::string::npos ? text.size() : nl;
    if (!trim(std::string_view(text).substr(start, end - start)).empty()) ends.push_back(static_cast<int64_t>(end));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return ends;
}

std::vector<int64_t> offsets_to_tokens(const std::vector<int64_t>& offsets, const std::vector<int64_t>& text_ends) {
  std::vector<int64_t> out;
  if (text_ends.empty()) return out;
  for (int64_t c : offsets) {
    auto it = std::lower_bound(text_ends.begin(), text_ends.end(), c);
    out.push_back(it == text_ends.end() ? static_cast<int64_t>(text_ends.size()) - 1 : it - text_ends.begin());
  }
  return out;
}

}  // namespace rleif::ppo
