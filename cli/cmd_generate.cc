// rleif generate: sample completions with the rollout engine.
//   --prompt TEXT                 one prompt; stdout gets the prompt and its continuation(s).
//                                 --prompt "" generates from BOS alone (llama2.c's run.c with no prompt)
//   --input a.jsonl --output b.jsonl
//                                 every {"id", "prompt"} record; one {"id", "prompt", "samples": [...]}
//                                 line per record, appended as each finishes. Resumable: ids already
//                                 in the output are skipped, and each record's seed derives from
//                                 (--seed, id), so a resumed run writes what an uninterrupted one would.
#include <iostream>

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
        args->bind_text(app, "--model", "model", "model directory (Hugging Face layout)");
        CLI::Option* prompt_opt = args->bind_text(app, "--prompt", "prompt",
                                                  "one prompt; stdout gets the prompt and its continuation (\"\" = from BOS)");
        args->bind_text(app, "--input", "input", "JSONL of {\"id\", \"prompt\"} records");
        args->bind_text(app, "--output", "output", "JSONL output; ids already in it are skipped");
        args->bind_list(app, "--stop", "sampling.stop", "stop string (repeatable)");
        args->bind(app, "--n", {"sampling.n"}, "samples per prompt");
        args->bind(app, "--temperature", {"sampling.temperature"}, "0 = greedy");
        args->bind(app, "--top-p", {"sampling.top_p"}, "nucleus sampling mass");
        args->bind(app, "--top-k", {"sampling.top_k"}, "keep the k most likely tokens (0 = off)");
        args->bind(app, "--min-p", {"sampling.min_p"}, "drop tokens below min_p x the top probability");
        args->bind(app, "--max-new-tokens", {"sampling.max_new_tokens"}, "tokens generated per sample at most");
        args->bind(app, "--seed", {"sampling.seed"}, "run seed (-1 = random)");
        args->bind(app, "--max-batch", {"engine.max_batch"}, "sequences decoded together");
        args->bind(app, "--dtype", {"dtype"}, "float32 | bfloat16 | float16");
        args->bind(app, "--device", {"device"}, "auto | cpu | cuda | cuda:N");
        args->bind(app, "--threads", {"threads"}, "CPU threads (0 = all)");
        args->bind_text(app, "--field", "field", "input field holding the prompt");
        args->add_to(app);
        return [=]() {
          cfg->prompt_given = prompt_opt->count() > 0;  // --prompt "" counts: generate from BOS
          if (!resolve_config(*cfg, *args)) return 0;
          return cfg->input.empty() ? run_prompt(*cfg) : run_files(*cfg);
        };
      }};
}

RLEIF_COMMAND(generate, make_command());

}  // namespace
}  // namespace rleif::cli
