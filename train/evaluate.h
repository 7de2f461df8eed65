// Greedy pass@1 evaluation of a policy on math problems, scored the WizardMath way: the number after
// the last "The answer is" (or GSM8K's "####") in the completion, compared exactly with the
// reference answer (core/answer.h normalises commas, signs, decimals and fractions).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "model/causal_lm.h"
#include "model/tokenizer.h"
#include "train/sft_data.h"

namespace rleif::train {

struct EvalProblem {
  std::string id;        // "id" of the record, else its line number
  std::string question;  // the instruction the model is prompted with
  std::string truth;     // the reference final answer (as written)
};

// Reads problems from JSONL. The question is the first of "prompt", "question", "instruction",
// "problem"; the reference answer is "answer" (a number, or a solution whose final answer is
// extracted: GSM8K's "... #### 18" works as it is), else the final answer of "response" or
// "solution". limit > 0 keeps the first `limit`. Missing fields are errors naming file and line;
// with require_truth = false a record without a reference answer is kept with truth "" (RL prompts
// scored by a reward model).
std::vector<EvalProblem> load_eval_problems(const std::string& path, int64_t limit = 0, bool require_truth = true);

struct GreedyEvalOptions {
  PromptTemplate prompt_template = PromptTemplate::alpaca;
  int64_t max_new_tokens = 512;   // per problem
  int64_t batch_size = 32;        // rows decoded together; a finished row takes the next problem
  // WizardMath's vLLM stop strings: decoding stops at the first, and it and what follows are cut.
  std::vector<std::string> stop = {"Instruction:", "Instruction", "Response:", "Response"};
};

struct EvalRow {
  std::string id;
  std::string completion;              // generated text, cut at a stop string
  std::optional<std::string> predicted;  // extracted final answer
  std::string truth;
  bool correct = false;
  std::string finish_reason;           // stop (EOS or a stop string) | length
  int64_t tokens = 0;                  // generated tokens, the EOS that ended decoding excluded
  json to_json() const;
};

struct EvalSummary {
  int64_t n = 0;
  int64_t correct = 0;
  int64_t tokens = 0;  // generated tokens, all problems
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
};

// Decodes every problem greedily on a rollout::Engine built for this call over `model` (its weights as
// they are now; the model's train/eval mode is left as it is); on_row is called for each
// finished problem in input order. Generation ends at EOS (eos_ids and the model's), at a stop
// string, after max_new_tokens, or at the model's last position.
EvalSummary evaluate_greedy(model::CausalLM& model, const Tokenizer& tok, const std::vector<EvalProblem>& problems,
                            const GreedyEvalOptions& opts, const std::vector<int64_t>& eos_ids,
                            const std::function<void(const EvalRow&)>& on_row = {});

// The token ids that end a completion: the tokenizer's EOS, the model config's eos_token_ids and,
// for ChatML, <|im_end|>.
std::vector<int64_t> stop_token_ids(const Tokenizer& tok, const model::ModelConfig& cfg);

}  // namespace rleif::train
