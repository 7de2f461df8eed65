// rleif generate: sample completions with the rollout engine.
//   --prompt TEXT                 one prompt; stdout gets the prompt and its continuation(s).
//                                 --prompt "" generates from BOS alone (llama2.c's run.c with no prompt)
//   --input a.jsonl --output b.jsonl
//                                 every {"id", "prompt"} record; one {"id", "prompt", "samples": [...]}
//                                 line per record, appended as each finishes. Resumable: ids already
//                                 in the output are skipped, and each record's seed derives from
//                                 (--seed, id), so a resumed run writes what an uninterrupted one would.
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "cli/generation.h"

namespace rleif::cli {
namespace {

struct GenerateConfig {
  std::string model;                      // model directory
  std::string prompt;                     // one prompt (stdout mode)
  bool prompt_given = false;              // --prompt was on the command line, possibly as "" (not a config key)
  std::string input, output;              // JSONL in / out (file mode)
  GenerationOptions gen;                  // template, dtype, device, sampling, engine (cli/generation.h)

  template <class V>
  void visit(V& v) {
    v.field("model", model, "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)");
    v.field("prompt", prompt, "a single prompt; the continuation goes to stdout");
    v.field("input", input, "JSONL of {\"id\", \"prompt\"} records");
    v.field("output", output, "JSONL output (appended; ids already there are skipped)");
    gen.visit(v);  // field, prompt_template, ..., sampling, engine at the top level
  }
  void validate() const {
    RLEIF_CHECK(!model.empty(), "generate: give a model directory with --model DIR");
    const bool has_prompt = prompt_given || !prompt.empty();
    RLEIF_CHECK(has_prompt != !input.empty(), "generate: give either --prompt TEXT or --input FILE (not both)");
    RLEIF_CHECK(input.empty() || !output.empty(), "generate: --input needs --output FILE");
    gen.validate();
  }
};

int run_prompt(GenerateConfig& cfg) {
  Policy p = load_policy(cfg.model, cfg.gen);
  rollout::Request req{encode_prompt(p, cfg.prompt, "generate: --prompt"), cfg.gen.sampling};
  for (int64_t id : p.stop_ids) req.params.stop_token_ids.push_back(id);
  rollout::Engine engine(p.lm, p.tok.get(), engine_options(cfg.gen, p, req.prompt.size()));
  const std::string head = p.tok->decode(req.prompt, /*skip_special_tokens=*/true);
  // Sample 0 streams as it is generated; further samples print whole as they finish.
  std::cout << head << std::flush;
  engine.submit(
      req, [](const rollout::TokenEvent& ev) { if (ev.sample == 0) std::cout << ev.text << std::flush; },
      [&](rollout::Completion&& c) {
        std::cout << "\n";
        for (size_t j = 1; j < c.samples.size(); ++j) std::cout << "\n" << head << c.samples[j].text << "\n";
      });
  while (engine.step()) {
  }
  return 0;
}

int run_files(GenerateConfig& cfg) {
  generate_file(cfg.model, cfg.gen, cfg.input, cfg.output);
  return 0;
}

Command make_command() {
  return Command{
      "generate",
      "sample completions with the rollout engine: --prompt TEXT to stdout, or --input/--output JSONL (resumable)",
      [](CLI::App& app) -> std::function<int()> {
        auto cfg = std::make_shared<GenerateConfig>();
        auto args = std::make_shared<ConfigArgs>();
        auto model = std::make_shared<std::optional<std::string>>();
        auto prompt = std::make_shared<std::optional<std::string>>();
        auto input = std::make_shared<std::optional<std::string>>();
        auto output = std::make_shared<std::optional<std::string>>();
        auto stop = std::make_shared<std::vector<std::string>>();
        auto opt_i = [&](const char* flag, const char* key, const char* help) {
          auto v = std::make_shared<std::optional<int64_t>>();
          app.add_option(flag, *v, help);
          return std::make_pair(std::string(key), std::function<std::optional<std::string>()>([v] {
                                  return v->has_value() ? std::optional<std::string>(std::to_string(**v)) : std::nullopt;
                                }));
        };
        auto opt_s = [&](const char* flag, const char* key, const char* help) {
          auto v = std::make_shared<std::optional<std::string>>();
          app.add_option(flag, *v, help);
          return std::make_pair(std::string(key), std::function<std::optional<std::string>()>([v] { return *v; }));
        };
        app.add_option("--model", *model, "model directory (Hugging Face layout)");
        CLI::Option* prompt_opt =
            app.add_option("--prompt", *prompt, "one prompt; stdout gets the prompt and its continuation (\"\" = from BOS)");
        app.add_option("--input", *input, "JSONL of {\"id\", \"prompt\"} records");
        app.add_option("--output", *output, "JSONL output; ids already in it are skipped");
        app.add_option("--stop", *stop, "stop string (repeatable)");
        std::vector<std::pair<std::string, std::function<std::optional<std::string>()>>> flags = {
            opt_i("--n", "sampling.n", "samples per prompt"),
            opt_s("--temperature", "sampling.temperature", "0 = greedy"),
            opt_s("--top-p", "sampling.top_p", "nucleus sampling mass"),
            opt_i("--top-k", "sampling.top_k", "keep the k most likely tokens (0 = off)"),
            opt_s("--min-p", "sampling.min_p", "drop tokens below min_p x the top probability"),
            opt_i("--max-new-tokens", "sampling.max_new_tokens", "tokens generated per sample at most"),
            opt_i("--seed", "sampling.seed", "run seed (-1 = random)"),
            opt_i("--max-batch", "engine.max_batch", "sequences decoded together"),
            opt_s("--dtype", "dtype", "float32 | bfloat16 | float16"),
            opt_s("--device", "device", "cpu | cuda | auto"),
            opt_i("--threads", "threads", "CPU threads (0 = all)"),
            opt_s("--field", "field", "input field holding the prompt"),
        };
        args->add_to(app);
        return [=]() {
          std::vector<std::string> over;
          for (const auto& [key, get] : flags)
            if (auto v = get()) over.push_back(key + "=" + *v);
          if (model->has_value()) cfg->model = **model;
          // count(), not the optional: CLI11 may leave an optional empty for --prompt "".
          cfg->prompt_given = prompt_opt->count() > 0;
          if (prompt->has_value()) cfg->prompt = **prompt;
          if (input->has_value()) cfg->input = **input;
          if (output->has_value()) cfg->output = **output;
          if (!stop->empty()) cfg->gen.sampling.stop = *stop;
          if (!resolve_config(*cfg, *args, over)) return 0;
          return cfg->input.empty() ? run_prompt(*cfg) : run_files(*cfg);
        };
      }};
}

RLEIF_COMMAND(generate, make_command());

}  // namespace
}  // namespace rleif::cli
