#include "evol/engine.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "evol/openai_teacher.h"
#include "evol/response_cache.h"
#include "evol/stages.h"
#include "evol/synthetic_teacher.h"

namespace rleif::evol {

UsageTotals RunContext::usage() const {
  TeacherStats now = teacher.stats();
  TeacherStats paid = billed.stats();
  UsageTotals u = usage_at_start;
  u.requests += paid.requests;
  u.retries += paid.total_retries();
  u.cache_hits += now.cache_hits;
  u.prompt_tokens += paid.prompt_tokens;
  u.completion_tokens += paid.completion_tokens;
  u.cost += (static_cast<double>(paid.prompt_tokens) * cfg.teacher.price_prompt_per_1k +
             static_cast<double>(paid.completion_tokens) * cfg.teacher.price_completion_per_1k) /
            1000.0;
  return u;
}

std::unique_ptr<Progress> RunContext::progress(const std::string& label, int64_t total, int64_t start) const {
  if (!cfg.output.progress) return nullptr;
  ProgressOptions o;
  o.label = label;
  o.total = total;
  o.start = start;
  o.out = stderr;
  return std::make_unique<Progress>(o);
}

Progress::Fields RunContext::fields(const StageProgress& p) const {
  UsageTotals u = usage();
  char cost[32];
  std::snprintf(cost, sizeof cost, "$%.2f", u.cost);
  return {{"kept", std::to_string(p.kept)},
          {"eliminated", std::to_string(p.eliminated)},
          {"retries", std::to_string(u.retries)},
          {"tokens", human_count(static_cast<double>(u.prompt_tokens + u.completion_tokens))},
          {"cost", cost}};
}

CompletionParams RunContext::params(const SamplingOptions& s, int64_t sample_index) const {
  CompletionParams p;
  p.temperature = s.temperature;
  p.top_p = s.top_p;
  p.max_tokens = s.max_tokens;
  p.sample_index = sample_index;
  return p;
}

void count_unit(StageProgress& p, const UnitResult& r) {
  ++p.done;
  if (r.kept) {
    ++p.kept;
  } else {
    ++p.eliminated;
    ++p.reasons[r.reason];
  }
}

namespace {

// Fails when `dir` was started with a config that yields another dataset; saves it on a first run.
void check_same_config(RunDir& dir, const EvolConfig& cfg) {
  EvolConfig resolved = cfg;  // dump_options walks a mutable tree
  std::string now = dump_options(resolved);
  auto saved = dir.saved_config();
  if (!saved) {
    dir.save_config(now);
    return;
  }
  EvolConfig then;
  try {
    apply_yaml(then, YAML::Load(*saved), dir.path("run.yaml"));
  } catch (const YAML::Exception& e) {
    RLEIF_FAIL(dir.path("run.yaml"), ": unreadable (", e.what(), "); remove the directory to start over");
  }
  EvolConfig a = then.identity(), b = cfg.identity();
  std::string da = dump_options(a), db = dump_options(b);
  if (da == db) return;
  auto la = split(da, '\n'), lb = split(db, '\n');
  size_t i = 0;
  while (i < la.size() && i < lb.size() && la[i] == lb[i]) ++i;
  RLEIF_FAIL(dir.path("run.yaml"), ": this output directory was started with another config (first difference: '",
             i < la.size() ? trim(la[i]) : std::string("(end)"), "' then, '", i < lb.size() ? trim(lb[i]) : std::string("(end)"),
             "' now). Resuming would mix two datasets; use a new output.dir, or remove ", dir.path(""),
             " to start over");
}

std::string reasons_text(const StageProgress& p) {
  std::vector<std::string> parts;
  for (auto& [k, v] : p.reasons) parts.push_back(str(k, " ", v));
  return parts.empty() ? "" : " (" + join(parts, ", ") + ")";
}

}  // namespace

EvolRunResult run_evol(const EvolConfig& cfg, const std::atomic<bool>* stop) {
  RunDir dir(cfg.output.dir);
  check_same_config(dir, cfg);
  Prompts prompts = Prompts::load(cfg.evolution.prompts_dir);
  std::vector<Seed> seeds = load_seeds(cfg.seeds);

  std::unique_ptr<Teacher> base;
  int max_active = 64;
  if (cfg.teacher.kind == TeacherKind::openai) {
    auto t = std::make_unique<OpenAITeacher>(cfg.teacher.openai);
    log_info("evol: teacher ", cfg.teacher.openai.model, " at ", t->endpoint(), ", ", cfg.teacher.openai.max_in_flight,
             " requests in flight");
    max_active = cfg.teacher.openai.max_in_flight;
    base = std::move(t);
  } else {
    base = std::make_unique<SyntheticTeacher>(cfg.teacher.synthetic, prompts);
    log_info("evol: synthetic teacher (", base->model_id(), ")");
  }
  std::unique_ptr<ResponseCache> cache;
  std::unique_ptr<CachingTeacher> caching;
  if (cfg.teacher.cache) {
    std::string path = cfg.teacher.cache_path.empty() ? dir.path("cache/responses.jsonl") : cfg.teacher.cache_path;
    cache = std::make_unique<ResponseCache>(path);
    caching = std::make_unique<CachingTeacher>(*base, *cache);
    log_info("evol: response cache ", path, " (", cache->size(), " entries)");
  }
  Teacher& teacher = caching ? static_cast<Teacher&>(*caching) : *base;
  RunContext ctx{cfg, prompts, teacher, *base, dir, stop, max_active, dir.usage()};
  log_info("evol: ", seeds.size(), " seeds, ", cfg.evolution.rounds, " rounds x ", cfg.evolution.variants,
           " variants -> ", cfg.output.dir);

  EvolRunResult res;
  bool ok = run_evolve_stage(ctx, seeds);
  if (ok) {
    // sft.jsonl is derived from evolved.jsonl, so it is rewritten whole (atomically) on every run.
    std::string sft;
    JsonlReader reader(dir.path("evolved.jsonl"));
    json r;
    SourceLoc loc;
    while (reader.next(r, loc))
      if (r.value("kept", false) && r.contains("response"))
        sft += json{{"id", r["id"]}, {"prompt", r["instruction"]}, {"response", r["response"]}}.dump() + "\n";
    write_file_atomic(dir.path("sft.jsonl"), sft);
  }
  if (ok && cfg.irm.enabled) ok = run_irm_stage(ctx, seeds);
  if (ok) ok = run_prm_stage(ctx);

  UsageTotals u = ctx.usage();
  StageProgress ev = dir.progress("evolve"), irm = dir.progress("irm"), prm = dir.progress("prm");
  res.complete = ok;
  res.summary = {{"complete", ok},        {"seeds", seeds.size()},      {"evolve", ev.to_json()},
                 {"irm", irm.to_json()},  {"prm", prm.to_json()},       {"usage", u.to_json()},
                 {"teacher", base->model_id()}};
  write_file_atomic(dir.path("summary.json"), res.summary.dump(2) + "\n");
  char cost[32];
  std::snprintf(cost, sizeof cost, "$%.2f", u.cost);
  res.message = str("evol: ", ok ? "done" : "stopped early; run the same command to resume", ". ", ev.done,
                    " items (", ev.kept, " kept, ", ev.eliminated, " eliminated", reasons_text(ev), "), ", irm.lines,
                    " IRM lists, ", prm.lines, " PRM examples; ", u.requests, " requests, ", u.retries, " retries, ",
                    u.cache_hits, " cache hits, ", human_count(static_cast<double>(u.prompt_tokens + u.completion_tokens)),
                    " tokens, est. cost ", cost, " -> ", cfg.output.dir);
  return res;
}

}  // namespace rleif::evol
