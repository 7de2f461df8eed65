// Monte-Carlo step labels (Math-Shepherd, Wang et al. 2023, arXiv 2312.08935): for each step prefix
// s_1..s_i of a policy solution, a completer (the policy) decodes N continuations; the hard estimate
// y_HE is 1 when any continuation reaches the correct final answer, the soft estimate y_SE is the
// fraction that do. The output is rleif's prm_steps JSONL, one line per solution:
//
//   {"prompt", "steps": [S], "labels": [S], "hard": [S], "soft": [S], "source_id", "sample", "n"}
//
// Steps are the solution's non-empty lines. A step whose prefix already states a final answer (the
// last step of a finished solution) is labelled by that answer without rollouts; the last step of a
// solution with no final answer is 0. Requests are seeded by (seed, solution index, step index) only,
// so a run killed at any moment and started again writes what an uninterrupted run writes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jsonl.h"
#include "core/options.h"
#include "rm/encode.h"  // split_steps: the PRM step split shared with training and scoring

namespace rleif::rm {

enum class Estimation { hard, soft };
// How a final answer is read from a solution text.
enum class AnswerChecker {
  auto_,      // the later of the last "The answer is" and the last "####" (core/answer.h extract_answer)
  domain,     // the built-in math domain: the last non-empty line is "The answer is: N"
  gsm8k,      // the last "####" only (GSM8K reference style)
  answer_is,  // the last "The answer is" only (WizardMath)
};

struct LabelMcConfig {
  std::string model;                   // policy (completer) directory
  std::string input;                   // solutions JSONL
  std::string output;                  // prm_steps JSONL (appended; resumable)
  std::string data;                    // problems JSONL giving the truth by id ("" = truth in each record)
  std::string prompt_template = "auto";  // auto = the template `rleif sft` recorded in the model directory
  int64_t n = 8;                       // completions per step prefix (Math-Shepherd: N = 8)
  double temperature = 0.7;            // Math-Shepherd's completer temperature
  double top_p = 1.0;
  int64_t top_k = 0;
  int64_t max_new_tokens = 256;        // tokens per completion at most
  std::vector<std::string> stop = {"Instruction:", "Instruction", "Response:", "Response"};  // WizardMath's
  int64_t seed = 42;                   // run seed; each request's seed derives from (seed, solution, step)
  int64_t batch = 64;                  // engine rows (samples decoded together)
  int64_t threads = 0;
  std::string device = "auto";
  std::string dtype = "float32";
  Estimation estimation = Estimation::hard;  // Math-Shepherd trains its PRM on hard estimates
  AnswerChecker checker = AnswerChecker::auto_;
  int64_t limit = 0;                   // label the solutions of the first N input records (0 = all)

  template <class V>
  void visit(V& v) {
    v.field("model", model, "policy model directory that completes the step prefixes");
    v.field("input", input,
            "solutions JSONL: rleif generate output {\"id\", \"prompt\", \"samples\": [{\"text\"}]} or "
            "{\"prompt\", \"response\"}; truth in \"truth\"/\"answer\" or from --data");
    v.field("output", output, "prm_steps JSONL, one line per solution in input order (resumable)");
    v.field("data", data, "problems JSONL (GSM8K as it is) whose answers are joined to the solutions by id");
    v.field("template", prompt_template,
            "prompt template: auto (recorded by rleif sft in the model directory, else alpaca) | alpaca | "
            "alpaca_cot | chatml | plain");
    v.field("n", n, "completions per step prefix (Math-Shepherd: 8)");
    v.field("temperature", temperature, "completer sampling temperature (Math-Shepherd: 0.7)");
    v.field("top_p", top_p, "nucleus sampling mass; 1 = off");
    v.field("top_k", top_k, "keep the k most likely tokens; 0 = off");
    v.field("max_new_tokens", max_new_tokens, "tokens per completion at most");
    v.field("stop", stop, "stop strings that end a completion");
    v.field("seed", seed, "run seed (>= 0); each request's seed is a function of (seed, solution, step)");
    v.field("batch", batch, "samples decoded together (engine rows)");
    v.field("threads", threads, "intra-op CPU threads; 0 = torch's default");
    v.field("device", device, "auto | cpu | cuda | cuda:N");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("estimation", estimation, "which estimate goes into \"labels\": hard (any hit) | soft (hit fraction)");
    v.field("checker", checker, "final-answer reader: auto | domain | gsm8k | answer_is");
    v.field("limit", limit, "label only the solutions of the first N input records (0 = all)");
  }
  void validate() const;
};

// One solution to label.
struct McSolution {
  std::string source_id;           // the record's "id", else its line number
  int64_t sample = 0;              // index in the record's "samples" (0 for a "response" record)
  std::string prompt;              // the question
  std::vector<std::string> steps;  // [S] non-empty trimmed lines, S >= 1
  std::string truth;               // the reference final answer
  SourceLoc loc;
};

struct McInput {
  std::vector<McSolution> solutions;  // in input order
  int64_t records = 0;                // records read (after limit)
  int64_t empty = 0;                  // samples with no non-empty line (skipped, no output line)
};

// The non-empty, trimmed lines of a solution.


// The final answer of `text` as `checker` reads it, or nullopt.
std::optional<std::string> checked_answer(AnswerChecker checker, std::string_view text);

// Reads the solutions of `input`, truth from the record or from `data` (joined by id). A record
// without a prompt, a solution or a truth is an Error naming file:line.
McInput read_mc_solutions(const std::string& input, const std::string& data, int64_t limit = 0);

// The label of step `step` (0-based) when no rollout is needed: 1/0 when the prefix through it
// already states a final answer (right/wrong), 0 for the last step of a solution without one;
// nullopt when the step must be rolled out.
std::optional<float> settled_label(const McSolution& s, size_t step, AnswerChecker checker);

// The seed of the completions of step `step` of solution `index` (position in the input).
int64_t mc_request_seed(int64_t seed, int64_t index, int64_t step);

// The completer: decodes continuations of step prefixes, many at once.
class McCompleter {
 public:
  using DoneFn = std::function<void(uint64_t tag, std::vector<std::string>&& texts)>;
  virtual ~McCompleter() = default;
  // Called once with the solutions still to label, before any submit (sizes caches).
  virtual void start(const std::vector<const McSolution*>& todo) = 0;
  // Queues n continuations of `prefix` (steps joined by "\n", then "\n") after `s.prompt`.
  virtual void submit(uint64_t tag, const McSolution& s, const std::string& prefix, int64_t n, int64_t seed) = 0;
  // One unit of work; finished requests are reported through `done` (any order). Returns true
  // while submitted requests remain unfinished.
  virtual bool step(const DoneFn& done) = 0;
  // Requests submitted but not yet started (the caller keeps this small, so memory stays bounded).
  virtual size_t queued() const = 0;
  // Display fields for the progress line.
  virtual std::vector<std::pair<std::string, std::string>> progress_fields() const { return {}; }
};

// The policy on the rollout engine (continuous batching), loaded from cfg.model.
std::unique_ptr<McCompleter> make_engine_completer(const LabelMcConfig& cfg);

struct McStats {
  int64_t solutions = 0;      // in the input (after limit)
  int64_t skipped = 0;        // already in the output (resume)
  int64_t labelled = 0;       // written by this run
  int64_t steps = 0;          // steps labelled by this run
  int64_t rolled_out = 0;     // of those, labelled by rollouts
  int64_t completions = 0;    // continuations decoded
  int64_t hard_positive = 0;  // steps with hard label 1
};

// Labels every solution of cfg.input not yet in cfg.output with `completer`, appending in input order.
McStats label_mc(const LabelMcConfig& cfg, McCompleter& completer);

// `rleif rm label-mc`: validates cfg, writes `config_yaml` (the resolved options, when non-empty) to
// <output>.config.yaml, loads the policy and labels. Returns the exit code.
int run_label_mc(const LabelMcConfig& cfg, const std::string& config_yaml = "");

}  // namespace rleif::rm

RLEIF_ENUM_NAMES(rleif::rm::Estimation, {rleif::rm::Estimation::hard, "hard"}, {rleif::rm::Estimation::soft, "soft"});
RLEIF_ENUM_NAMES(rleif::rm::AnswerChecker, {rleif::rm::AnswerChecker::auto_, "auto"},
                 {rleif::rm::AnswerChecker::domain, "domain"}, {rleif::rm::AnswerChecker::gsm8k, "gsm8k"},
                 {rleif::rm::AnswerChecker::answer_is, "answer_is"});
