#include "cli/generation.h"

#include <torch/torch.h>

#include <chrono>
#include <optional>
#include <set>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/dtype.h"
#include "model/hf_io.h"
#include "rollout/prompt.h"
#include "train/sft_data.h"

namespace rleif::cli {
namespace {

bool is_template_name(const std::string& t) {
  if (t == "auto") return true;
  for (auto& [e, name] : EnumNames<train::PromptTemplate>::list())
    if (t == name) return true;
  return false;
}

// "{prompt}" text of a template given as text, a name, or auto (rleif eval's rule).
std::string resolve_template(const std::string& t, const std::string& model_dir) {
  if (t.find("{prompt}") != std::string::npos) return t;
  train::PromptTemplate named;
  if (t == "auto") {
    const auto recorded = train::read_model_template(model_dir);
    named = recorded.value_or(train::PromptTemplate::alpaca);
    log_info("generate: prompt template ", enum_name(named),
             recorded ? " (recorded by rleif sft in the model directory)" : " (the default; none recorded)");
  } else {
    named = parse_enum<train::PromptTemplate>(t, "generate: prompt_template");
  }
  return train::render_prompt(named, "{prompt}");
}

std::string apply_template(const std::string& tmpl, const std::string& prompt) {
  const size_t at = tmpl.find("{prompt}");
  return tmpl.substr(0, at) + prompt + tmpl.substr(at + 8);
}

std::string id_string(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

// The prompt text of a record: `field`, or with field auto the first of the usual keys present.
std::string prompt_text(const json& rec, const std::string& field, const SourceLoc& loc) {
  if (field != "auto") return get_field<std::string>(rec, field.c_str(), loc, "a string");
  for (const char* k : {"prompt", "question", "instruction", "problem"})
    if (rec.contains(k)) return get_field<std::string>(rec, k, loc, "a string");
  RLEIF_FAIL(loc.str(), ": no prompt; give the record one of 'prompt', 'question', 'instruction', 'problem' "
             "(or name its field with field=KEY)");
}

}  // namespace

void GenerationOptions::validate() const {
  RLEIF_CHECK(prompt_template.find("{prompt}") != std::string::npos || is_template_name(prompt_template),
              "generate: prompt_template '", prompt_template,
              "' has no {prompt} placeholder and is not a template name (auto, ", enum_choices<train::PromptTemplate>(),
              ")");
  model::check_device_name(device, "generate: device");
  model::parse_torch_dtype(dtype, "generate: dtype");
  RLEIF_CHECK(threads >= 0, "generate: threads must be >= 0");
  RLEIF_CHECK(!field.empty(), "generate: field is empty; name the input field holding the prompt, or auto");
}

Policy load_policy(const std::string& model_dir, const GenerationOptions& opts) {
  if (opts.threads > 0) torch::set_num_threads(static_cast<int>(opts.threads));
  model::LoadOptions lo;
  lo.dtype = model::parse_torch_dtype(opts.dtype, "generate: dtype");
  lo.device = model::parse_device(opts.device, "generate: device");
  Policy p;
  p.dir = model_dir;
  p.lm = model::load_causal_lm(model_dir, lo);
  p.tok = std::make_unique<Tokenizer>(Tokenizer::from_file(model_dir + "/tokenizer.json"));
  if (auto e = p.tok->eos_id()) p.stop_ids.push_back(*e);
  p.prompt_template = resolve_template(opts.prompt_template, model_dir);
  return p;
}

std::vector<int32_t> encode_prompt(const Policy& p, const std::string& text, const std::string& where) {
  std::vector<int32_t> ids = p.tok->encode(apply_template(p.prompt_template, text), /*add_special_tokens=*/true);
  if (!ids.empty()) return ids;
  std::optional<int32_t> bos = rollout::empty_prompt_start(*p.tok, p.lm->cfg.bos_token_id);
  RLEIF_CHECK(bos.has_value(), where, ": the prompt is empty, and an empty prompt starts from the BOS token, but ",
              p.dir, " has none (no bos_token_id in config.json, no BOS in tokenizer.json); give a non-empty prompt, "
              "or set bos_token_id in config.json");
  return {*bos};
}

rollout::EngineOptions engine_options(const GenerationOptions& opts, const Policy& p, size_t longest) {
  rollout::EngineOptions o = opts.engine;
  if (o.max_len == 0)
    o.max_len = std::min<int64_t>(p.lm->cfg.max_position_embeddings,
                                  static_cast<int64_t>(longest) + opts.sampling.max_new_tokens);
  return o;
}

int64_t record_seed(int64_t seed, const std::string& id) {
  uint64_t h = 1469598103934665603ULL ^ static_cast<uint64_t>(seed);
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>(h >> 1);
}

GenerateFileStats generate_file(const std::string& model_dir, const GenerationOptions& opts, const std::string& input,
                                const std::string& output) {
  std::set<std::string> done;
  if (path_exists(output)) {
    JsonlReader r(output, /*skip_bad=*/true);  // a line cut by a kill is dropped and redone
    json rec;
    SourceLoc loc;
    while (r.next(rec, loc))
      if (rec.contains("id")) done.insert(id_string(rec["id"]));
  }
  Policy p = load_policy(model_dir, opts);
  std::vector<rollout::Request> reqs;
  std::vector<json> records;
  size_t longest = 0;
  GenerateFileStats st;
  {
    JsonlReader r(input);
    json rec;
    SourceLoc loc;
    while (r.next(rec, loc)) {
      std::string id = rec.contains("id") ? id_string(rec["id"]) : std::to_string(loc.line);
      rec["id"] = rec.contains("id") ? rec["id"] : json(id);
      if (done.count(id)) {
        ++st.skipped;
        continue;
      }
      rollout::Request q{encode_prompt(p, prompt_text(rec, opts.field, loc), loc.str()), opts.sampling};
      for (int64_t s : p.stop_ids) q.params.stop_token_ids.push_back(s);
      if (opts.sampling.seed >= 0) q.params.seed = record_seed(opts.sampling.seed, id);
      longest = std::max(longest, q.prompt.size());
      reqs.push_back(std::move(q));
      records.push_back(std::move(rec));
    }
  }
  if (st.skipped) log_info("generate: ", st.skipped, " records already in ", output, "; skipping them");
  if (reqs.empty()) {
    log_info("generate: nothing to do");
    return st;
  }
  rollout::Engine engine(p.lm, p.tok.get(), engine_options(opts, p, longest));
  for (size_t i = 0; i < reqs.size(); ++i) {
    const std::string why = engine.check(reqs[i]);
    RLEIF_CHECK(why.empty(), input, ": record id ", records[i]["id"].dump(), ": ", why);
  }
  ProgressOptions po;
  po.label = "prompt";
  po.total = static_cast<int64_t>(reqs.size() + st.skipped);
  po.start = static_cast<int64_t>(st.skipped);
  po.out = stderr;
  Progress progress(po);
  JsonlAppender out(output);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t finished = static_cast<int64_t>(st.skipped);
  engine.generate(reqs, [&](size_t i, const rollout::Completion& c) {
    json rec = records[i];
    json samples = json::array();
    for (const auto& s : c.samples) {
      double sum = 0;
      for (float x : s.logprobs) sum += x;
      json js = {{"text", s.text}, {"logprob", sum}, {"finish_reason", enum_name(s.finish)},
                 {"num_tokens", s.tokens.size()}};
      if (opts.save_tokens) js["tokens"] = s.tokens, js["token_logprobs"] = s.logprobs;
      samples.push_back(js);
    }
    rec["samples"] = samples;
    rec["seed"] = c.seed;
    out.append(rec);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = secs > 0 ? static_cast<double>(engine.stats().generated_tokens) / secs : 0.0;
    progress.update(++finished, {{"tok/s", human_count(tps)}, {"rows", str(engine.running(), "/", opts.engine.max_batch)}});
  });
  out.sync();
  progress.finish();
  st.generated = reqs.size();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("generate: ", reqs.size(), " prompts, ", engine.stats().generated_tokens, " tokens in ", human_seconds(secs),
           " (", human_count(static_cast<double>(engine.stats().generated_tokens) / std::max(secs, 1e-9)),
           " tok/s, batch occupancy ", static_cast<int>(100 * engine.stats().occupancy(opts.engine.max_batch)), "%)");
  return st;
}

}  // namespace rleif::cli
