#include "evol/synthetic_teacher.h"

#include <algorithm>

#include "core/error.h"
#include "core/strings.h"
#include "evol/math_domain.h"
#include "evol/rng.h"

namespace rleif::evol {
namespace {

std::string squash_spaces(const std::string& s) {
  std::string out;
  for (char c : trim(s)) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// The evolutions to try, in order, for an Evol-Instruct operation.
std::vector<MathEvolution> evolutions_for(EvolOp op) {
  switch (op) {
    case EvolOp::concretizing: return {MathEvolution::bigger_numbers, MathEvolution::add_step};
    case EvolOp::breadth: return {MathEvolution::new_template};
    case EvolOp::downward: return {MathEvolution::remove_step, MathEvolution::easier_new_template};
    case EvolOp::downward_topic: return {MathEvolution::easier_new_template};
    default: return {MathEvolution::add_step, MathEvolution::bigger_numbers, MathEvolution::new_template};
  }
}

}  // namespace

void SyntheticTeacherOptions::validate() const {
  for (double r : {ill_posed_rate, no_change_rate, echo_rate, answer_error_rate, junk_rate, garbage_rank_rate})
    RLEIF_CHECK(r >= 0 && r <= 1, "teacher.synthetic: every *_rate must be in [0, 1], got ", r);
  RLEIF_CHECK(ill_posed_rate + no_change_rate + echo_rate <= 1,
              "teacher.synthetic: ill_posed_rate + no_change_rate + echo_rate must be <= 1");
}

SyntheticTeacher::SyntheticTeacher(SyntheticTeacherOptions opts, Prompts prompts)
    : opts_(opts), prompts_(std::move(prompts)) {
  opts_.validate();
  // The options are part of the model identity, so cached replies never cross option changes.
  std::string o = str(opts_.seed, "/", opts_.ill_posed_rate, "/", opts_.no_change_rate, "/", opts_.echo_rate, "/",
                      opts_.answer_error_rate, "/", opts_.junk_rate, "/", opts_.garbage_rank_rate);
  model_id_ = str("synthetic-math-v1/", std::hex, hash_bytes(o));
}

std::string SyntheticTeacher::evolve_reply(EvolOp op, const std::string& instruction, uint64_t h) const {
  auto p = parse_problem(trim(instruction));
  if (!p) return trim(instruction);  // nothing it can improve: the copy fails rule 1 downstream
  Rng rng(h);
  double u = rng.uniform01();
  auto evolve = [&]() -> MathProblem {
    for (MathEvolution e : evolutions_for(op)) {
      auto q = evolve_problem(*p, e, rng.next());
      if (!q) continue;
      if (op == EvolOp::increase_reasoning)
        if (auto more = evolve_problem(*q, MathEvolution::add_step, rng.next())) q = more;
      return *q;
    }
    return *evolve_problem(*p, MathEvolution::new_template, rng.next());
  };
  if (u < opts_.ill_posed_rate) {
    MathProblem q = evolve();
    auto defect = static_cast<MathDefect>(rng.uniform(1, 3));
    return make_ill_posed(q, defect, rng.next()).question;
  }
  u -= opts_.ill_posed_rate;
  if (u < opts_.no_change_rate) return p->question;
  u -= opts_.no_change_rate;
  if (u < opts_.echo_rate) return "#Rewritten Prompt#:\n" + evolve().question;
  return evolve().question;
}

std::string SyntheticTeacher::answer_reply(const std::string& instruction, uint64_t h) const {
  Rng rng(h);
  if (rng.bernoulli(opts_.junk_rate)) return "It is what it is.";
  auto p = parse_problem(trim(instruction));
  if (!p)
    return "I'm sorry, but I cannot answer this question: it is missing information or contradicts itself.";
  if (rng.bernoulli(opts_.answer_error_rate))
    return corrupt_solution(*p, static_cast<int>(rng.uniform(0, p->n_steps - 1)), rng.next());
  return p->solution;
}

std::string SyntheticTeacher::rank_reply(const std::string& candidates, uint64_t h) const {
  Rng rng(h);
  // Candidates come as "[k] text" lines; a line without a marker continues the previous one.
  std::vector<std::string> texts;
  for (auto& line : split(candidates, '\n')) {
    size_t close = line.find("] ");
    bool marker = !line.empty() && line[0] == '[' && close != std::string::npos;
    if (marker) texts.push_back(line.substr(close + 2));
    else if (!texts.empty()) texts.back() += "\n" + line;
  }
  if (texts.empty()) return "There are no candidates to rank.";
  if (rng.bernoulli(opts_.garbage_rank_rate)) return "These questions are all good ones; each has its merits.";
  // Valid questions first, harder ones higher; ill-posed ones last in random order.
  std::vector<std::pair<int64_t, int>> scored;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto p = parse_problem(trim(texts[i]));
    int64_t s = p ? 100000 + 1000 * p->n_steps + std::min<int64_t>(p->answer, 999) : 0;
    scored.push_back({s + rng.uniform(0, 9), static_cast<int>(i) + 1});
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<std::string> idx;
  for (auto& [s, k] : scored) idx.push_back(std::to_string(k));
  switch (rng.uniform(0, 3)) {
    case 0: return "[" + join(idx, "] > [") + "]";
    case 1: return "Ranking: " + join(idx, ", ");
    case 2: {
      std::string out = "Here is my ranking from best to worst:\n";
      for (size_t i = 0; i < idx.size(); ++i) out += str(i + 1, ". [", idx[i], "]\n");
      return out;
    }
    default: {
      std::string out = "The best is Candidate " + idx[0];
      for (size_t i = 1; i < idx.size(); ++i) out += (i + 1 == idx.size() ? ", and the worst is Candidate " : ", then Candidate ") + idx[i];
      return out + ".";
    }
  }
}

std::string SyntheticTeacher::judge_reply(const std::string& question, const std::string& steps_text) const {
  std::vector<std::string> steps;
  for (auto& line : split(steps_text, '\n')) {
    size_t colon = line.find(": ");
    if (starts_with(line, "Step ") && colon != std::string::npos) steps.push_back(line.substr(colon + 2));
    else if (!steps.empty()) steps.back() += "\n" + line;
  }
  auto verdicts = check_steps(trim(question), steps);
  if (!verdicts) return "I cannot judge these steps: the question is not one I can solve.";
  std::string out;
  for (size_t i = 0; i < verdicts->size(); ++i) {
    const StepVerdict& v = (*verdicts)[i];
    out += v.correct ? str("Step ", i + 1, ": correct\n") : str("Step ", i + 1, ": incorrect (", v.reason, ")\n");
  }
  return out;
}

std::string SyntheticTeacher::respond(const Messages& messages, int64_t sample_index) const {
  std::string user;
  for (auto& m : messages)
    if (m.role == "user") user = m.content;
  uint64_t h = hash_combine(static_cast<uint64_t>(opts_.seed), hash_bytes(user), static_cast<uint64_t>(sample_index));
  for (int k = 0; k < kEvolOps; ++k)
    if (auto m = prompts_.evolve[k].match(user)) return evolve_reply(static_cast<EvolOp>(k), (*m)["instruction"], h);
  if (auto m = prompts_.equality.match(user))
    return squash_spaces((*m)["first"]) == squash_spaces((*m)["second"]) ? "Equal" : "Not Equal";
  if (auto m = prompts_.answer.match(user)) return answer_reply((*m)["instruction"], h);
  if (auto m = prompts_.rank.match(user)) return rank_reply((*m)["candidates"], h);
  if (auto m = prompts_.judge_steps.match(user)) return judge_reply((*m)["question"], (*m)["steps"]);
  return "I'm sorry, I can only help with grade-school math questions.";
}

void SyntheticTeacher::complete_async(const Messages& messages, const CompletionParams& params, CompletionCallback done) {
  CompletionResult r;
  r.completion.text = respond(messages, params.sample_index);
  r.completion.finish_reason = "stop";
  size_t chars = 0;
  for (auto& m : messages) chars += m.content.size();
  r.completion.usage.prompt_tokens = static_cast<int64_t>(chars / 4 + 1);
  r.completion.usage.completion_tokens = static_cast<int64_t>(r.completion.text.size() / 4 + 1);
  ++completed_;
  prompt_tokens_ += r.completion.usage.prompt_tokens;
  completion_tokens_ += r.completion.usage.completion_tokens;
  done(std::move(r));
}

TeacherStats SyntheticTeacher::stats() const {
  TeacherStats s;
  s.completed = completed_;
  s.prompt_tokens = prompt_tokens_;
  s.completion_tokens = completion_tokens_;
  return s;
}

}  // namespace rleif::evol
