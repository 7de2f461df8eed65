#include "evol/config.h"

#include "core/error.h"

namespace rleif::evol {

void SamplingOptions::validate() const {
  RLEIF_CHECK(temperature >= 0 && temperature <= 2, "sampling.*.temperature: must be in [0, 2], got ", temperature);
  RLEIF_CHECK(top_p > 0 && top_p <= 1, "sampling.*.top_p: must be in (0, 1], got ", top_p);
  RLEIF_CHECK(max_tokens >= 1, "sampling.*.max_tokens: must be >= 1, got ", max_tokens);
}

double OpWeights::get(EvolOp op) const {
  switch (op) {
    case EvolOp::add_constraints: return add_constraints;
    case EvolOp::deepening: return deepening;
    case EvolOp::concretizing: return concretizing;
    case EvolOp::increase_reasoning: return increase_reasoning;
    case EvolOp::complicate_input: return complicate_input;
    case EvolOp::breadth: return breadth;
    case EvolOp::downward: return downward;
    case EvolOp::downward_topic: return downward_topic;
  }
  return 0;
}

std::vector<double> EvolutionOptions::round_weights(int round) const {
  std::string kind = round >= 1 && static_cast<size_t>(round) <= schedule.size() ? schedule[static_cast<size_t>(round) - 1]
                                                                                  : "mixed";
  std::vector<double> w(kEvolOps, 0.0);
  for (int k = 0; k < kEvolOps; ++k) {
    auto op = static_cast<EvolOp>(k);
    bool down = op == EvolOp::downward || op == EvolOp::downward_topic;
    // WizardMath's upward evolution is adding constraints, concretizing and increasing reasoning.
    bool up = op == EvolOp::add_constraints || op == EvolOp::concretizing || op == EvolOp::increase_reasoning;
    bool use = kind == "mixed" || (kind == "downward" && down) || (kind == "upward" && up);
    w[static_cast<size_t>(k)] = use ? weights.get(op) : 0.0;
  }
  return w;
}

void EvolutionOptions::validate() const {
  RLEIF_CHECK(rounds >= 0 && rounds <= 100, "evolution.rounds: must be in [0, 100], got ", rounds);
  RLEIF_CHECK(variants >= 1 && variants <= 1000, "evolution.variants: must be in [1, 1000], got ", variants);
  for (int k = 0; k < kEvolOps; ++k)
    RLEIF_CHECK(weights.get(static_cast<EvolOp>(k)) >= 0, "evolution.weights.", enum_name(static_cast<EvolOp>(k)),
                ": must be >= 0");
  for (size_t i = 0; i < schedule.size(); ++i) {
    const std::string& s = schedule[i];
    RLEIF_CHECK(s == "mixed" || s == "upward" || s == "downward", "evolution.schedule[", i, "]: '", s,
                "' is not one of mixed | upward | downward");
  }
  for (int r = 1; r <= rounds; ++r) {
    double total = 0;
    for (double w : round_weights(r)) total += w;
    RLEIF_CHECK(total > 0, "evolution: round ", r, " has no operation with a positive weight (schedule '",
                static_cast<size_t>(r) <= schedule.size() ? schedule[static_cast<size_t>(r) - 1] : "mixed",
                "'); raise one of evolution.weights.*");
  }
}

void IrmOptions::validate() const {
  RLEIF_CHECK(min_candidates >= 2, "irm.min_candidates: a ranking needs at least 2 candidates, got ", min_candidates);
  RLEIF_CHECK(max_attempts >= 1, "irm.max_attempts: must be >= 1, got ", max_attempts);
}

void PrmOptions::validate() const {
  RLEIF_CHECK(max_steps >= 1, "prm.max_steps: must be >= 1, got ", max_steps);
  RLEIF_CHECK(max_attempts >= 1, "prm.max_attempts: must be >= 1, got ", max_attempts);
  RLEIF_CHECK(limit >= 0, "prm.limit: must be >= 0 (0 = all), got ", limit);
  for (auto [name, rate] : {std::pair<const char*, double>{"answer_only_rate", answer_only_rate},
                             {"copied_answer_rate", copied_answer_rate},
                             {"truncate_rate", truncate_rate},
                             {"drop_step_rate", drop_step_rate}})
    RLEIF_CHECK(rate >= 0 && rate <= 1, "prm.", name, ": must be in [0, 1], got ", rate);
}

void TeacherConfig::validate() const {
  if (kind == TeacherKind::openai) openai.validate();
  RLEIF_CHECK(price_prompt_per_1k >= 0 && price_completion_per_1k >= 0, "teacher.price_*_per_1k: must be >= 0");
}

EvolConfig EvolConfig::identity() const {
  EvolConfig c = *this;
  OpenAITeacherOptions d;
  TeacherConfig td;
  std::string model = c.teacher.openai.model;
  bool send_seed = c.teacher.openai.send_seed;
  c.teacher.openai = d;
  c.teacher.openai.model = model;          // another model is another dataset
  c.teacher.openai.send_seed = send_seed;  // changes what the server samples
  c.teacher.price_prompt_per_1k = td.price_prompt_per_1k;
  c.teacher.price_completion_per_1k = td.price_completion_per_1k;
  c.teacher.cache = td.cache;
  c.teacher.cache_path = td.cache_path;
  c.output = OutputOptions{};
  return c;
}

}  // namespace rleif::evol
