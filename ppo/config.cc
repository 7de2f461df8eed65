#include "ppo/config.h"

#include "core/error.h"
#include "model/dtype.h"

namespace rleif::ppo {

PpoConfig::PpoConfig() {
  // OpenRLHF's defaults (RECIPE.md 4.5): actor 1e-6, critic 9e-6, Adam betas (0.9, 0.95).
  optim.lr = 1e-6;
  optim.beta2 = 0.95;
  critic_optim.lr = 9e-6;
  critic_optim.beta2 = 0.95;
  schedule.kind = train::ScheduleKind::constant;
}

void PolicyOptions::validate() const {
  RLEIF_CHECK(!path.empty(), "policy.path is empty; set it to the SFT model directory (e.g. policy.path=runs/demo/sft/model)");
}

void CriticOptions::validate() const {
  RLEIF_CHECK(warmup_iterations >= 0, "critic.warmup_iterations must be >= 0, got ", warmup_iterations);
}

void RewardOptions::validate() const {
  switch (kind) {
    case RewardKind::rleif:
      RLEIF_CHECK(!irm.empty() && !prm.empty(), "reward.kind=rleif needs reward.irm and reward.prm (model directories "
                  "from rleif rm train); or choose reward.kind=prm|orm|rule|remote");
      break;
    case RewardKind::prm:
      RLEIF_CHECK(!prm.empty(), "reward.kind=prm needs reward.prm (a PRM directory from rleif rm train)");
      break;
    case RewardKind::orm:
      RLEIF_CHECK(!orm.empty(), "reward.kind=orm needs reward.orm (an ORM directory from rleif rm train)");
      break;
    case RewardKind::remote:
      RLEIF_CHECK(url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0,
                  "reward.kind=remote needs reward.url (http://host:port/get_reward), got '", url, "'");
      break;
    case RewardKind::rule:
      break;
  }
  RLEIF_CHECK(!per_step || !prm.empty(), "reward.per_step=true needs reward.prm");
  RLEIF_CHECK(clip > 0, "reward.clip must be > 0, got ", clip);
  RLEIF_CHECK(missing_eos_penalty >= 0, "reward.missing_eos_penalty must be >= 0 (it is subtracted), got ", missing_eos_penalty);
  RLEIF_CHECK(missing_answer_penalty >= 0, "reward.missing_answer_penalty must be >= 0 (it is subtracted), got ",
              missing_answer_penalty);
  RLEIF_CHECK(batch_size >= 1, "reward.batch_size must be >= 1, got ", batch_size);
  RLEIF_CHECK(irm_reference_prompts >= 1, "reward.irm_reference_prompts must be >= 1, got ", irm_reference_prompts);
}

void PpoDataOptions::validate() const {
  RLEIF_CHECK(!prompts.empty(), "data.prompts is empty; set it to a JSONL of training prompts");
  RLEIF_CHECK(eval_samples >= 0, "data.eval_samples must be >= 0, got ", eval_samples);
  RLEIF_CHECK(eval_max_new_tokens >= 1, "data.eval_max_new_tokens must be >= 1, got ", eval_max_new_tokens);
  RLEIF_CHECK(limit >= 0, "data.limit must be >= 0, got ", limit);
}

void PpoRolloutOptions::validate() const {
  RLEIF_CHECK(prompts_per_iteration >= 1, "rollout.prompts_per_iteration must be >= 1, got ", prompts_per_iteration);
  RLEIF_CHECK(n >= 1, "rollout.n must be >= 1, got ", n);
  RLEIF_CHECK(temperature > 0, "rollout.temperature must be > 0 (PPO needs sampled, not greedy, responses), got ",
              temperature);
  RLEIF_CHECK(top_p > 0 && top_p <= 1, "rollout.top_p must be in (0, 1], got ", top_p);
  RLEIF_CHECK(max_new_tokens >= 1, "rollout.max_new_tokens must be >= 1, got ", max_new_tokens);
  RLEIF_CHECK(max_batch >= 1, "rollout.max_batch must be >= 1, got ", max_batch);
}

void AlgoOptions::validate() const {
  RLEIF_CHECK(gamma > 0 && gamma <= 1, "algo.gamma must be in (0, 1], got ", gamma);
  RLEIF_CHECK(lambda >= 0 && lambda <= 1, "algo.lambda must be in [0, 1], got ", lambda);
  RLEIF_CHECK(clip_low > 0 && clip_low < 1, "algo.clip_low must be in (0, 1), got ", clip_low);
  RLEIF_CHECK(clip_high > 0, "algo.clip_high must be > 0, got ", clip_high);
  RLEIF_CHECK(dual_clip == 0 || dual_clip > 1, "algo.dual_clip must be 0 (off) or > 1, got ", dual_clip);
  RLEIF_CHECK(value_clip >= 0, "algo.value_clip must be >= 0 (0 = off), got ", value_clip);
  RLEIF_CHECK(entropy_coef >= 0, "algo.entropy_coef must be >= 0, got ", entropy_coef);
  RLEIF_CHECK(negative_scale >= 0 && negative_scale <= 1, "algo.negative_scale must be in [0, 1], got ", negative_scale);
  RLEIF_CHECK(ppo_epochs >= 1, "algo.ppo_epochs must be >= 1, got ", ppo_epochs);
  RLEIF_CHECK(minibatches >= 1, "algo.minibatches must be >= 1, got ", minibatches);
  RLEIF_CHECK(micro_batch >= 1, "algo.micro_batch must be >= 1, got ", micro_batch);
}

void PpoTrainOptions::validate() const {
  RLEIF_CHECK(!output_dir.empty(), "train.output_dir is empty; set it to the run directory");
  RLEIF_CHECK(iterations >= 1, "train.iterations must be >= 1, got ", iterations);
  RLEIF_CHECK(threads >= 0, "train.threads must be >= 0, got ", threads);
  model::check_device_name(device, "train.device");
  RLEIF_CHECK(max_grad_norm >= 0, "train.max_grad_norm must be >= 0, got ", max_grad_norm);
  RLEIF_CHECK(save_every >= 0 && eval_every >= 0, "train.save_every and train.eval_every must be >= 0");
  dist.validate();
  RLEIF_CHECK(keep_last >= 1, "train.keep_last must be >= 1, got ", keep_last);
}

void PpoConfig::validate() const {
  lora.validate();
  const int64_t batch = rollout.prompts_per_iteration * rollout.n;
  RLEIF_CHECK(algo.minibatches <= batch, "algo.minibatches (", algo.minibatches, ") exceeds the samples per iteration (",
              batch, " = rollout.prompts_per_iteration x rollout.n)");
  RLEIF_CHECK(!reward.per_step || algo.advantage == Advantage::gae,
              "reward.per_step=true gives rewards at step ends, which only gae credits; use algo.advantage=gae");
  RLEIF_CHECK(algo.kl.beta == 0 || rollout.top_p == 1.0,
              "a KL term (algo.kl.beta > 0) needs pure temperature sampling: set rollout.top_p=1 (nucleus sampling "
              "makes the sampled distribution differ from the policy whose log-probs enter the KL)");
  if (algo.advantage == Advantage::grpo || algo.advantage == Advantage::rloo)
    RLEIF_CHECK(rollout.n >= 2, "algo.advantage=", enum_name(algo.advantage), " compares samples of one prompt: set "
                "rollout.n >= 2 (with n = 1 every advantage is 0)");
  RLEIF_CHECK(critic.warmup_iterations < train.iterations || algo.advantage != Advantage::gae,
              "critic.warmup_iterations (", critic.warmup_iterations, ") leaves no policy iterations of ",
              train.iterations);
}

}  // namespace rleif::ppo
