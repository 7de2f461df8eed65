// Monte-Carlo step labels: input reading, the labelling loop (in-order, resumable output) and the
// run entry point. The engine-backed completer is in label_mc_engine.cc.
#include "rm/label_mc.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <unordered_map>

#include "core/answer.h"
#include "rm/bestofn.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/strings.h"
#include "core/truth.h"
#include "model/dtype.h"
#include "train/evaluate.h"
#include "train/sft_data.h"

namespace rleif::rm {

void LabelMcConfig::validate() const {
  RLEIF_CHECK(!model.empty(), "rm label-mc: give the policy model directory with --model DIR");
  RLEIF_CHECK(!input.empty(), "rm label-mc: give the solutions with --input FILE (rleif generate output)");
  RLEIF_CHECK(!output.empty(), "rm label-mc: give the output file with --output FILE");
  RLEIF_CHECK(input != output, "rm label-mc: --output must differ from --input (", input, ")");
  RLEIF_CHECK(n >= 1, "rm label-mc: n must be >= 1 (completions per step prefix), got ", n);
  RLEIF_CHECK(temperature >= 0, "rm label-mc: temperature must be >= 0, got ", temperature);
  RLEIF_CHECK(top_p > 0 && top_p <= 1, "rm label-mc: top_p must be in (0, 1], got ", top_p);
  RLEIF_CHECK(top_k >= 0, "rm label-mc: top_k must be >= 0, got ", top_k);
  RLEIF_CHECK(max_new_tokens >= 1, "rm label-mc: max_new_tokens must be >= 1, got ", max_new_tokens);
  RLEIF_CHECK(seed >= 0, "rm label-mc: seed must be >= 0 (labels are reproducible and resumable only when seeded), got ",
              seed);
  RLEIF_CHECK(batch >= 1, "rm label-mc: batch must be >= 1, got ", batch);
  RLEIF_CHECK(threads >= 0 && limit >= 0, "rm label-mc: threads and limit must be >= 0");
  if (prompt_template != "auto") parse_enum<train::PromptTemplate>(prompt_template, "rm label-mc: template");
  model::check_device_name(device, "device");
  model::parse_torch_dtype(dtype, "dtype");
}

namespace {

// Case-insensitive rfind of an ASCII needle.
size_t rfind_ci(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    bool ok = true;
    for (size_t j = 0; j < needle.size() && ok; ++j)
      ok = std::tolower(static_cast<unsigned char>(hay[i + j])) == std::tolower(static_cast<unsigned char>(needle[j]));
    if (ok) return i;
  }
  return std::string_view::npos;
}

// The text from the last `marker` to the end of its line, or "" when there is none.
std::string_view from_marker(std::string_view text, std::string_view marker) {
  const size_t at = rfind_ci(text, marker);
  if (at == std::string_view::npos) return {};
  const size_t eol = text.find('\n', at);
  return text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
}

std::string id_of(const json& rec, const SourceLoc& loc) {
  if (!rec.contains("id")) return std::to_string(loc.line);
  return rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
}


std::string question_of(const json& rec, const SourceLoc& loc) {
  for (const char* key : {"prompt", "question", "instruction", "problem"})
    if (rec.contains(key)) {
      std::string q = get_field<std::string>(rec, key, loc, "a string");
      RLEIF_CHECK(!trim(q).empty(), loc.str(), ": field '", key, "' is empty; every solution needs its question");
      return q;
    }
  RLEIF_FAIL(loc.str(), ": missing required field 'prompt' (the question; 'question', 'instruction' or 'problem' also work)");
}

// The solution texts of a record: its "samples" (rleif generate) or its "response".
std::vector<std::string> solutions_of(const json& rec, const SourceLoc& loc) {
  std::vector<std::string> out;
  if (rec.contains("samples")) {
    const json& s = rec["samples"];
    RLEIF_CHECK(s.is_array() && !s.empty(), loc.str(), ": 'samples' must be a non-empty list of {\"text\"} objects, got ",
                s.dump().substr(0, 80));
    for (size_t j = 0; j < s.size(); ++j) {
      if (s[j].is_string()) out.push_back(s[j].get<std::string>());
      else if (s[j].is_object() && s[j].contains("text") && s[j]["text"].is_string()) out.push_back(s[j]["text"].get<std::string>());
      else RLEIF_FAIL(loc.str(), ": samples[", j, "] must be {\"text\": str}, got ", s[j].dump().substr(0, 80));
    }
    return out;
  }
  if (rec.contains("response")) return {get_field<std::string>(rec, "response", loc, "a string")};
  RLEIF_FAIL(loc.str(), ": no solution: expected 'samples' (rleif generate output) or 'response'");
}

}  // namespace

std::optional<std::string> checked_answer(AnswerChecker checker, std::string_view text) {
  switch (checker) {
    case AnswerChecker::auto_:
      return extract_answer(text);
    case AnswerChecker::answer_is:
    case AnswerChecker::gsm8k: {
      auto tail = from_marker(text, checker == AnswerChecker::gsm8k ? "####" : "the answer is");
      if (tail.empty()) return std::nullopt;
      return extract_answer(tail);
    }
    case AnswerChecker::domain: {
      auto steps = split_steps(text);
      if (steps.empty() || rfind_ci(steps.back(), "the answer is") != 0) return std::nullopt;
      return extract_answer(steps.back());
    }
  }
  return std::nullopt;
}

McInput read_mc_solutions(const std::string& input, const std::string& data, int64_t limit) {
  RLEIF_CHECK(path_exists(input), "rm label-mc: --input ", input, ": no such file");
  std::unordered_map<std::string, std::string> truth_by_id;
  if (!data.empty()) {
    RLEIF_CHECK(path_exists(data), "rm label-mc: --data ", data, ": no such file");
    for (auto& p : train::load_eval_problems(data)) truth_by_id.emplace(p.id, p.truth);
  }
  McInput in;
  JsonlReader r(input);
  json rec;
  SourceLoc loc;
  while ((limit == 0 || in.records < limit) && r.next(rec, loc)) {
    ++in.records;
    const std::string id = id_of(rec, loc);
    const std::string prompt = question_of(rec, loc);
    const std::vector<std::string> texts = solutions_of(rec, loc);
    std::optional<std::string> truth = record_truth(rec, loc);
    if (!truth) {
      auto it = truth_by_id.find(id);
      if (it != truth_by_id.end()) truth = it->second;
    }
    RLEIF_CHECK(truth, loc.str(), ": no ground truth for id ", json(id).dump(), ": the record has no 'truth' or 'answer'",
                data.empty() ? std::string(" and no --data problems file was given")
                             : str(" and ", data, " has no problem with that id"),
                "; give --data PROBLEMS.jsonl (joined by id) or add \"answer\" to the record");
    for (size_t j = 0; j < texts.size(); ++j) {
      McSolution s;
      s.steps = split_steps(texts[j]);
      if (s.steps.empty()) {
        ++in.empty;
        continue;
      }
      s.source_id = id;
      s.sample = static_cast<int64_t>(j);
      s.prompt = prompt;
      s.truth = *truth;
      s.loc = loc;
      in.solutions.push_back(std::move(s));
    }
  }
  return in;
}

std::optional<float> settled_label(const McSolution& s, size_t step, AnswerChecker checker) {
  std::vector<std::string> head(s.steps.begin(), s.steps.begin() + static_cast<std::ptrdiff_t>(step + 1));
  if (auto a = checked_answer(checker, join(head, "\n"))) return answers_match(*a, s.truth) ? 1.0f : 0.0f;
  if (step + 1 == s.steps.size()) return 0.0f;  // the solution ends without a final answer
  return std::nullopt;
}

int64_t mc_request_seed(int64_t seed, int64_t index, int64_t step) {
  // splitmix64 (Steele et al. 2014) chained over the triple.
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(static_cast<uint64_t>(seed));
  h = mix(h ^ static_cast<uint64_t>(index));
  h = mix(h ^ static_cast<uint64_t>(step));
  return static_cast<int64_t>(h >> 1);
}

namespace {

// A solution being labelled: its labels fill in as requests finish.
struct Pending {
  const McSolution* s = nullptr;
  std::vector<float> hard, soft;  // [S]
  int64_t outstanding = 0;        // requests not yet finished
};

json output_record(const Pending& p, const LabelMcConfig& cfg) {
  const auto& labels = cfg.estimation == Estimation::hard ? p.hard : p.soft;
  return json{{"prompt", p.s->prompt}, {"steps", p.s->steps}, {"labels", labels}, {"hard", p.hard},
              {"soft", p.soft},       {"source_id", p.s->source_id}, {"sample", p.s->sample}, {"n", cfg.n}};
}

// Lines already written by an interrupted run; each must be the solution at its position.
int64_t resume_point(const LabelMcConfig& cfg, const std::vector<McSolution>& sols) {
  if (!path_exists(cfg.output)) return 0;
  { JsonlAppender trim_partial(cfg.output); }  // a line cut off by a kill is dropped and redone
  JsonlReader r(cfg.output);
  json rec;
  SourceLoc loc;
  int64_t k = 0;
  while (r.next(rec, loc)) {
    const std::string what = str("; it was written for another input or other options: delete it, or choose another --output");
    RLEIF_CHECK(k < static_cast<int64_t>(sols.size()), loc.str(), ": the output has more solutions than ", cfg.input,
                " (", sols.size(), ")", what);
    const McSolution& s = sols[static_cast<size_t>(k)];
    const std::string id = rec.contains("source_id") && rec["source_id"].is_string() ? rec["source_id"].get<std::string>() : "";
    const int64_t sample = rec.value("sample", int64_t{-1});
    RLEIF_CHECK(id == s.source_id && sample == s.sample, loc.str(), ": holds solution (id ", json(id).dump(), ", sample ",
                sample, ") but solution ", k + 1, " of ", cfg.input, " is (id ", json(s.source_id).dump(), ", sample ",
                s.sample, ")", what);
    RLEIF_CHECK(rec.value("n", int64_t{-1}) == cfg.n, loc.str(), ": labelled with n = ", rec.value("n", int64_t{-1}),
                " completions per step, this run asks for n = ", cfg.n, what);
    ++k;
  }
  return k;
}

}  // namespace

McStats label_mc(const LabelMcConfig& cfg, McCompleter& completer) {
  McInput in = read_mc_solutions(cfg.input, cfg.data, cfg.limit);
  McStats st;
  st.solutions = static_cast<int64_t>(in.solutions.size());
  if (in.empty) log_info("rm label-mc: ", in.empty, " samples have no non-empty line; they get no output line");
  st.skipped = resume_point(cfg, in.solutions);
  if (st.skipped) log_info("rm label-mc: ", st.skipped, " solutions already in ", cfg.output, "; continuing after them");
  const size_t first = static_cast<size_t>(std::min(st.skipped, st.solutions)), total = in.solutions.size();
  if (first == total) {
    log_info("rm label-mc: nothing to do");
    return st;
  }
  std::vector<const McSolution*> todo;
  for (size_t i = first; i < total; ++i) todo.push_back(&in.solutions[i]);
  completer.start(todo);

  JsonlAppender out(cfg.output);
  ProgressOptions po;
  po.label = "solution";
  po.total = st.solutions;
  po.start = st.skipped;
  po.out = stderr;
  Progress progress(po);

  // Solutions are submitted while the completer's queue is short (bounded memory, full batches)
  // and written in input order as the contiguous finished prefix grows.
  const size_t window = static_cast<size_t>(std::max<int64_t>(4, 2 * cfg.batch / cfg.n + 2));
  std::map<size_t, Pending> pending;
  std::unordered_map<uint64_t, std::pair<size_t, size_t>> tags;  // tag -> (solution, step)
  uint64_t next_tag = 0;
  size_t next_submit = first, next_write = first;
  auto on_done = [&](uint64_t tag, std::vector<std::string>&& texts) {
    auto it = tags.find(tag);
    RLEIF_CHECK(it != tags.end(), "rm label-mc: the completer reported an unknown request ", tag);
    const auto [i, step] = it->second;
    tags.erase(it);
    Pending& p = pending.at(i);
    std::vector<std::string> head(p.s->steps.begin(), p.s->steps.begin() + static_cast<std::ptrdiff_t>(step + 1));
    const std::string prefix = join(head, "\n") + "\n";
    int64_t hits = 0;
    for (const auto& t : texts) {
      auto a = checked_answer(cfg.checker, prefix + t);
      hits += a && answers_match(*a, p.s->truth) ? 1 : 0;
    }
    p.hard[step] = hits > 0 ? 1.0f : 0.0f;
    p.soft[step] = static_cast<float>(hits) / static_cast<float>(texts.size());
    st.completions += static_cast<int64_t>(texts.size());
    --p.outstanding;
  };
  while (next_write < total) {
    while (next_submit < total && completer.queued() < window) {
      const size_t i = next_submit++;
      Pending& p = pending[i];
      p.s = &in.solutions[i];
      const size_t S = p.s->steps.size();
      p.hard.assign(S, 0.0f);
      p.soft.assign(S, 0.0f);
      for (size_t k = 0; k < S; ++k) {
        if (auto l = settled_label(*p.s, k, cfg.checker)) {
          p.hard[k] = p.soft[k] = *l;
          continue;
        }
        std::vector<std::string> head(p.s->steps.begin(), p.s->steps.begin() + static_cast<std::ptrdiff_t>(k + 1));
        tags[next_tag] = {i, k};
        ++p.outstanding;
        ++st.rolled_out;
        completer.submit(next_tag++, *p.s, join(head, "\n") + "\n", cfg.n,
                         mc_request_seed(cfg.seed, static_cast<int64_t>(i), static_cast<int64_t>(k)));
      }
    }
    bool wrote = false;
    while (next_write < total) {
      auto it = pending.find(next_write);
      if (it == pending.end() || it->second.outstanding > 0) break;
      out.append(output_record(it->second, cfg));
      ++st.labelled;
      st.steps += static_cast<int64_t>(it->second.hard.size());
      for (float h : it->second.hard) st.hard_positive += h > 0.5f ? 1 : 0;
      pending.erase(it);
      ++next_write;
      wrote = true;
    }
    if (wrote) progress.update(st.skipped + st.labelled, completer.progress_fields());
    if (next_write < total && !completer.step(on_done) && next_submit == total) {
      // Idle with nothing left to submit: every request must have been reported.
      RLEIF_CHECK(tags.empty(), "rm label-mc: the completer went idle with ", tags.size(), " requests unreported");
    }
  }
  out.sync();
  progress.finish();
  return st;
}

int run_label_mc(const LabelMcConfig& cfg, const std::string& config_yaml) {
  LabelMcConfig c = cfg;
  validate_options(c);
  if (!config_yaml.empty()) write_file_atomic(c.output + ".config.yaml", config_yaml);
  const auto t0 = std::chrono::steady_clock::now();
  auto completer = make_engine_completer(c);
  McStats st = label_mc(c, *completer);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("rm label-mc: ", st.labelled, " solutions labelled (", st.skipped, " already done), ", st.steps, " steps, ",
           st.rolled_out, " by rollouts (", st.completions, " completions), ", st.hard_positive,
           " with hard label 1, in ", human_seconds(secs), "; wrote ", c.output);
  return 0;
}

}  // namespace rleif::rm
