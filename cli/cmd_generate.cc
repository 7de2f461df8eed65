// rleif generate: sample completions with the rollout engine.
//   --prompt TEXT                 one prompt; stdout gets the prompt and its continuation(s).
//                                 --prompt "" generates from BOS alone (llama2.c's run.c with no prompt)
//   --input a.jsonl --output b.jsonl
//                                 every {"id", "prompt"} record; one {"id", "prompt", "samples": [...]}
//                                 line per record, appended as each finishes. Resumable: ids already
//                                 in the output are skipped, and each record's seed derives from
//                                 (--seed, id), so a resumed run writes what an uninterrupted one would.
#include <torch/torch.h>

#include <iostream>
#include <optional>
#include <set>

#include "cli/command.h"
#include "core/fs.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/hf_io.h"
#include "model/tokenizer.h"
#include "rollout/engine.h"
#include "rollout/prompt.h"

namespace rleif::cli {
namespace {

struct GenerateConfig {
  std::string model;                      // model directory
  std::string prompt;                     // one prompt (stdout mode)
  bool prompt_given = false;              // --prompt was on the command line, possibly as "" (not a config key)
  std::string input, output;              // JSONL in / out (file mode)
  std::string field = "prompt";           // input field holding the prompt text
  std::string prompt_template = "{prompt}";  // text around each prompt; {prompt} is replaced
  bool save_tokens = false;               // also write token ids and per-token log-probs
  std::string dtype = "float32";
  std::string device = "auto";
  int64_t threads = 0;
  rollout::SamplingParams sampling;
  rollout::EngineOptions engine;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)");
    v.field("prompt", prompt, "a single prompt; the continuation goes to stdout");
    v.field("input", input, "JSONL of {\"id\", \"prompt\"} records");
    v.field("output", output, "JSONL output (appended; ids already there are skipped)");
    v.field("field", field, "input field holding the prompt text");
    v.field("prompt_template", prompt_template, "text sent to the model; {prompt} is replaced by the prompt");
    v.field("save_tokens", save_tokens, "also write each sample's token ids and per-token log-probs");
    v.field("dtype", dtype, "parameter dtype: float32 | bfloat16 | float16");
    v.field("device", device, "cpu | cuda | auto (cuda when available)");
    v.field("threads", threads, "intra-op CPU threads; 0 = all cores");
    v.section("sampling", sampling, "how tokens are drawn");
    v.section("engine", engine, "the generation engine");
  }
  void validate() const {
    RLEIF_CHECK(!model.empty(), "generate: give a model directory with --model DIR");
    const bool has_prompt = prompt_given || !prompt.empty();
    RLEIF_CHECK(has_prompt != !input.empty(), "generate: give either --prompt TEXT or --input FILE (not both)");
    RLEIF_CHECK(input.empty() || !output.empty(), "generate: --input needs --output FILE");
    RLEIF_CHECK(prompt_template.find("{prompt}") != std::string::npos, "generate: prompt_template '", prompt_template,
                "' has no {prompt} placeholder");
    RLEIF_CHECK(device == "cpu" || device == "cuda" || device == "auto", "generate: device '", device,
                "' is not one of cpu, cuda, auto");
    RLEIF_CHECK(threads >= 0, "generate: threads must be >= 0");
  }
};

std::string apply_template(const std::string& tmpl, const std::string& prompt) {
  const size_t at = tmpl.find("{prompt}");
  return tmpl.substr(0, at) + prompt + tmpl.substr(at + 8);
}

// A record's seed: a hash of (run seed, id), so it does not depend on order or on resuming.
int64_t record_seed(int64_t seed, const std::string& id) {
  uint64_t h = 1469598103934665603ULL ^ static_cast<uint64_t>(seed);
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>(h >> 1);
}

struct Loaded {
  model::CausalLM lm{nullptr};
  std::unique_ptr<Tokenizer> tok;
  std::vector<int64_t> stop_ids;  // the tokenizer's EOS, besides config.json's
};

Loaded load(const GenerateConfig& cfg) {
  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  const bool cuda = cfg.device == "cuda" || (cfg.device == "auto" && torch::cuda::is_available());
  RLEIF_CHECK(!cuda || torch::cuda::is_available(), "generate: --device cuda but no CUDA device is available");
  model::LoadOptions lo;
  lo.dtype = model::parse_torch_dtype(cfg.dtype, "generate: dtype");
  lo.device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  Loaded l;
  l.lm = model::load_causal_lm(cfg.model, lo);
  l.tok = std::make_unique<Tokenizer>(Tokenizer::from_file(cfg.model + "/tokenizer.json"));
  if (auto e = l.tok->eos_id()) l.stop_ids.push_back(*e);
  return l;
}

// A prompt's token ids; a text that encodes to nothing starts from BOS alone (rollout/prompt.h).
std::vector<int32_t> encode_prompt(const GenerateConfig& cfg, const Loaded& l, const std::string& text,
                                   const std::string& where) {
  std::vector<int32_t> ids = l.tok->encode(apply_template(cfg.prompt_template, text), /*add_special_tokens=*/true);
  if (!ids.empty()) return ids;
  std::optional<int32_t> bos = rollout::empty_prompt_start(*l.tok, l.lm->cfg.bos_token_id);
  RLEIF_CHECK(bos.has_value(), where, ": the prompt is empty, and an empty prompt starts from the BOS token, but ",
              cfg.model, " has none (no bos_token_id in config.json, no BOS in tokenizer.json); give a non-empty prompt, "
              "or set bos_token_id in config.json");
  return {*bos};
}

// Rows long enough for the longest prompt plus max_new_tokens, unless the config says otherwise.
rollout::EngineOptions engine_options(const GenerateConfig& cfg, const Loaded& l, size_t longest) {
  rollout::EngineOptions o = cfg.engine;
  if (o.max_len == 0)
    o.max_len = std::min<int64_t>(l.lm->cfg.max_position_embeddings,
                                  static_cast<int64_t>(longest) + cfg.sampling.max_new_tokens);
  return o;
}

int run_prompt(GenerateConfig& cfg) {
  Loaded l = load(cfg);
  rollout::Request req{encode_prompt(cfg, l, cfg.prompt, "generate: --prompt"), cfg.sampling};
  for (int64_t id : l.stop_ids) req.params.stop_token_ids.push_back(id);
  rollout::Engine engine(l.lm, l.tok.get(), engine_options(cfg, l, req.prompt.size()));
  const std::string head = l.tok->decode(req.prompt, /*skip_special_tokens=*/true);
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
  std::set<std::string> done;
  if (path_exists(cfg.output)) {
    JsonlReader r(cfg.output, /*skip_bad=*/true);  // a line cut by a kill is dropped and redone
    json rec;
    SourceLoc loc;
    while (r.next(rec, loc))
      if (rec.contains("id")) done.insert(rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump());
  }
  Loaded l = load(cfg);
  std::vector<rollout::Request> reqs;
  std::vector<json> records;
  size_t longest = 0, skipped = 0;
  {
    JsonlReader r(cfg.input);
    json rec;
    SourceLoc loc;
    while (r.next(rec, loc)) {
      std::string id = rec.contains("id") ? (rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump())
                                          : std::to_string(loc.line);
      rec["id"] = rec.contains("id") ? rec["id"] : json(id);
      if (done.count(id)) {
        ++skipped;
        continue;
      }
      const std::string text = get_field<std::string>(rec, cfg.field.c_str(), loc, "a string");
      rollout::Request q{encode_prompt(cfg, l, text, loc.str()), cfg.sampling};
      for (int64_t s : l.stop_ids) q.params.stop_token_ids.push_back(s);
      if (cfg.sampling.seed >= 0) q.params.seed = record_seed(cfg.sampling.seed, id);
      longest = std::max(longest, q.prompt.size());
      reqs.push_back(std::move(q));
      records.push_back(std::move(rec));
    }
  }
  if (skipped) log_info("generate: ", skipped, " records already in ", cfg.output, "; skipping them");
  if (reqs.empty()) {
    log_info("generate: nothing to do");
    return 0;
  }
  rollout::Engine engine(l.lm, l.tok.get(), engine_options(cfg, l, longest));
  for (size_t i = 0; i < reqs.size(); ++i) {
    const std::string why = engine.check(reqs[i]);
    RLEIF_CHECK(why.empty(), cfg.input, ": record id ", records[i]["id"].dump(), ": ", why);
  }
  ProgressOptions po;
  po.label = "prompt";
  po.total = static_cast<int64_t>(reqs.size() + skipped);
  po.start = static_cast<int64_t>(skipped);
  po.out = stderr;
  Progress progress(po);
  JsonlAppender out(cfg.output);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t finished = static_cast<int64_t>(skipped);
  engine.generate(reqs, [&](size_t i, const rollout::Completion& c) {
    json rec = records[i];
    json samples = json::array();
    for (const auto& s : c.samples) {
      double sum = 0;
      for (float x : s.logprobs) sum += x;
      json js = {{"text", s.text}, {"logprob", sum}, {"finish_reason", enum_name(s.finish)},
                 {"num_tokens", s.tokens.size()}};
      if (cfg.save_tokens) js["tokens"] = s.tokens, js["token_logprobs"] = s.logprobs;
      samples.push_back(js);
    }
    rec["samples"] = samples;
    rec["seed"] = c.seed;
    out.append(rec);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = secs > 0 ? static_cast<double>(engine.stats().generated_tokens) / secs : 0.0;
    progress.update(++finished, {{"tok/s", human_count(tps)}, {"rows", str(engine.running(), "/", cfg.engine.max_batch)}});
  });
  out.sync();
  progress.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("generate: ", reqs.size(), " prompts, ", engine.stats().generated_tokens, " tokens in ", human_seconds(secs),
           " (", human_count(static_cast<double>(engine.stats().generated_tokens) / std::max(secs, 1e-9)),
           " tok/s, batch occupancy ", static_cast<int>(100 * engine.stats().occupancy(cfg.engine.max_batch)), "%)");
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
          if (!stop->empty()) cfg->sampling.stop = *stop;
          if (!resolve_config(*cfg, *args, over)) return 0;
          return cfg->input.empty() ? run_prompt(*cfg) : run_files(*cfg);
        };
      }};
}

RLEIF_COMMAND(generate, make_command());

}  // namespace
}  // namespace rleif::cli
