// `rleif ppo` configuration: the policy, its critic, the reward, the prompts, the rollout, the
// algorithm (PPO with GAE, GRPO, RLOO), the two optimizers and the loop. One options struct per
// part; configs/ppo_math.yaml is the demo's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dist/options.h"
#include "core/options.h"
#include "model/lora.h"
#include "ppo/algo.h"
#include "rm/encode.h"
#include "train/optim.h"
#include "train/runtime.h"
#include "train/schedule.h"
#include "train/sft_data.h"

namespace rleif::ppo {

struct PolicyOptions {
  std::string path;       // SFT model directory (Hugging Face layout): actor and frozen reference
  std::string tokenizer;  // tokenizer.json or its directory; default: the one in `path`

  template <class V>
  void visit(V& v) {
    v.field("path", path, "the SFT policy (Hugging Face directory); the actor starts from it, the reference stays it");
    v.field("tokenizer", tokenizer, "tokenizer.json or its directory; default: the one in policy.path");
  }
  void validate() const;
};

// Where the critic (value model) starts. "" = the reward model (InstructGPT, OpenRLHF's default:
// critic_pretrain = reward_pretrain) when the reward has a sequence RM, else the policy with a
// fresh zero head.
struct CriticOptions {
  std::string path;
  int64_t warmup_iterations = 0;  // iterations that train only the critic (policy frozen; MOSS PPO-max)

  template <class V>
  void visit(V& v) {
    v.field("path", path, "critic start: a model directory; \"\" = the ORM/IRM when used, else the policy (zero head)");
    v.field("warmup_iterations", warmup_iterations, "first iterations train the critic only (the policy waits)");
  }
  void validate() const;
};

enum class RewardKind { rleif, prm, orm, rule, remote };
// How the IRM's logit becomes r_I in [0,1]: its sigmoid, or its rank among reference training prompts.
enum class IrmScale { sigmoid, rank };

struct RewardOptions {
  RewardKind kind = RewardKind::rleif;  // rleif: r = r_I * r_A (WizardMath)
  std::string irm;                       // IRM directory (rleif)
  std::string prm;                       // PRM directory (rleif, prm, per_step)
  std::string orm;                       // ORM directory (orm)
  std::string url;                       // remote reward endpoint (remote; OpenRLHF's /get_reward shape)
  rm::Aggregation aggregation = rm::Aggregation::min;  // r_A from the PRM's step scores
  bool per_step = false;                 // process-supervised PPO: PRM step scores at step ends (GAE only)
  double missing_eos_penalty = 1.0;      // subtracted from a response that ran out of tokens (TRL)
  double missing_answer_penalty = 0.0;   // subtracted from a response with no final answer
  double clip = 10.0;                    // scores clipped to [-clip, clip] (OpenRLHF)
  double rule_correct = 1.0;             // rule reward of a correct final answer
  double rule_wrong = 0.0;               // ... of a wrong or missing one
  int64_t batch_size = 32;               // sequences per reward-model forward
  // r_I from the IRM's logit. sigmoid: WizardMath's reading. rank: the share of reference prompts the
  // instruction outscores (ties count 1/2), uniform on [0,1] over the training prompts. A
  // Bradley-Terry IRM learns logit differences only, so the level and spread its sigmoid gives are
  // whatever training left; the rank keeps its order alone (docs/PPO.md, "r_I by rank").
  IrmScale irm_scale = IrmScale::sigmoid;
  int64_t irm_reference_prompts = 2000;  // rank: this many training prompts, evenly spaced in data.prompts

  template <class V>
  void visit(V& v) {
    v.field("kind", kind, "rleif (r_I * r_A from IRM and PRM) | prm | orm | rule (answer check) | remote (HTTP)");
    v.field("irm", irm, "instruction reward model directory (rleif)");
    v.field("irm_scale", irm_scale,
            "r_I from the IRM logit: sigmoid | rank (share of reference training prompts it outscores)");
    v.field("irm_reference_prompts", irm_reference_prompts,
            "irm_scale=rank: reference prompts, evenly spaced over data.prompts (all when fewer)");
    v.field("prm", prm, "process reward model directory (rleif, prm, per_step)");
    v.field("orm", orm, "outcome reward model directory (orm)");
    v.field("url", url, "remote reward URL taking OpenRLHF's {query, prompts, labels} and answering {rewards}");
    v.field("aggregation", aggregation, "r_A from step scores: min | prod | last | mean");
    v.field("per_step", per_step, "reward each step end with its PRM score (process-supervised PPO; gae only)");
    v.field("missing_eos_penalty", missing_eos_penalty, "subtracted from responses without EOS (cut at max_new_tokens)");
    v.field("missing_answer_penalty", missing_answer_penalty,
            "subtracted from responses that state no final answer ('The answer is: N' or '#### N'): a PRM judges "
            "the steps written, so against it a policy can gain by stopping before its answer (docs/PPO.md)");
    v.field("clip", clip, "scores are clipped to [-clip, clip]");
    v.field("rule_correct", rule_correct, "rule reward for a correct final answer");
    v.field("rule_wrong", rule_wrong, "rule reward for a wrong or missing final answer");
    v.field("batch_size", batch_size, "sequences per reward-model forward pass");
  }
  void validate() const;
};

struct PpoDataOptions {
  std::string prompts;          // JSONL: a question field; an answer for the rule reward and accuracy
  std::string eval;             // held-out JSONL for greedy accuracy ("" = none)
  int64_t eval_samples = 300;   // held-out problems decoded greedily
  int64_t eval_max_new_tokens = 128;
  std::string prompt_template;  // "" = the policy's (template.json written by rleif sft), else alpaca | plain | ...
  int64_t limit = 0;            // first N prompts (0 = all)

  template <class V>
  void visit(V& v) {
    v.field("prompts", prompts, "training prompts, JSONL: prompt|question|instruction|problem, answer when known");
    v.field("eval", eval, "held-out problems with answers for greedy accuracy (\"\" = none)");
    v.field("eval_samples", eval_samples, "held-out problems decoded greedily per evaluation");
    v.field("eval_max_new_tokens", eval_max_new_tokens, "generated tokens per held-out problem at most");
    v.field("template", prompt_template, "prompt template; \"\" = the one the policy was fine-tuned with");
    v.field("limit", limit, "use the first N prompts (0 = all)");
  }
  void validate() const;
};

struct PpoRolloutOptions {
  int64_t prompts_per_iteration = 32;  // prompts sampled per iteration
  int64_t n = 4;                       // samples per prompt (GRPO / RLOO groups)
  double temperature = 1.0;            // sampling temperature (log-probs use it too)
  double top_p = 1.0;                  // nucleus mass; must stay 1 while a KL term is used
  int64_t max_new_tokens = 128;
  int64_t max_batch = 64;              // engine cache rows
  std::vector<std::string> stop = {"Instruction:", "Instruction", "Response:", "Response"};
  bool recompute_logprobs = false;     // old log-probs from a trainer forward even at temperature 1

  template <class V>
  void visit(V& v) {
    v.field("prompts_per_iteration", prompts_per_iteration, "prompts per iteration");
    v.field("n", n, "samples per prompt (a group for grpo / rloo)");
    v.field("temperature", temperature, "sampling temperature; the trainer's log-probs use the same");
    v.field("top_p", top_p, "nucleus sampling mass; 1 = pure temperature sampling (required with a KL term)");
    v.field("max_new_tokens", max_new_tokens, "generated tokens per sample at most");
    v.field("max_batch", max_batch, "samples decoded together by the rollout engine");
    v.field("stop", stop, "stop strings (WizardMath's by default)");
    v.field("recompute_logprobs", recompute_logprobs, "old log-probs from a trainer forward pass even at temperature 1 "
            "(else the engine's, which equal them to ~1e-6)");
  }
  void validate() const;
};

enum class KlPlacement { reward, loss };

struct AlgoOptions {
  Advantage advantage = Advantage::gae;  // gae (PPO with a critic) | grpo | rloo | reinforce
  double gamma = 1.0;
  double lambda = 0.95;
  double clip_low = 0.2;                 // ratio clip 1 - clip_low
  double clip_high = 0.2;                // ratio clip 1 + clip_high
  double dual_clip = 0.0;                // > 1: Ye et al.'s cap for negative advantages; 0 = off
  double value_clip = 0.2;               // critic clip around old values; 0 = off
  KlControlOptions kl;
  KlEstimator kl_estimator = KlEstimator::k1;
  KlPlacement kl_in = KlPlacement::reward;  // reward: -beta*KL per token (PPO); loss: + beta*KL in the loss (GRPO)
  double entropy_coef = 0.0;
  double negative_scale = 1.0;           // factor on negative advantages: 1 = the estimator's, 0 = positive only
  bool whiten_rewards = false;
  bool whiten_advantages = true;
  ScaleRewards scale_rewards = ScaleRewards::group;  // grpo's divisor
  LossAgg loss_agg = LossAgg::token_mean;
  int64_t ppo_epochs = 1;
  int64_t minibatches = 1;               // optimizer steps per epoch (the batch split evenly)
  int64_t micro_batch = 16;              // sequences per forward/backward (gradients accumulate)

  template <class V>
  void visit(V& v) {
    v.field("advantage", advantage, "gae (PPO with a critic) | grpo | rloo | reinforce (whitened returns, no critic)");
    v.field("gamma", gamma, "discount (LLM default 1)");
    v.field("lambda", lambda, "GAE lambda (0.95)");
    v.field("clip_low", clip_low, "policy ratio clip below: 1 - clip_low");
    v.field("clip_high", clip_high, "policy ratio clip above: 1 + clip_high");
    v.field("dual_clip", dual_clip, "dual-clip constant c > 1 for negative advantages; 0 = off");
    v.field("value_clip", value_clip, "critic value clip around the rollout's values; 0 = off");
    v.section("kl", kl, "KL to the reference policy");
    v.field("kl_estimator", kl_estimator, "k1 | k2 | k3 (k3: low-variance, always >= 0)");
    v.field("kl_in", kl_in, "reward: -beta*KL in per-token rewards; loss: beta*KL added to the policy loss");
    v.field("entropy_coef", entropy_coef, "entropy bonus coefficient");
    v.field("negative_scale", negative_scale, "factor on negative advantages after the estimator (1 = as estimated; "
            "0 = learn from better-than-baseline samples only, as RAFT / rejection-sampling fine-tuning)");
    v.field("whiten_rewards", whiten_rewards, "whiten per-token rewards before GAE (lm-human-preferences)");
    v.field("whiten_advantages", whiten_advantages, "gae: whiten advantages over the batch (PPO default); grpo/rloo never whiten");
    v.field("scale_rewards", scale_rewards, "grpo: divide by the group std, the batch std, or none (Dr. GRPO)");
    v.field("loss_agg", loss_agg, "token_mean | seq_mean_token_mean | seq_mean_token_sum_norm (Dr. GRPO)");
    v.field("ppo_epochs", ppo_epochs, "passes over each iteration's samples");
    v.field("minibatches", minibatches, "optimizer steps per pass");
    v.field("micro_batch", micro_batch, "sequences per forward/backward; gradients accumulate to the minibatch");
  }
  void validate() const;
};

struct PpoTrainOptions {
  std::string output_dir;
  int64_t iterations = 100;
  int64_t seed = 42;
  bool deterministic = false;
  int64_t threads = 0;
  std::string device = "auto";
  train::Precision precision = train::Precision::auto_;
  double max_grad_norm = 1.0;
  int64_t save_every = 10;   // checkpoint every N iterations (and at the end, and on a signal)
  int64_t keep_last = 2;
  int64_t eval_every = 0;    // held-out accuracy every N iterations (0 = at start and end only)
  bool resume = true;
  double log_every_s = 10.0;
  dist::DistOptions dist;    // multi-process runs (torchrun): timeout, gradient buckets

  template <class V>
  void visit(V& v) {
    v.field("output_dir", output_dir, "run directory: checkpoints/, metrics.jsonl, model/ (policy), critic/");
    v.field("iterations", iterations, "rollout + update iterations");
    v.field("seed", seed, "seed of prompt order, sampling and minibatch order");
    v.field("deterministic", deterministic, "deterministic kernels (bitwise-repeatable CPU runs with fixed threads)");
    v.field("threads", threads, "intra-op CPU threads; 0 = torch's default (fix it for bitwise resume)");
    v.field("device", device, "auto | cpu | cuda | cuda:N");
    v.field("precision", precision, "auto = bf16 autocast on CUDA and fp32 on the CPU");
    v.field("max_grad_norm", max_grad_norm, "global gradient L2 clip of each model; 0 = none");
    v.field("save_every", save_every, "checkpoint every N iterations (0 = at the end and on SIGINT/SIGTERM)");
    v.field("keep_last", keep_last, "checkpoints kept");
    v.field("eval_every", eval_every, "held-out greedy accuracy every N iterations (0 = before and after only)");
    v.field("resume", resume, "continue from the newest checkpoint in output_dir");
    v.field("log_every_s", log_every_s, "seconds between progress lines when stdout is not a terminal");
    v.section("dist", dist, "data parallelism across processes launched by torchrun (docs/SCALING.md)");
  }
  void validate() const;
};

struct PpoConfig {
  PolicyOptions policy;
  CriticOptions critic;
  RewardOptions reward;
  PpoDataOptions data;
  PpoRolloutOptions rollout;
  AlgoOptions algo;
  train::AdamWOptions optim;         // the policy's
  train::AdamWOptions critic_optim;  // the critic's
  train::ScheduleOptions schedule;   // both learning rates, over all optimizer steps
  PpoTrainOptions train;
  model::LoraOptions lora;           // the policy's adapters; the reference is the policy with them off

  PpoConfig();
  template <class V>
  void visit(V& v) {
    v.section("policy", policy, "the SFT policy to improve");
    v.section("critic", critic, "the value model (gae only)");
    v.section("reward", reward, "what scores a response");
    v.section("data", data, "training prompts and held-out problems");
    v.section("rollout", rollout, "sampling of responses");
    v.section("algo", algo, "advantages, losses and KL");
    v.section("optim", optim, "AdamW of the policy");
    v.section("critic_optim", critic_optim, "AdamW of the critic");
    v.section("schedule", schedule, "learning-rate schedule of both optimizers");
    v.section("train", train, "the loop");
    v.section("lora", lora, "LoRA adapters on the policy (r = 0: every parameter trains); the reference "
                            "policy is the same model with its adapters off");
  }
  // Cross-section checks (e.g. per-step rewards need gae, top_p < 1 with a KL term).
  void validate() const;
};

}  // namespace rleif::ppo

RLEIF_ENUM_NAMES(rleif::ppo::RewardKind, {rleif::ppo::RewardKind::rleif, "rleif"}, {rleif::ppo::RewardKind::prm, "prm"},
                 {rleif::ppo::RewardKind::orm, "orm"}, {rleif::ppo::RewardKind::rule, "rule"},
                 {rleif::ppo::RewardKind::remote, "remote"});
RLEIF_ENUM_NAMES(rleif::ppo::IrmScale, {rleif::ppo::IrmScale::sigmoid, "sigmoid"}, {rleif::ppo::IrmScale::rank, "rank"});
RLEIF_ENUM_NAMES(rleif::ppo::KlPlacement, {rleif::ppo::KlPlacement::reward, "reward"},
                 {rleif::ppo::KlPlacement::loss, "loss"});
