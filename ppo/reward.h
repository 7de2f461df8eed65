// Rewards of sampled responses. RLEIF (WizardMath): r = r_I(instruction) * r_A(answer), r_I the
// IRM's sigmoid score of the instruction and r_A the PRM's aggregate of its step P(correct), both in
// [0,1]. Also: the PRM's aggregate alone, an ORM (sigmoid), the rule reward (final answer checked
// against the reference), or a remote endpoint. Process-supervised PPO (Math-Shepherd) adds each
// step's PRM score at the step's last token instead of one terminal score.
//
// Reward models score text with their own tokenizer and template, so a reward model whose tokenizer
// differs from the policy's still scores correctly (the critic, which reads the policy's tokens, may
// not start from one: ppo/trainer checks that).
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "ppo/config.h"

namespace rleif::ppo {

struct RewardItem {
  std::string question;  // the instruction as in the data (no template)
  std::string response;  // the generated text (the stop string excluded)
  std::string truth;     // reference final answer; "" = unknown
  bool eos = true;       // ended by EOS or a stop string (false: cut at max_new_tokens)
};

struct RewardResult {
  double score = 0;  // the terminal reward (clipped, missing-EOS and missing-answer penalties applied); NaN = unusable
  double r_i = std::numeric_limits<double>::quiet_NaN();  // RLEIF parts (NaN when not used)
  double r_a = std::numeric_limits<double>::quiet_NaN();
  int correct = -1;  // final answer == truth (1/0); -1 = no reference
  bool answered = true;  // the response states a final answer
  // per_step: (character offset in `response` where a step ends, its PRM score) for every step.
  std::vector<std::pair<int64_t, double>> step_scores;
};

// A remote reward: (queries = prompt + response as the policy saw them, prompts, labels) -> one reward
// each. cli wires an HTTP client here (OpenRLHF's /get_reward shape).
using RemoteRewardFn = std::function<std::vector<double>(const std::vector<std::string>& queries,
                                                         const std::vector<std::string>& prompts,
                                                         const std::vector<std::string>& labels)>;

class Rewarder {
 public:
  // prompt_template renders instructions as the policy saw them (for remote queries).
  Rewarder(const RewardOptions& opts, train::PromptTemplate policy_template, const std::string& device,
           RemoteRewardFn remote = {});
  ~Rewarder();
  std::vector<RewardResult> score(const std::vector<RewardItem>& items);
  // reward.irm_scale=rank: scores the reference instructions (the training prompts' questions) with
  // the IRM once; r_I is then a logit's rank among theirs. Required before score() in that mode.
  // Returns the reference logits, ascending. A no-op (empty) without an IRM or with sigmoid.
  std::vector<double> set_irm_reference(const std::vector<std::string>& instructions);
  // Tokenizer files of the loaded reward models (to compare with the policy's).
  std::vector<std::string> model_dirs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The rank of x among `sorted` (ascending): (count below + count equal / 2) / size, in [0, 1].
// Values within 1e-6 relative of x count as equal: a score computed in another batch differs in
// its last bits, and an instruction of the reference set should land on its own midrank.
double midrank(const std::vector<double>& sorted, double x);

// Character offsets in `text` where each PRM step ends (rm::split_steps' steps, found in order).
std::vector<int64_t> step_end_offsets(const std::string& text);

// Maps character offsets of a response's text to the index of the response token whose text reaches
// past them: text_ends[t] = length of the text of tokens 0..t. Offsets past the end map to the last token.
std::vector<int64_t> offsets_to_tokens(const std::vector<int64_t>& offsets, const std::vector<int64_t>& text_ends);

}  // namespace rleif::ppo
