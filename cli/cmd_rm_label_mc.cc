// rleif rm label-mc: Math-Shepherd Monte-Carlo step labels for policy solutions (rm/label_mc.h).
//   --model POLICY --input solutions.jsonl --output prm_steps.jsonl [--data problems.jsonl]
// Resumable: run the same command again after a kill and it continues where the output stops.
#include <memory>
#include <optional>

#include "cli/command.h"
#include "cli/rm_commands.h"
#include "rm/label_mc.h"

namespace rleif::cli {

std::function<int()> setup_rm_label_mc(CLI::App& sub) {
  auto cfg = std::make_shared<rm::LabelMcConfig>();
  auto args = std::make_shared<ConfigArgs>();
  struct Paths {
    std::optional<std::string> model, input, output, data;
  };
  auto paths = std::make_shared<Paths>();
  sub.add_option("--model", paths->model, "policy model directory (the completer)");
  sub.add_option("--input", paths->input, "solutions JSONL (rleif generate output, or {prompt, response})");
  sub.add_option("--output", paths->output, "prm_steps JSONL (resumable: finished solutions are kept)");
  sub.add_option("--data", paths->data, "problems JSONL giving the truth by id (GSM8K as it is)");
  std::vector<std::pair<std::string, std::function<std::optional<std::string>()>>> flags;
  auto opt = [&](const char* flag, const char* key, const char* help) {
    auto v = std::make_shared<std::optional<std::string>>();
    sub.add_option(flag, *v, help);
    flags.emplace_back(key, [v] { return *v; });
  };
  opt("--n", "n", "completions per step prefix (Math-Shepherd: 8)");
  opt("--temperature", "temperature", "completer temperature (Math-Shepherd: 0.7)");
  opt("--max-new-tokens", "max_new_tokens", "tokens per completion at most");
  opt("--seed", "seed", "run seed (requests derive theirs from seed, solution, step)");
  opt("--batch", "batch", "samples decoded together");
  opt("--threads", "threads", "CPU threads (0 = torch's default)");
  opt("--device", "device", "auto | cpu | cuda | cuda:N");
  opt("--estimation", "estimation", "labels from the hard (any hit) or soft (hit fraction) estimate");
  opt("--checker", "checker", "final-answer reader: auto | domain | gsm8k | answer_is");
  opt("--template", "template", "prompt template: auto | alpaca | alpaca_cot | chatml | plain");
  opt("--limit", "limit", "label only the solutions of the first N records");
  args->add_to(sub);
  return [cfg, args, paths, flags]() {
    std::vector<std::string> over;
    for (const auto& [key, get] : flags)
      if (auto v = get()) over.push_back(key + "=" + *v);
    // Paths are set directly (not as overrides) so any characters survive; before resolving so the
    // checks see them, after so a flag beats the config file.
    auto put_paths = [&] {
      if (paths->model) cfg->model = *paths->model;
      if (paths->input) cfg->input = *paths->input;
      if (paths->output) cfg->output = *paths->output;
      if (paths->data) cfg->data = *paths->data;
    };
    put_paths();
    if (!resolve_config(*cfg, *args, over)) return 0;
    put_paths();
    return rm::run_label_mc(*cfg, dump_options(*cfg));
  };
}

}  // namespace rleif::cli
