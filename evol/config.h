// The configuration of `rleif evol` (configs/evol_gsm8k.yaml, configs/evol_synth.yaml). Keys are the
// dotted names below; `rleif evol --help-config` lists them with defaults and docs.
#pragma once
#include <string>
#include <vector>

#include "core/options.h"
#include "evol/elimination.h"
#include "evol/openai_teacher.h"
#include "evol/prompts.h"
#include "evol/seeds.h"
#include "evol/synthetic_teacher.h"

namespace rleif::evol {

enum class TeacherKind { openai, synthetic };

struct SamplingOptions {
  double temperature = 0.0;
  double top_p = 1.0;
  int max_tokens = 1024;

  template <class V>
  void visit(V& v) {
    v.field("temperature", temperature, "sampling temperature (0 = greedy)");
    v.field("top_p", top_p, "nucleus sampling mass");
    v.field("max_tokens", max_tokens, "most tokens in the reply");
  }
  void validate() const;
};

struct SamplingSet {
  // Evol-Instruct's evolver: temperature 1, top_p 0.95, max_tokens 2048 (Evol_Instruct/openai_access.py).
  SamplingOptions evolve{1.0, 0.95, 2048};
  SamplingOptions judge{0.0, 1.0, 16};
  SamplingOptions answer{0.0, 1.0, 1024};
  SamplingOptions rank{0.0, 1.0, 256};
  SamplingOptions label{0.0, 1.0, 512};

  template <class V>
  void visit(V& v) {
    v.section("evolve", evolve, "evolution calls");
    v.section("judge", judge, "equality judgements (elimination rule 1)");
    v.section("answer", answer, "step-by-step answers");
    v.section("rank", rank, "IRM rankings");
    v.section("label", label, "PRM step judgements");
  }
};

struct OpWeights {
  double add_constraints = 1.0;
  double deepening = 1.0;
  double concretizing = 1.0;
  double increase_reasoning = 1.0;
  double complicate_input = 0.0;
  double breadth = 1.0;
  double downward = 1.0;
  double downward_topic = 0.5;

  template <class V>
  void visit(V& v) {
    v.field("add_constraints", add_constraints, "in-depth: add a constraint (WizardMath upward i)");
    v.field("deepening", deepening, "in-depth: deepen the inquiry");
    v.field("concretizing", concretizing, "in-depth: replace general concepts with specific ones (upward ii)");
    v.field("increase_reasoning", increase_reasoning, "in-depth: require more reasoning steps (upward iii)");
    v.field("complicate_input", complicate_input, "in-depth: add structured input data (project-authored prompt)");
    v.field("breadth", breadth, "in-breadth: a new, rarer instruction in the same domain");
    v.field("downward", downward, "WizardMath downward i: an easier version of the question");
    v.field("downward_topic", downward_topic, "WizardMath downward ii: a new, easier question on another topic");
  }
  double get(EvolOp op) const;
};

struct EvolutionOptions {
  int rounds = 3;
  int variants = 4;
  int64_t seed = 1;
  std::vector<std::string> schedule;
  std::string prompts_dir;
  OpWeights weights;

  template <class V>
  void visit(V& v) {
    v.field("rounds", rounds, "M: chained evolution rounds (round r evolves round r-1's kept items)");
    v.field("variants", variants, "K: evolved variants per seed per round (K chains per seed)");
    v.field("seed", seed, "seed of the operation draws; every draw is a function of (seed, item, round, variant)");
    v.field("schedule", schedule,
            "per round: mixed | upward | downward (WizardMath v3: [downward, downward, upward, upward, upward]); "
            "empty = all mixed; missing rounds are mixed");
    v.field("prompts_dir", prompts_dir, "directory of <prompt>.txt files overriding the built-in prompts");
    v.section("weights", weights, "how often each operation is drawn");
  }
  void validate() const;
  // The operations a round may draw from, with their weights.
  std::vector<double> round_weights(int round) const;
};

struct ResponseOptions {
  bool enabled = true;
  bool include_seeds = true;
  template <class V>
  void visit(V& v) {
    v.field("enabled", enabled, "have the teacher answer every kept instruction step by step");
    v.field("include_seeds", include_seeds, "also answer the seeds (round 0), checked against their ground truth");
  }
};

struct IrmOptions {
  bool enabled = true;
  int min_candidates = 2;
  int max_attempts = 3;
  template <class V>
  void visit(V& v) {
    v.field("enabled", enabled, "rank each (seed, round)'s K evolved candidates for IRM training lists");
    v.field("min_candidates", min_candidates, "skip groups with fewer distinct candidates than this");
    v.field("max_attempts", max_attempts, "samples to draw when a ranking reply cannot be parsed");
  }
  void validate() const;
};

struct PrmOptions {
  std::string solutions;
  int max_steps = 30;
  int max_attempts = 3;
  int64_t limit = 0;
  double answer_only_rate = 0;
  double copied_answer_rate = 0;
  double truncate_rate = 0;
  double drop_step_rate = 0;
  int64_t seed = 1;
  template <class V>
  void visit(V& v) {
    v.field("solutions", solutions,
            "solutions to label step by step (rleif generate's {\"id\", \"prompt\", \"samples\"} or "
            "{\"prompt\", \"response\"}); empty = no PRM labelling");
    v.field("max_steps", max_steps, "skip solutions with more steps than this");
    v.field("max_attempts", max_attempts, "samples to draw when a judgement reply cannot be parsed");
    v.field("limit", limit, "label only the first N solutions; 0 = all");
    v.field("answer_only_rate", answer_only_rate,
            "share of solutions (with work before the answer line) also sent to the teacher as their answer line "
            "alone: a shortcut negative, so a PRM learns that an answer without the work is not a correct process "
            "(PPO against a PRM that never saw one learns to skip the reasoning; docs/PPO.md)");
    v.field("copied_answer_rate", copied_answer_rate,
            "share of solutions also sent as their answer line alone stating a number copied from the question "
            "(what a policy that skips the work against a likelihood PRM writes: a copied number is a likely one)");
    v.field("truncate_rate", truncate_rate,
            "share of solutions (with 2 or more work steps) also sent cut after their first k work steps, stating "
            "the last kept result as the answer");
    v.field("drop_step_rate", drop_step_rate,
            "share of solutions (with 2 or more steps before the answer line) also sent with one of those steps "
            "removed: the teacher labels the step that uses the missing result wrong");
    v.field("seed", seed, "seed of the shortcut draws; each is a function of (seed, source id, sample)");
  }
  void validate() const;
};

struct TeacherConfig {
  TeacherKind kind = TeacherKind::synthetic;
  OpenAITeacherOptions openai;
  double price_prompt_per_1k = 0;
  double price_completion_per_1k = 0;
  bool cache = true;
  std::string cache_path;
  SyntheticTeacherOptions synthetic;

  template <class V>
  void visit(V& v) {
    v.field("kind", kind, "openai: any OpenAI-compatible server; synthetic: the offline math-domain teacher");
    openai.visit(v);  // base_url, model, api_key_env, ... sit directly under teacher.
    v.field("price_prompt_per_1k", price_prompt_per_1k, "price of 1000 prompt tokens, for the cost estimate");
    v.field("price_completion_per_1k", price_completion_per_1k, "price of 1000 completion tokens");
    v.field("cache", cache, "keep every completion in the on-disk response cache (a rerun never pays twice)");
    v.field("cache_path", cache_path, "response cache file; empty = <output.dir>/cache/responses.jsonl");
    v.section("synthetic", synthetic, "kind synthetic: the offline teacher's behaviour");
  }
  void validate() const;
};

struct OutputOptions {
  std::string dir = "evol_out";
  bool progress = true;
  template <class V>
  void visit(V& v) {
    v.field("dir", dir, "output directory (evolved.jsonl, irm_lists.jsonl, prm_steps.jsonl, sft.jsonl, journal)");
    v.field("progress", progress, "show a progress bar on stderr");
  }
};

struct EvolConfig {
  SeedOptions seeds;
  EvolutionOptions evolution;
  EliminationOptions elimination;
  ResponseOptions responses;
  IrmOptions irm;
  PrmOptions prm;
  TeacherConfig teacher;
  SamplingSet sampling;
  OutputOptions output;

  template <class V>
  void visit(V& v) {
    v.section("seeds", seeds, "where the seed instructions come from");
    v.section("evolution", evolution, "rounds, variants and operations");
    v.section("elimination", elimination, "Evol-Instruct's elimination rules and the math answer filter");
    v.section("responses", responses, "teacher answers to kept instructions");
    v.section("irm", irm, "Instruction Reward Model ranking lists");
    v.section("prm", prm, "Process-supervised Reward Model step labels");
    v.section("teacher", teacher, "the teacher LLM");
    v.section("sampling", sampling, "sampling parameters per kind of call");
    v.section("output", output, "where results go");
  }
  // The config with every key that does not change the dataset (concurrency, timeouts, retries,
  // limits, prices, the server's address, the key's variable) set to its default: two runs whose
  // identities match produce the same dataset, so a resume may mix them.
  EvolConfig identity() const;
};

}  // namespace rleif::evol

RLEIF_ENUM_NAMES(rleif::evol::TeacherKind, {rleif::evol::TeacherKind::openai, "openai"},
                 {rleif::evol::TeacherKind::synthetic, "synthetic"});
