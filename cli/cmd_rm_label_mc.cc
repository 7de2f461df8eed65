// rleif rm label-mc: Math-Shepherd Monte-Carlo step labels for policy solutions (rm/label_mc.h).
//   --model POLICY --input solutions.jsonl --output prm_steps.jsonl [--data problems.jsonl]
// Resumable: run the same command again after a kill and it continues where the output stops.
#include <memory>

#include "cli/command.h"
#include "cli/rm_commands.h"
#include "rm/label_mc.h"

namespace rleif::cli {

std::function<int()> setup_rm_label_mc(CLI::App& sub) {
  auto cfg = std::make_shared<rm::LabelMcConfig>();
  auto args = std::make_shared<ConfigArgs>();
  args->bind_text(sub, "--model", "model", "policy model directory (the completer)");
  args->bind_text(sub, "--input", "input", "solutions JSONL (rleif generate output, or {prompt, response})");
  args->bind_text(sub, "--output", "output", "prm_steps JSONL (resumable: finished solutions are kept)");
  args->bind_text(sub, "--data", "data", "problems JSONL giving the truth by id (GSM8K as it is)");
  args->bind(sub, "--n", {"n"}, "completions per step prefix (Math-Shepherd: 8)");
  args->bind(sub, "--temperature", {"temperature"}, "completer temperature (Math-Shepherd: 0.7)");
  args->bind(sub, "--max-new-tokens", {"max_new_tokens"}, "tokens per completion at most");
  args->bind(sub, "--seed", {"seed"}, "run seed (requests derive theirs from seed, solution, step)");
  args->bind(sub, "--batch", {"batch"}, "samples decoded together");
  args->bind(sub, "--threads", {"threads"}, "CPU threads (0 = torch's default)");
  args->bind(sub, "--device", {"device"}, "auto | cpu | cuda | cuda:N");
  args->bind(sub, "--estimation", {"estimation"}, "labels from the hard (any hit) or soft (hit fraction) estimate");
  args->bind(sub, "--checker", {"checker"}, "final-answer reader: auto | domain | gsm8k | answer_is");
  args->bind_text(sub, "--template", "template", "prompt template: auto | alpaca | alpaca_cot | chatml | plain");
  args->bind(sub, "--limit", {"limit"}, "label only the solutions of the first N records");
  args->add_to(sub);
  return [cfg, args]() {
    if (!resolve_config(*cfg, *args)) return 0;
    return rm::run_label_mc(*cfg, dump_options(*cfg));
  };
}

}  // namespace rleif::cli
