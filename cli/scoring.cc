#include "cli/scoring.h"

#include <utility>
#include <vector>

#include "core/fs.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/progress.h"

namespace rleif::cli {
namespace {

// The texts of one input record: (prompt, response) pairs, or PRM steps.
struct RecordItems {
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<std::pair<std::string, std::vector<std::string>>> steps;
};

std::string prompt_of(const json& rec, const SourceLoc& loc) {
  for (const char* k : {"prompt", "question", "instruction", "problem"})
    if (rec.contains(k)) return get_field<std::string>(rec, k, loc, "a string");
  RLEIF_FAIL(loc.str(), ": needs one of 'prompt', 'question', 'instruction', 'problem'");
}

RecordItems items_of(const json& rec, const SourceLoc& loc, rm::RmKind kind) {
  RecordItems it;
  if (kind == rm::RmKind::irm) {
    if (rec.contains("candidates")) {
      for (auto& c : get_field<std::vector<std::string>>(rec, "candidates", loc, "a list of strings"))
        it.texts.emplace_back(c, "");
    } else {
      it.texts.emplace_back(prompt_of(rec, loc), "");
    }
    return it;
  }
  const std::string prompt = prompt_of(rec, loc);
  if (rec.contains("samples")) {
    RLEIF_CHECK(rec["samples"].is_array(), loc.str(), ": 'samples' must be a list");
    for (auto& s : rec["samples"]) {
      if (s.is_string()) it.texts.emplace_back(prompt, s.get<std::string>());
      else if (s.is_object() && s.contains("text") && s["text"].is_string()) it.texts.emplace_back(prompt, s["text"].get<std::string>());
      else RLEIF_FAIL(loc.str(), ": every entry of 'samples' must be a string or {\"text\": string}");
    }
  } else if (rec.contains("steps") && kind == rm::RmKind::prm) {
    it.steps.emplace_back(prompt, get_field<std::vector<std::string>>(rec, "steps", loc, "a list of strings"));
  } else if (rec.contains("response")) {
    it.texts.emplace_back(prompt, get_field<std::string>(rec, "response", loc, "a string"));
  } else {
    RLEIF_FAIL(loc.str(), ": needs 'samples' (rleif generate output), 'response'", kind == rm::RmKind::prm ? " or 'steps'" : "");
  }
  return it;
}

json score_json(const rm::Score& s) {
  json j{{"score", s.score}};
  if (!s.steps.empty()) j["steps"] = s.steps;
  if (s.truncated) j["truncated"] = true;
  return j;
}

// The lines of `output` that belong to the input (ids[i] at line i); with StaleScores::rescore the
// rest is cut off the file.
size_t kept_lines(const std::string& output, const std::vector<json>& ids, const std::string& input, StaleScores stale) {
  if (!path_exists(output)) return 0;
  { JsonlAppender trim(output); }  // opening cuts a line left partial by a kill; it is redone
  const std::vector<json> lines = read_jsonl(output);
  size_t keep = 0;
  while (keep < lines.size() && keep < ids.size() && lines[keep].is_object() && lines[keep].contains("id") &&
         lines[keep]["id"] == ids[keep])
    ++keep;
  if (keep == lines.size()) return keep;
  if (stale == StaleScores::error) {
    RLEIF_CHECK(lines.size() <= ids.size(), output, " has ", lines.size(), " lines but ", input, " only ", ids.size(),
                " records; it belongs to another input (delete it to start over)");
    RLEIF_FAIL(output, ":", keep + 1, ": id ", lines[keep].value("id", json()).dump(), " but record ", keep + 1, " of ",
               input, " has id ", ids[keep].dump(), "; it belongs to another input (delete it to start over)");
  }
  log_info("score: ", output, " holds ", lines.size() - keep, " lines from other samples after line ", keep,
           "; scoring from there again");
  std::string text;
  for (size_t i = 0; i < keep; ++i) text += lines[i].dump() + "\n";
  write_file_atomic(output, text);
  return keep;
}

}  // namespace

ScoreFileStats score_file(rm::Scorer& scorer, const std::string& input, const std::string& output, StaleScores stale) {
  JsonlReader reader(input);
  std::vector<json> recs, ids;
  std::vector<SourceLoc> locs;
  json rec;
  SourceLoc loc;
  while (reader.next(rec, loc)) {
    ids.push_back(rec.contains("id") ? rec["id"] : json(std::to_string(loc.line)));
    recs.push_back(std::move(rec));
    locs.push_back(loc);
  }
  ScoreFileStats st;
  st.records = recs.size();
  st.kept = kept_lines(output, ids, input, stale);
  const size_t done = st.kept;
  JsonlAppender out(output);
  if (done) log_info("score: ", done, " records already in ", output, "; continuing");
  ProgressOptions po;
  po.label = "record";
  po.total = static_cast<int64_t>(recs.size());
  po.start = static_cast<int64_t>(done);
  po.out = stderr;
  Progress progress(po);
  const size_t chunk = 64;  // records scored together (their samples share batches)
  for (size_t b = done; b < recs.size(); b += chunk) {
    const size_t e = std::min(recs.size(), b + chunk);
    std::vector<std::pair<std::string, std::string>> texts;
    std::vector<std::pair<std::string, std::vector<std::string>>> steps;
    std::vector<std::pair<size_t, size_t>> spans;  // per record: [first, count) in texts or steps
    std::vector<bool> by_steps;
    for (size_t i = b; i < e; ++i) {
      RecordItems it = items_of(recs[i], locs[i], scorer.kind());
      by_steps.push_back(!it.steps.empty());
      if (!it.steps.empty()) {
        spans.emplace_back(steps.size(), it.steps.size());
        steps.insert(steps.end(), it.steps.begin(), it.steps.end());
      } else {
        spans.emplace_back(texts.size(), it.texts.size());
        texts.insert(texts.end(), it.texts.begin(), it.texts.end());
      }
    }
    std::vector<rm::Score> sc_texts = texts.empty() ? std::vector<rm::Score>{} : scorer.score(texts);
    std::vector<rm::Score> sc_steps = steps.empty() ? std::vector<rm::Score>{} : scorer.score_steps(steps);
    for (size_t i = b; i < e; ++i) {
      const auto& [first, count] = spans[i - b];
      const auto& src = by_steps[i - b] ? sc_steps : sc_texts;
      json scores = json::array();
      for (size_t k = 0; k < count; ++k) scores.push_back(score_json(src[first + k]));
      out.append(json{{"id", ids[i]}, {"scores", scores}});
    }
    progress.update(static_cast<int64_t>(e));
  }
  out.sync();
  progress.finish();
  return st;
}

}  // namespace rleif::cli
