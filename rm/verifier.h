// A likelihood verifier: a PRM (or ORM) that keeps the policy's language-model head and reads each
// step's score from its own token probabilities. A step scores
//   P(correct) = sigmoid(scale * m_s + bias [+ w . h_s]),  m_s = min log p(y_t | y_<t) over the scored
//   response tokens t up to the end of step s (0 when there is none yet), h_s the last hidden state
//   at the step's last token (an optional linear probe, head.probe),
// so a step is as doubtful as the least likely number written so far; an ORM reads the same at the
// end of the response (its score is the logit scale * m + bias, as a classifier ORM's is a logit). Training moves the model's
// token probabilities and (scale, bias) by the usual step cross-entropy. Why: the demo's first errors
// are arithmetic slips, which a policy's own result-digit probabilities expose (AUC 0.94) and a
// fresh classifier head on the same backbone does not learn from a few thousand labels (AUC 0.70);
// docs/REWARD_MODELS.md has the measurements. Saved as LlamaForCausalLM plus (scale, bias) and the
// scored-token rule in rleif_rm.json, so transformers reproduces every score.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/options.h"
#include "model/causal_lm.h"
#include "model/tokenizer.h"
#include "rm/encode.h"

namespace rleif::rm {

enum class HeadKind {
  classifier,  // a linear score head on the last hidden state (TRL, OpenRLHF, Math-Shepherd)
  likelihood,  // the model's own token log-probs (rm/verifier.h); PRM and ORM
};
enum class ScoredTokens {
  digits,   // tokens whose text holds a digit: the numbers a math solution writes
  numbers,  // digits, and the response token right after one (but the sequence's last): where a number stops
  all,      // every response token
};

struct HeadOptions {
  HeadKind kind = HeadKind::classifier;
  ScoredTokens tokens = ScoredTokens::digits;
  bool calibrate = true;    // fit (scale, bias) to the training labels by logistic regression before training
  double init_scale = 1.0;  // (scale, bias) when calibrate is off
  double init_bias = 0.0;
  bool probe = false;       // add a linear probe of the step end's hidden state to the logit

  template <class V>
  void visit(V& v) {
    v.field("kind", kind, "classifier (linear score head) | likelihood (the model's own token log-probs; PRM, ORM)");
    v.field("tokens", tokens,
            "likelihood head: the response tokens whose log-probs score a step: digits | numbers (digits and the "
            "token after each, so a number cut short, '31 * 3 = 9' for 93, is as unlikely as a wrong one) | all");
    v.field("calibrate", calibrate, "likelihood head from a policy: fit scale and bias to the training labels first");
    v.field("init_scale", init_scale, "likelihood head: scale when calibrate is off");
    v.field("init_bias", init_bias, "likelihood head: bias when calibrate is off");
    v.field("probe", probe,
            "likelihood head: add w . h_e (h_e the last hidden state at the step's end, w trained from 0) to the "
            "logit, so the score can also see what token probabilities cannot, such as an answer with no work "
            "before it (a copied number is a likely one)");
  }
  void validate() const;
};

// The scored tokens of a vocabulary: mask [V] bool (true = scored), from each id's decoded text. For
// `numbers` it is the digit mask; the token after a digit is added per sequence (features()).
torch::Tensor scored_token_mask(const Tokenizer& tok, ScoredTokens which, int64_t vocab_size);

struct LikelihoodVerifierImpl : torch::nn::Module {
  // lm: the language model; tokens: which of tok's tokens are scored (the mask); width: 2 for a PRM,
  // 1 for an ORM; probe: w, [hidden_size] values, or empty for no probe.
  LikelihoodVerifierImpl(model::CausalLM lm, const Tokenizer& tok, ScoredTokens tokens, double scale, double bias,
                         int64_t width, const std::vector<float>& probe = {});
  // m_s of every step end of every sequence, in order of sequences then ends: [E] fp32.
  torch::Tensor features(const std::vector<const Encoded*>& seqs, const torch::Device& device);
  // Logits in the classifier's form, so the losses, step_probability and every metric read both heads
  // alike: PRM [E,2] = [0, z_s], ORM [E,1] = z, with z = scale * m + bias (+ w . h_e with a probe).
  torch::Tensor end_logits(const std::vector<const Encoded*>& seqs, const torch::Device& device);
  // Fits (scale, bias) to features [N] and labels [N] in [0,1]: the minimum of the summed BCE plus
  // (scale * std(features))^2 / 2 (a ridge on the standardised slope keeps separable data finite), by
  // Newton's method. Used once, before training from a policy.
  void calibrate(const torch::Tensor& features, const torch::Tensor& labels);

  model::CausalLM lm{nullptr};
  torch::Tensor scale;  // [1]
  torch::Tensor bias;   // [1]
  torch::Tensor probe;  // [H] w, or undefined without a probe
  ScoredTokens tokens;
  torch::Tensor mask;   // [V] bool, scored_token_mask(tok, tokens, V), on the CPU; not a parameter
  int64_t width = 2;

 private:
  // m_s as features() returns it, and with end_hidden given, the hidden states at the step ends [E,H].
  torch::Tensor compute(const std::vector<const Encoded*>& seqs, const torch::Device& device, torch::Tensor* end_hidden);
};
TORCH_MODULE(LikelihoodVerifier);

}  // namespace rleif::rm

RLEIF_ENUM_NAMES(rleif::rm::HeadKind, {rleif::rm::HeadKind::classifier, "classifier"},
                 {rleif::rm::HeadKind::likelihood, "likelihood"});
RLEIF_ENUM_NAMES(rleif::rm::ScoredTokens, {rleif::rm::ScoredTokens::digits, "digits"},
                 {rleif::rm::ScoredTokens::numbers, "numbers"}, {rleif::rm::ScoredTokens::all, "all"});
