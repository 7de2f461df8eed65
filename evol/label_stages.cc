// Reward-model labelling: IRM ranking lists and PRM step labels. A unit writes one record, or none
// when the teacher's reply stays unreadable after irm/prm.max_attempts samples.
#include <map>
#include <memory>
#include <set>

#include "core/answer.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/truth.h"
#include "evol/math_domain.h"
#include "evol/replies.h"
#include "evol/rng.h"
#include "evol/stages.h"

namespace rleif::evol {
namespace {

// Runs units [done, n) of a stage whose units each try up to `attempts` samples of one prompt and
// write the record `make` builds from a reply it can parse.
struct LabelJob {
  std::string stage, file, label;
  int64_t n = 0;
  int attempts = 1;
  std::function<Messages(int64_t)> messages;
  const SamplingOptions* sampling = nullptr;
  // Returns the record for unit i from a reply, or nullopt when the reply cannot be read.
  std::function<std::optional<json>(int64_t, const std::string&)> make;
  std::string unreadable;  // reason counted for a unit that gave up
};

bool run_label_job(RunContext& ctx, const LabelJob& job) {
  StageProgress prog = ctx.dir.progress(job.stage);
  auto out = ctx.dir.open_output(job.stage, job.file);
  auto bar = ctx.progress(job.label, job.n, prog.done);
  Scheduler sched(ctx.teacher, ctx.max_active, ctx.stop);
  std::function<void(int64_t, Unit, int)> attempt = [&](int64_t i, Unit unit, int a) {
    unit.call(job.messages(i), ctx.params(*job.sampling, a), [&, i, unit, a](const Completion& c) {
      if (auto rec = job.make(i, c.text)) {
        UnitResult r;
        r.records.push_back(std::move(*rec));
        return unit.finish(std::move(r));
      }
      if (a + 1 < job.attempts) return attempt(i, unit, a + 1);  // another sample of the same prompt
      UnitResult r;
      r.kept = false;
      r.reason = job.unreadable;
      unit.finish(std::move(r));
    });
  };
  int64_t cursor = sched.run(
      prog.done, job.n, [&](int64_t i, Unit unit) { attempt(i, unit, 0); },
      [&](int64_t, UnitResult& r) {
        for (auto& rec : r.records) out->append(rec);
        prog.lines += static_cast<int64_t>(r.records.size());
        count_unit(prog, r);
      },
      [&] { ctx.dir.checkpoint(job.stage, *out, prog, ctx.usage()); },
      [&] {
        if (bar) bar->update(prog.done, ctx.fields(prog));
      });
  if (cursor < job.n) return false;
  if (bar) bar->finish();
  return true;
}

// The instruction inside an Alpaca/WizardMath prompt ("### Instruction:\n...\n\n### Response:"), or
// the prompt itself.
std::string instruction_of(const std::string& prompt) {
  const std::string open = "### Instruction:\n";
  size_t b = prompt.find(open);
  if (b == std::string::npos) return trim(prompt);
  b += open.size();
  size_t e = prompt.find("\n\n### Response:", b);
  return trim(prompt.substr(b, e == std::string::npos ? std::string::npos : e - b));
}

// The numbers written in a text, as written ("1,200" stays whole).
std::vector<std::string> numbers_in(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) ||
                               (text[j] == ',' && j + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[j + 1])))))
      ++j;
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

// The answer line with its stated answer replaced.
std::string restate(const std::string& line, const std::string& answer) {
  auto old = extract_answer(line);
  size_t at = old ? line.rfind(*old) : std::string::npos;
  return at == std::string::npos ? "The answer is: " + answer : line.substr(0, at) + answer + line.substr(at + old->size());
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> prm_shortcuts(const PrmOptions& o,
                                                                            const std::string& source_id,
                                                                            int64_t sample, const std::string& question,
                                                                            const std::vector<std::string>& steps) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  int64_t answer = -1;  // the last step that states an answer; the steps before it are the work
  for (size_t k = 0; k < steps.size(); ++k)
    if (extract_answer(steps[k])) answer = static_cast<int64_t>(k);
  if (answer < 1) return out;
  const std::string& line = steps[static_cast<size_t>(answer)];
  // Every draw is made whatever the rates, so one rate never moves another's choices.
  Rng rng(hash_combine(static_cast<uint64_t>(o.seed), hash_bytes(source_id), static_cast<uint64_t>(sample)));
  const bool answer_only = rng.bernoulli(o.answer_only_rate), copied = rng.bernoulli(o.copied_answer_rate),
             truncated = rng.bernoulli(o.truncate_rate), dropped = rng.bernoulli(o.drop_step_rate);
  const uint64_t pick = rng.next();
  const int64_t keep = rng.uniform(1, std::max<int64_t>(1, answer - 1)), drop = rng.uniform(0, answer - 1);
  if (answer_only) out.push_back({"answer_only", {line}});
  const std::vector<std::string> given = numbers_in(question);
  if (copied && !given.empty()) out.push_back({"copied_answer", {restate(line, given[pick % given.size()])}});
  if (truncated && answer >= 2) {
    // Stop after `keep` work steps and state the last of them's result as the answer.
    std::vector<std::string> cut(steps.begin(), steps.begin() + keep);
    const std::string& last = cut.back();
    size_t eq = last.rfind('=');
    auto result = eq == std::string::npos ? std::vector<std::string>{} : numbers_in(last.substr(eq));
    if (!result.empty()) {
      cut.push_back(restate(line, result.front()));
      out.push_back({"truncated", std::move(cut)});
    }
  }
  if (dropped && answer >= 2) {
    std::vector<std::string> cut = steps;
    cut.erase(cut.begin() + drop);
    out.push_back({"drop_step", std::move(cut)});
  }
  return out;
}

bool run_irm_stage(RunContext& ctx, const std::vector<Seed>& seeds) {
  const EvolConfig& cfg = ctx.cfg;
  // Groups: each (round, seed)'s K evolved instructions, distinct and non-empty, eliminated ones
  // included (the IRM should learn to rank them low).
  struct Group {
    size_t seed;
    int64_t round;
    std::vector<std::string> ids, texts;
  };
  std::vector<Group> groups;
  {
    std::map<std::pair<int64_t, std::string>, size_t> where;
    std::map<std::string, size_t> seed_index;
    for (size_t i = 0; i < seeds.size(); ++i) seed_index[seeds[i].id] = i;
    // The evolve stage's own output, but a file on disk: a record edited or written by another
    // tool is an error naming its line, never a crash.
    JsonlReader reader(ctx.dir.path("evolved.jsonl"));
    json rec;
    SourceLoc loc;
    while (reader.next(rec, loc)) {
      const int64_t round = rec.contains("round") ? get_field<int64_t>(rec, "round", loc, "an integer") : 0;
      const std::string text = rec.contains("instruction") ? get_field<std::string>(rec, "instruction", loc, "a string") : "";
      if (round < 1 || trim(text).empty()) continue;
      auto key = std::make_pair(round, get_field<std::string>(rec, "seed_id", loc, "a string (the seed's id)"));
      auto it = where.find(key);
      if (it == where.end()) {
        auto seed = seed_index.find(key.second);
        RLEIF_CHECK(seed != seed_index.end(), loc.str(), ": seed_id '", key.second,
                    "' is not among this run's seeds; the file belongs to another run (use a new output.dir)");
        it = where.emplace(key, groups.size()).first;
        groups.push_back({seed->second, round, {}, {}});
      }
      const std::string id = get_field<std::string>(rec, "id", loc, "a string (the record's id)");
      Group& g = groups[it->second];
      bool dup = false;
      for (auto& t : g.texts) dup = dup || t == text;
      if (dup) continue;
      g.ids.push_back(id);
      g.texts.push_back(text);
    }
  }
  std::vector<Group> kept_groups;
  for (auto& g : groups)
    if (static_cast<int>(g.texts.size()) >= cfg.irm.min_candidates) kept_groups.push_back(std::move(g));
  LabelJob job;
  job.stage = "irm";
  job.file = "irm_lists.jsonl";
  job.label = "irm";
  job.n = static_cast<int64_t>(kept_groups.size());
  job.attempts = cfg.irm.max_attempts;
  job.sampling = &cfg.sampling.rank;
  job.unreadable = "unparseable_ranking";
  job.messages = [&](int64_t i) {
    const Group& g = kept_groups[static_cast<size_t>(i)];
    return ctx.prompts.rank_messages(seeds[g.seed].instruction, g.texts);
  };
  job.make = [&](int64_t i, const std::string& reply) -> std::optional<json> {
    const Group& g = kept_groups[static_cast<size_t>(i)];
    auto ranking = parse_ranking(reply, static_cast<int>(g.texts.size()));
    if (!ranking) return std::nullopt;
    return json{{"seed_id", seeds[g.seed].id}, {"round", g.round},   {"instruction", seeds[g.seed].instruction},
                {"candidate_ids", g.ids},      {"candidates", g.texts}, {"ranking", *ranking}};
  };
  return run_label_job(ctx, job);
}

bool run_prm_stage(RunContext& ctx) {
  const PrmOptions& o = ctx.cfg.prm;
  if (o.solutions.empty()) return true;
  RLEIF_CHECK(path_exists(o.solutions), "prm.solutions: ", o.solutions, " does not exist");
  struct Item {
    std::string source_id, question;
    int64_t sample;
    std::vector<std::string> steps;
    std::string shortcut;  // "", or the kind of shortcut cut from the sample (prm_shortcuts)
    std::optional<std::string> truth;  // the record's reference answer, when it has one
  };
  std::vector<Item> items;
  int64_t originals = 0;
  JsonlReader reader(o.solutions);
  json rec;
  SourceLoc loc;
  while (reader.next(rec, loc)) {
    const char* qkey = rec.contains("prompt") ? "prompt" : "question";
    std::string question = instruction_of(get_field<std::string>(rec, qkey, loc, "a string (the question)"));
    std::string id = rec.contains("id") ? (rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump())
                                        : std::to_string(loc.line);
    const std::optional<std::string> truth = record_truth(rec, loc);
    std::vector<std::string> texts;
    if (rec.contains("samples")) {
      RLEIF_CHECK(rec["samples"].is_array(), loc.str(), ": field 'samples' must be a list of {\"text\"} objects");
      for (const json& s : rec["samples"]) {
        RLEIF_CHECK(s.is_object() && s.contains("text") && s["text"].is_string(), loc.str(),
                    ": every entry of 'samples' needs a string 'text'");
        texts.push_back(s["text"].get<std::string>());
      }
    } else if (rec.contains("response")) {
      texts.push_back(get_field<std::string>(rec, "response", loc, "a string (the solution)"));
    } else {
      RLEIF_FAIL(loc.str(), ": needs 'samples' (rleif generate output) or 'response' (one solution) to label");
    }
    for (size_t j = 0; j < texts.size(); ++j) {
      if (o.limit > 0 && originals >= o.limit) break;
      ++originals;
      const auto sample = static_cast<int64_t>(j);
      std::vector<std::string> steps = solution_steps(texts[j]);
      auto cuts = prm_shortcuts(o, id, sample, question, steps);
      items.push_back({id, question, sample, std::move(steps), "", truth});
      for (auto& [kind, cut] : cuts) items.push_back({id, question, sample, std::move(cut), kind, truth});
    }
  }
  std::map<std::string, int64_t> shortcuts;
  for (const Item& it : items)
    if (!it.shortcut.empty()) ++shortcuts[it.shortcut];
  if (!shortcuts.empty()) {
    std::string counts;
    for (auto& [kind, n] : shortcuts) counts += str(counts.empty() ? "" : ", ", n, " ", kind);
    log_info("evol: prm: ", originals, " solutions and shortcuts of them: ", counts);
  }
  LabelJob job;
  job.stage = "prm";
  job.file = "prm_steps.jsonl";
  job.label = "prm";
  job.n = static_cast<int64_t>(items.size());
  job.attempts = o.max_attempts;
  job.sampling = &ctx.cfg.sampling.label;
  job.unreadable = "unparseable_labels";
  job.messages = [&](int64_t i) {
    const Item& it = items[static_cast<size_t>(i)];
    return ctx.prompts.judge_messages(it.question, it.steps);
  };
  job.make = [&](int64_t i, const std::string& reply) -> std::optional<json> {
    const Item& it = items[static_cast<size_t>(i)];
    auto labels = parse_step_labels(reply, static_cast<int>(it.steps.size()));
    if (!labels) return std::nullopt;
    json out{{"prompt", it.question}, {"steps", it.steps}, {"labels", *labels}, {"source_id", it.source_id},
             {"sample", it.sample}};
    if (!it.shortcut.empty()) out["shortcut"] = it.shortcut;
    if (it.truth) {
      // Outcome supervision (Cobbe et al. 2021, an ORM's label): the final answer alone, checked
      // against the reference; unlike the teacher's last-step label it is 1 for a right answer
      // reached by wrong or missing work.
      std::string text;
      for (const std::string& step : it.steps) text += step + "\n";
      auto stated = extract_answer(text);
      out["outcome"] = stated && answers_match(*stated, *it.truth) ? 1 : 0;
    }
    return out;
  };
  // Solutions with no steps, or too many to judge in one reply, are skipped up front.
  std::vector<Item> usable;
  int64_t skipped = 0;
  for (auto& it : items) {
    if (it.steps.empty() || static_cast<int>(it.steps.size()) > o.max_steps) ++skipped;
    else usable.push_back(std::move(it));
  }
  items.swap(usable);
  job.n = static_cast<int64_t>(items.size());
  if (skipped) log_info("evol: prm: skipping ", skipped, " solutions with no steps or more than ", o.max_steps);
  return run_label_job(ctx, job);
}

}  // namespace rleif::evol
