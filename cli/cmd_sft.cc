// rleif sft: supervised fine-tuning (or training from scratch) of a causal LM on prompt/response
// JSONL, resumable: running the same command again continues from the newest checkpoint.
#include <iostream>

#include "cli/command.h"
#include "train/sft.h"

namespace rleif::cli {
namespace {

Command make_command() {
  return Command{
      "sft",
      "supervised fine-tuning on prompt/response JSONL (loss on response tokens); rerun the same command to resume",
      [](CLI::App& app) -> std::function<int()> {
        auto cfg = std::make_shared<train::SftConfig>();
        auto args = std::make_shared<ConfigArgs>();
        args->add_to(app);
        app.footer("Example: rleif sft --config configs/sft_math.yaml train.output_dir=runs/sft optim.lr=1e-3");
        return [=]() {
          if (!resolve_config(*cfg, *args)) return 0;
          train::TrainResult r = train::run_sft(*cfg, dump_options(*cfg));
          if (r.status == train::TrainStatus::interrupted) return 128 + r.signal;
          std::cout << "sft: model in " << r.model_dir;
          if (r.last_eval.contains("accuracy"))
            std::cout << "; held-out greedy accuracy " << r.last_eval["accuracy"].get<double>() << " ("
                      << r.last_eval["correct"] << "/" << r.last_eval["n"] << ")";
          if (r.last_eval.contains("loss")) std::cout << "; held-out loss " << r.last_eval["loss"].get<double>();
          std::cout << "\n";
          return 0;
        };
      }};
}

RLEIF_COMMAND(sft, make_command());

}  // namespace
}  // namespace rleif::cli
