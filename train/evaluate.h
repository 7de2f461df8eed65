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
// "solution". limit > 0 keeps the first `limit`. Missing fields are errors naming file and line.
std::vector<EvalProblem> load_eval_problems(const std::string& path, int64_t limit = 0);

struct GreedyEvalOptions {
  PromptTemplate prompt_template = PromptTemplate::alpaca;
  int64_t max_new_tokens = 512;   // per problem
  int64_t batch_size = 32;        // prompts decoded together
  // WizardMath's vLLM stop strings: text from the first of these on is cut from the completion.
  std::vector<std::string> stop = {"Instruction:", "Instruction", "Response:", "Response"};
};

struct EvalRow {
  std::string id;
  std::string completion;              // generated text, cut at a stop string
  std::optional<std::string> predicted;  // extracted final answer
  std::string truth;
  bool correct = false;
  std::string finish_reason;           // stop | length
  int64_t tokens = 0;                  // generated tokens
  json to_json() const;
};

struct EvalSummary {
  int64_t n = 0;
  int64_t correct = 0;
  int64_t tokens = 0;  // generated tokens, all problems
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
};

// Decodes every problem greedily; on_row is called for each finished problem in input order.
EvalSummary evaluate_greedy(model::CausalLM& model, const Tokenizer& tok, const std::vector<EvalProblem>& problems,
                            const GreedyEvalOptions& opts, const std::vector<int64_t>& eos_ids,
                            const std::function<void(const EvalRow&)>& on_row = {});

// The token ids that end a completion: the tokenizer's EOS, the model config's eos_token_ids and,
// for ChatML, <|im_end|>.
std::vector<int64_t> stop_token_ids(const Tokenizer& tok, const model::ModelConfig& cfg);

}  // namespace rleif::train
