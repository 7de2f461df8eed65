// The PPO / GRPO / RLOO loop (`rleif ppo`). Each iteration:
//   prompts (a seeded order over the prompt file) -> the rollout engine, built once on the actor and
//   following its in-place optimizer updates (n seeded samples per prompt) -> rewards -> old
//   log-probs, reference log-probs and values (no grad) -> advantages (GAE, GRPO or RLOO) ->
//   ppo_epochs passes over minibatches, each an optimizer step over micro-batches.
// Every save_every iterations a checkpoint holds the actor, the critic, both optimizers, the KL
// controller, the RNG and the iteration; since prompt order, sampling seeds and minibatch order are
// functions of (seed, iteration) only, a run killed at any point and started again ends with the
// same weights (bitwise on the CPU with train.deterministic and fixed threads).
#pragma once
#include <memory>
#include <string>

#include "core/jsonl.h"
#include "ppo/config.h"
#include "ppo/reward.h"

namespace rleif::ppo {

enum class PpoStatus { completed, interrupted };

struct PpoResult {
  PpoStatus status = PpoStatus::completed;
  int64_t iteration = 0;
  std::string model_dir;  // the final policy
  json first_eval, last_eval;
  int signal = 0;
};

// Runs `rleif ppo` (resuming from the newest checkpoint in train.output_dir when allowed).
// remote: the HTTP client for reward.kind=remote (cli provides it).
PpoResult run_ppo(const PpoConfig& cfg, const std::string& config_yaml, RemoteRewardFn remote = {});

}  // namespace rleif::ppo

RLEIF_ENUM_NAMES(rleif::ppo::PpoStatus, {rleif::ppo::PpoStatus::completed, "completed"},
                 {rleif::ppo::PpoStatus::interrupted, "interrupted"});
