// rleif data synth: the built-in math domain's data set (docs/DESIGN.md): templated grade-school
// word problems with exact integer answers and step-by-step solutions, split into train and
// held-out sets with no question in both, plus a tokenizer learned on the training text.
#include <iostream>
#include <map>
#include <set>

#include "cli/command.h"
#include "core/fs.h"
#include "evol/math_domain.h"
#include "train/domain_tokenizer.h"
#include "train/sft_data.h"

namespace rleif::cli {
namespace {

struct SynthConfig {
  std::string out;            // output directory
  int64_t n = 20000;          // problems generated (before removing duplicates)
  int64_t seed = 1;
  int64_t min_steps = 1;
  int64_t max_steps = 5;
  int64_t held_out = 500;     // held-out problems
  int64_t vocab_size = 1024;  // tokenizer size cap

  template <class V>
  void visit(V& v) {
    v.field("out", out, "output directory: train.jsonl, held_out.jsonl, tokenizer.json, tokenizer_config.json");
    v.field("n", n, "problems generated before duplicates are removed");
    v.field("seed", seed, "generator seed (problem i depends on seed and i only)");
    v.field("min_steps", min_steps, "fewest solution steps per problem (>= 1)");
    v.field("max_steps", max_steps, "most solution steps per problem (<= 8; DESIGN: 1-5)");
    v.field("held_out", held_out, "problems set aside for evaluation (their questions never occur in train)");
    v.field("vocab_size", vocab_size, "tokenizer vocabulary cap (3 specials + 256 bytes + merges)");
  }
  void validate() const {
    RLEIF_CHECK(!out.empty(), "data synth: give the output directory with --out DIR");
    RLEIF_CHECK(n >= 1, "data synth: n = ", n, ": must be >= 1");
    RLEIF_CHECK(min_steps >= 1 && min_steps <= max_steps && max_steps <= 8, "data synth: steps ", min_steps, "-", max_steps,
                ": need 1 <= min_steps <= max_steps <= 8");
    RLEIF_CHECK(held_out >= 0 && held_out < n, "data synth: held_out = ", held_out, ": must be in [0, n)");
  }
};

json record(const evol::MathProblem& p, const std::string& id) {
  return json{{"id", id},          {"prompt", p.question},     {"response", p.solution}, {"answer", p.answer},
              {"n_steps", p.n_steps}, {"template", p.template_name}};
}

int run(const SynthConfig& cfg) {
  auto problems = evol::generate_problems(cfg.n, static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.min_steps),
                                          static_cast<int>(cfg.max_steps));
  // Unique questions only, so no held-out question is also a training question.
  std::set<std::string> seen;
  std::vector<std::pair<size_t, const evol::MathProblem*>> unique;
  for (size_t i = 0; i < problems.size(); ++i)
    if (problems[i].well_posed() && seen.insert(problems[i].question).second) unique.emplace_back(i, &problems[i]);
  RLEIF_CHECK(static_cast<int64_t>(unique.size()) > cfg.held_out, "data synth: only ", unique.size(),
              " distinct problems for held_out = ", cfg.held_out, "; raise --n or lower --held-out");
  const size_t n_train = unique.size() - static_cast<size_t>(cfg.held_out);
  std::string train_text, held_text;
  std::vector<std::string> corpus;
  std::map<int, int64_t> steps_train, steps_held;
  for (size_t k = 0; k < unique.size(); ++k) {
    const auto& [i, p] = unique[k];
    json r = record(*p, "synth-" + std::to_string(cfg.seed) + "-" + std::to_string(i));
    if (k < n_train) {
      train_text += r.dump() + "\n";
      ++steps_train[p->n_steps];
      // The tokenizer learns from what the policy will read: the prompt as the template renders it.
      corpus.push_back(train::render_prompt(train::PromptTemplate::alpaca, p->question));
      corpus.push_back(p->solution);
    } else {
      held_text += r.dump() + "\n";
      ++steps_held[p->n_steps];
    }
  }
  make_dirs(cfg.out);
  train::DomainTokenizerOptions to;
  to.vocab_size = cfg.vocab_size;
  json tok = train::build_domain_tokenizer(corpus, to);
  write_file_atomic(cfg.out + "/tokenizer.json", tok.dump(2) + "\n");
  write_file_atomic(cfg.out + "/tokenizer_config.json", train::domain_tokenizer_config().dump(2) + "\n");
  write_file_atomic(cfg.out + "/held_out.jsonl", held_text);
  write_file_atomic(cfg.out + "/train.jsonl", train_text);
  auto counts = [](const std::map<int, int64_t>& m) {
    json j = json::object();
    for (auto& [s, c] : m) j[std::to_string(s)] = c;
    return j;
  };
  json summary{{"out", cfg.out},
               {"train", n_train},
               {"held_out", cfg.held_out},
               {"duplicates_removed", static_cast<int64_t>(problems.size() - unique.size())},
               {"train_by_steps", counts(steps_train)},
               {"held_out_by_steps", counts(steps_held)},
               {"tokenizer_vocab", tok["model"]["vocab"].size()}};
  std::cout << summary.dump() << "\n";
  return 0;
}

Command make_command() {
  return Command{"data", "data sets: `data synth` writes the built-in math domain (problems, solutions, tokenizer)",
                 [](CLI::App& app) -> std::function<int()> {
                   app.require_subcommand(1);
                   CLI::App* synth = app.add_subcommand(
                       "synth", "templated grade-school word problems with step-by-step solutions and a tokenizer");
                   auto cfg = std::make_shared<SynthConfig>();
                   auto args = std::make_shared<ConfigArgs>();
                   args->bind_text(*synth, "--out", "out", "output directory");
                   args->bind(*synth, "--n", {"n"}, "problems to generate");
                   args->bind(*synth, "--seed", {"seed"}, "generator seed");
                   args->bind(*synth, "--min-steps", {"min_steps"}, "fewest steps per problem");
                   args->bind(*synth, "--max-steps", {"max_steps"}, "most steps per problem");
                   args->bind(*synth, "--held-out", {"held_out"}, "held-out problems");
                   args->add_to(*synth);
                   return [=]() {
                     if (!resolve_config(*cfg, *args)) return 0;
                     return run(*cfg);
                   };
                 }};
}

RLEIF_COMMAND(data, make_command());

}  // namespace
}  // namespace rleif::cli
