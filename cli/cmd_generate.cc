// rleif generate: load a Hugging Face model directory and continue a prompt on stdout.
#include <torch/torch.h>

#include <iostream>
#include <optional>

#include "cli/command.h"
#include "core/error.h"
#include "model/generate.h"
#include "model/hf_io.h"
#include "model/tokenizer.h"

namespace rleif::cli {
namespace {

struct GenerateConfig {
  std::string model;               // model directory
  std::string prompt;              // text to continue
  std::string dtype = "float32";   // parameter dtype
  int64_t threads = 0;             // intra-op threads; 0 = all cores
  model::SamplingOptions sampling;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "Hugging Face model directory (config.json, model.safetensors, tokenizer.json)");
    v.field("prompt", prompt, "text to continue");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("threads", threads, "intra-op CPU threads; 0 = all cores");
    v.section("sampling", sampling, "how tokens are chosen");
  }
  void validate() const {
    RLEIF_CHECK(!model.empty(), "generate: give a model directory with --model DIR");
    RLEIF_CHECK(threads >= 0, "generate: threads must be >= 0");
  }
};

// Prints only the part of `text` not yet printed, holding back an incomplete UTF-8 tail.
struct StreamPrinter {
  size_t printed = 0;
  void update(const std::string& text) {
    size_t end = text.size();
    // "\xEF\xBF\xBD" (U+FFFD) at the end marks bytes of a character still being generated.
    if (end >= 3 && text.compare(end - 3, 3, "\xEF\xBF\xBD") == 0) return;
    if (end > printed) {
      std::cout << text.substr(printed) << std::flush;
      printed = end;
    }
  }
};

int run(GenerateConfig& cfg) {
  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  auto dtype = model::parse_torch_dtype(cfg.dtype, "generate: dtype");
  auto m = model::load_causal_lm(cfg.model, {dtype, torch::kCPU});
  auto tok = Tokenizer::from_file(cfg.model + "/tokenizer.json");
  auto prompt_ids = tok.encode(cfg.prompt, /*add_special_tokens=*/true);
  RLEIF_CHECK(!prompt_ids.empty(), "generate: the prompt encodes to no tokens; give a non-empty --prompt");
  std::vector<int64_t> eos = m->cfg.eos_token_ids;
  if (auto e = tok.eos_id()) eos.push_back(*e);
  std::vector<int32_t> all = prompt_ids;
  StreamPrinter printer;
  printer.update(tok.decode(all, /*skip_special_tokens=*/true));
  model::generate(m, {prompt_ids}, cfg.sampling, eos, [&](size_t, int32_t id) {
    all.push_back(id);
    printer.update(tok.decode(all, true));
  });
  std::string text = tok.decode(all, true);
  if (text.size() > printer.printed) std::cout << text.substr(printer.printed);
  std::cout << "\n";
  return 0;
}

Command make_command() {
  return Command{"generate",
                 "continue a prompt with a model; stdout gets the prompt and its continuation, decoded together",
                 [](CLI::App& app) -> std::function<int()> {
                   auto cfg = std::make_shared<GenerateConfig>();
                   auto args = std::make_shared<ConfigArgs>();
                   auto model = std::make_shared<std::optional<std::string>>();
                   auto prompt = std::make_shared<std::optional<std::string>>();
                   auto dtype = std::make_shared<std::optional<std::string>>();
                   auto temp = std::make_shared<std::optional<double>>();
                   auto top_p = std::make_shared<std::optional<double>>();
                   auto top_k = std::make_shared<std::optional<int64_t>>();
                   auto max_new = std::make_shared<std::optional<int64_t>>();
                   auto seed = std::make_shared<std::optional<int64_t>>();
                   auto threads = std::make_shared<std::optional<int64_t>>();
                   app.add_option("--model", *model, "model directory (Hugging Face layout)");
                   app.add_option("--prompt", *prompt, "text to continue");
                   app.add_option("--dtype", *dtype, "float32 | bfloat16 | float16");
                   app.add_option("--temperature", *temp, "0 = greedy");
                   app.add_option("--top-p", *top_p, "nucleus sampling mass");
                   app.add_option("--top-k", *top_k, "keep the k most likely tokens");
                   app.add_option("--max-new-tokens", *max_new, "tokens to generate at most");
                   app.add_option("--seed", *seed, "sampling seed");
                   app.add_option("--threads", *threads, "CPU threads (0 = all)");
                   args->add_to(app);
                   return [=]() {
                     std::vector<std::string> flags;
                     auto put = [&](const char* key, const auto& v) {
                       if (v->has_value()) flags.push_back(std::string(key) + "=" + str(**v));
                     };
                     if (model->has_value()) cfg->model = **model;
                     if (prompt->has_value()) cfg->prompt = **prompt;
                     put("dtype", dtype);
                     put("sampling.temperature", temp);
                     put("sampling.top_p", top_p);
                     put("sampling.top_k", top_k);
                     put("sampling.max_new_tokens", max_new);
                     put("sampling.seed", seed);
                     put("threads", threads);
                     if (!resolve_config(*cfg, *args, flags)) return 0;
                     return run(*cfg);
                   };
                 }};
}

RLEIF_COMMAND(generate, make_command());

}  // namespace
}  // namespace rleif::cli
