// rleif ppo: PPO / GRPO / RLOO on the policy against reward models (RLEIF: r = r_I * r_A), resumable:
// running the same command again continues from the newest checkpoint.
#include <iostream>

#include "cli/command.h"
#include "ppo/trainer.h"
#include "serve/reward_client.h"

namespace rleif::cli {
namespace {

Command make_command() {
  return Command{
      "ppo",
      "PPO (GAE + critic), GRPO or RLOO on an SFT policy with RLEIF / PRM / ORM / rule / remote rewards; rerun to resume",
      [](CLI::App& app) -> std::function<int()> {
        auto cfg = std::make_shared<ppo::PpoConfig>();
        auto args = std::make_shared<ConfigArgs>();
        args->add_to(app);
        app.footer("Example: rleif ppo --config configs/ppo_math.yaml train.output_dir=runs/ppo algo.advantage=grpo");
        return [=]() {
          if (!resolve_config(*cfg, *args)) return 0;
          ppo::RemoteRewardFn remote;
          if (cfg->reward.kind == ppo::RewardKind::remote) {
            const std::string url = cfg->reward.url;
            remote = [url](const std::vector<std::string>& q, const std::vector<std::string>& p,
                           const std::vector<std::string>& l) { return serve::remote_rewards(url, q, p, l); };
          }
          ppo::PpoResult r = ppo::run_ppo(*cfg, dump_options(*cfg), remote);
          if (r.status == ppo::PpoStatus::interrupted) return 128 + r.signal;
          std::cout << "ppo: policy in " << r.model_dir;
          if (r.first_eval.contains("accuracy"))
            std::cout << "; held-out greedy accuracy before " << r.first_eval["accuracy"].get<double>();
          if (r.last_eval.contains("accuracy")) std::cout << ", after " << r.last_eval["accuracy"].get<double>();
          std::cout << "\n";
          return 0;
        };
      }};
}

RLEIF_COMMAND(ppo, make_command());

}  // namespace
}  // namespace rleif::cli
