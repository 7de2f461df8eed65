// Reward-model record readers: the shared helpers, IRM lists, ORM and pairwise records. The PRM
// formats are in rm/data_prm.cc.
#include "rm/data.h"

#include <cmath>
#include <map>
#include <set>

#include "core/strings.h"
#include "rm/data_detail.h"

namespace rleif::rm {

std::string ReadStats::summary() const {
  std::string s = str(records, " records, ", used, " used");
  if (bad > 0) s += str(", ", bad, " malformed skipped (first: ", first_bad, ")");
  return s;
}

int64_t PrmExample::first_error() const {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0 && labels[i] < 0.5f) return static_cast<int64_t>(i);
  return -1;
}

namespace detail {

std::string preview(const std::string& text) {
  const size_t kMax = 60;
  if (text.size() <= kMax) return text;
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not mid-character
  return text.substr(0, cut) + "...";
}

bool blank(const std::string& text) { return text.find_first_not_of(" \t\r\n") == std::string::npos; }

std::string record_id(const json& rec, const SourceLoc& loc) {
  if (rec.contains("id")) {
    const json& id = rec["id"];
    if (id.is_string()) return id.get<std::string>();
    if (id.is_number()) return id.dump();
  }
  return str("line ", loc.line);
}

std::string text_field_either(const json& rec, const char* key, const char* alt, const SourceLoc& loc,
                              const char* what) {
  if (!rec.contains(key) && rec.contains(alt)) return get_field<std::string>(rec, alt, loc, what);
  if (!rec.contains(key))
    RLEIF_FAIL(loc.str(), ": missing required field '", key, "' (or '", alt, "'): ", what);
  return get_field<std::string>(rec, key, loc, what);
}

std::vector<std::string> string_list(const json& rec, const char* key, const SourceLoc& loc) {
  if (!rec.contains(key)) RLEIF_FAIL(loc.str(), ": missing required field '", key, "' (a list of strings)");
  const json& v = rec[key];
  RLEIF_CHECK(v.is_array(), loc.str(), ": field '", key, "' must be a list of strings, got ", v.type_name());
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    RLEIF_CHECK(v[i].is_string(), loc.str(), ": '", key, "' entry ", i + 1, " must be a string, got ",
                preview(v[i].dump()));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

float label_value(const json& v, const SourceLoc& loc, const std::string& where, bool allow_null) {
  const char* kinds = allow_null ? "1 (correct), 0 (wrong), a probability in [0, 1], true/false, or null (unlabelled)"
                                 : "1 (correct), 0 (wrong), a probability in [0, 1], or true/false";
  if (v.is_boolean()) return v.get<bool>() ? 1.0f : 0.0f;
  if (v.is_null() && allow_null) return -1.0f;
  RLEIF_CHECK(v.is_number(), loc.str(), ": ", where, " is ", preview(v.dump()), "; a label is ", kinds);
  double x = v.get<double>();
  RLEIF_CHECK(std::isfinite(x) && x >= 0.0 && x <= 1.0, loc.str(), ": ", where, " is ", v.dump(),
              ", outside [0, 1]; a label is ", kinds);
  return static_cast<float>(x);
}

void check_steps(const std::vector<std::string>& steps, const std::vector<float>& labels, const SourceLoc& loc,
                 const char* field) {
  RLEIF_CHECK(!steps.empty(), loc.str(), ": '", field, "' is empty; a PRM example needs at least one step");
  RLEIF_CHECK(labels.size() == steps.size(), loc.str(), ": 'labels' has ", labels.size(), " entries but '", field,
              "' has ", steps.size(), "; give one label per step");
  for (size_t i = 0; i < steps.size(); ++i)
    RLEIF_CHECK(!blank(steps[i]), loc.str(), ": step ", i + 1, " is empty; remove it (and its label) or give its text");
}

void note_bad(ReadStats& stats, const ReadOptions& opts, const Error& e) {
  if (opts.on_error == BadRecord::error) throw e;
  ++stats.bad;
  if (stats.first_bad.empty()) stats.first_bad = e.what();
}

}  // namespace detail

using namespace detail;

namespace {

// "index 2 is missing" / "index 1 appears twice" / "entry 7 at position 3 is out of range 0..3".
void check_ranking(const std::vector<int64_t>& ranking, size_t k, const SourceLoc& loc) {
  std::string want = str("; give a permutation of 0..", k - 1, ", best first");
  std::vector<int> seen(k, 0);
  for (size_t pos = 0; pos < ranking.size(); ++pos) {
    int64_t r = ranking[pos];
    RLEIF_CHECK(r >= 0 && r < static_cast<int64_t>(k), loc.str(), ": 'ranking' entry ", r, " at position ", pos,
                " is out of range 0..", k - 1, " (", k, " candidates)", want);
    RLEIF_CHECK(++seen[static_cast<size_t>(r)] == 1, loc.str(), ": 'ranking' repeats index ", r, " (at position ",
                pos, ")", want);
  }
  for (size_t i = 0; i < k; ++i)
    RLEIF_CHECK(seen[i], loc.str(), ": 'ranking' is missing index ", i, " (", ranking.size(), " entries for ", k,
                " candidates)", want);
}

IrmList parse_irm(const json& rec, const SourceLoc& loc) {
  IrmList out;
  out.loc = loc;
  out.candidates = string_list(rec, "candidates", loc);
  if (!rec.contains("ranking")) RLEIF_FAIL(loc.str(), ": missing required field 'ranking' (a list of candidate indices, best first)");
  out.ranking = get_field<std::vector<int64_t>>(rec, "ranking", loc, "a list of candidate indices, best first");
  size_t k = out.candidates.size();
  RLEIF_CHECK(k >= 2, loc.str(), ": 'candidates' has ", k, " entr", k == 1 ? "y" : "ies",
              "; a ranking needs at least 2 candidates (drop this list or add candidates)");
  std::map<std::string, size_t> first_at;
  for (size_t i = 0; i < k; ++i) {
    RLEIF_CHECK(!blank(out.candidates[i]), loc.str(), ": candidate ", i, " is empty; every candidate needs text");
    auto [it, fresh] = first_at.emplace(trim(out.candidates[i]), i);
    RLEIF_CHECK(fresh, loc.str(), ": candidates ", it->second, " and ", i, " are the same text ('",
                preview(it->first), "'); remove duplicates before ranking");
  }
  check_ranking(out.ranking, k, loc);
  if (rec.contains("seed_id") && !rec["seed_id"].is_null()) {
    const json& s = rec["seed_id"];
    RLEIF_CHECK(s.is_string() || s.is_number_integer(), loc.str(), ": field 'seed_id' must be a string, got ",
                preview(s.dump()));
    out.id = s.is_string() ? s.get<std::string>() : s.dump();
    if (rec.contains("round") && !rec["round"].is_null())
      out.id += ":" + std::to_string(get_field<int64_t>(rec, "round", loc, "an integer (the evolution round)"));
  } else {
    out.id = str("line ", loc.line);
  }
  return out;
}

OrmExample orm_example(std::string id, std::string prompt, std::string response, float label, const SourceLoc& loc) {
  RLEIF_CHECK(!blank(response), loc.str(), ": the response of '", id, "' is empty; an ORM example needs a solution");
  return OrmExample{std::move(id), std::move(prompt), std::move(response), label, loc};
}

// {"question", "ground_truth", "<model>": {"is_correct", "solution"}, ...}: one example per model.
bool is_solutions_record(const json& rec) {
  if (rec.contains("response")) return false;
  for (auto& [key, v] : rec.items())
    if (v.is_object() && v.contains("is_correct") && v.contains("solution")) return true;
  return false;
}

void parse_orm(const json& rec, const SourceLoc& loc, std::vector<OrmExample>& out) {
  std::string prompt = text_field_either(rec, "prompt", "question", loc, "the question, a string");
  if (is_solutions_record(rec)) {
    // Keys in JSON key order (nlohmann sorts them), so the examples' order is stable.
    for (auto& [key, v] : rec.items()) {
      if (!v.is_object()) continue;
      std::string where = str("'", key, "'");
      RLEIF_CHECK(v.contains("is_correct") && v["is_correct"].is_boolean(), loc.str(), ": ", where,
                  " needs a boolean 'is_correct' next to its 'solution'");
      RLEIF_CHECK(v.contains("solution") && v["solution"].is_string(), loc.str(), ": ", where,
                  " needs a string 'solution' next to its 'is_correct'");
      out.push_back(orm_example(str("line ", loc.line, ":", key), prompt, v["solution"].get<std::string>(),
                                v["is_correct"].get<bool>() ? 1.0f : 0.0f, loc));
    }
    return;
  }
  std::string response = get_field<std::string>(rec, "response", loc, "a string (the solution)");
  if (!rec.contains("label")) RLEIF_FAIL(loc.str(), ": missing required field 'label' (1 correct, 0 wrong, or a probability)");
  float label = label_value(rec["label"], loc, "'label'", false);
  out.push_back(orm_example(record_id(rec, loc), prompt, response, label, loc));
}

// A pair side: a string, or TRL's conversational form (a list of {"role", "content"} messages).
struct Side {
  std::string response;      // the last assistant turn's content (or the whole string)
  std::string prompt;        // the user turns before it, joined by blank lines ("" for a string)
  bool conversational = false;
};

std::string user_text(const json& messages, size_t end) {
  std::string out;
  for (size_t i = 0; i < end; ++i) {
    const json& m = messages[i];
    if (m["role"].get<std::string>() != "user") continue;
    if (!out.empty()) out += "\n\n";
    out += m["content"].get<std::string>();
  }
  return out;
}

void check_messages(const json& messages, const SourceLoc& loc, const char* key) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    RLEIF_CHECK(m.is_object() && m.contains("role") && m["role"].is_string() && m.contains("content") &&
                    m["content"].is_string(),
                loc.str(), ": '", key, "' message ", i, " must be {\"role\": str, \"content\": str}, got ",
                preview(m.dump()));
  }
}

Side pair_side(const json& rec, const char* key, const SourceLoc& loc) {
  if (!rec.contains(key)) RLEIF_FAIL(loc.str(), ": missing required field '", key, "' (a string or a list of messages)");
  const json& v = rec[key];
  Side s;
  if (v.is_string()) {
    s.response = v.get<std::string>();
  } else if (v.is_array()) {
    check_messages(v, loc, key);
    size_t last = v.size();
    for (size_t i = v.size(); i-- > 0;)
      if (v[i]["role"].get<std::string>() == "assistant") {
        last = i;
        break;
      }
    RLEIF_CHECK(last < v.size(), loc.str(), ": '", key, "' is a message list without an assistant turn; the last "
                "assistant message is the response being compared");
    s.response = v[last]["content"].get<std::string>();
    s.prompt = user_text(v, last);
    s.conversational = true;
  } else {
    RLEIF_FAIL(loc.str(), ": field '", key, "' must be a string or a list of {\"role\", \"content\"} messages, got ",
               v.type_name());
  }
  RLEIF_CHECK(!blank(s.response), loc.str(), ": '", key, "' is empty; a preference pair needs both responses");
  return s;
}

PairExample parse_pair(const json& rec, const SourceLoc& loc) {
  Side chosen = pair_side(rec, "chosen", loc);
  Side rejected = pair_side(rec, "rejected", loc);
  PairExample out;
  out.loc = loc;
  out.id = record_id(rec, loc);
  if (rec.contains("prompt") && !rec["prompt"].is_null()) {
    const json& p = rec["prompt"];
    if (p.is_array()) {
      check_messages(p, loc, "prompt");
      out.prompt = user_text(p, p.size());
    } else {
      out.prompt = get_field<std::string>(rec, "prompt", loc, "a string or a list of messages");
    }
  } else {
    // Implicit prompt: the user turns of a conversational pair, which must agree between the two.
    RLEIF_CHECK(chosen.prompt == rejected.prompt, loc.str(), ": 'chosen' and 'rejected' have different user turns ('",
                preview(chosen.prompt), "' vs '", preview(rejected.prompt), "'); a pair answers one prompt");
    out.prompt = chosen.prompt;
  }
  out.chosen = chosen.response;
  out.rejected = rejected.response;
  RLEIF_CHECK(out.chosen != out.rejected, loc.str(), ": 'chosen' and 'rejected' are the same text ('",
              preview(out.chosen), "'); a preference pair needs two different responses");
  if (rec.contains("margin") && !rec["margin"].is_null()) {
    double m = get_field<double>(rec, "margin", loc, "a number (Llama 2's margin)");
    RLEIF_CHECK(std::isfinite(m), loc.str(), ": 'margin' must be a finite number");
    out.margin = static_cast<float>(m);
  }
  return out;
}

}  // namespace

Records<IrmList> read_irm_lists(const std::string& path, const ReadOptions& opts) {
  return read_records<IrmList>(path, opts, [](const json& rec, const SourceLoc& loc, std::vector<IrmList>& out) {
    out.push_back(parse_irm(rec, loc));
  });
}

Records<OrmExample> read_orm_examples(const std::string& path, const ReadOptions& opts) {
  return read_records<OrmExample>(path, opts, parse_orm);
}

Records<PairExample> read_pair_examples(const std::string& path, const ReadOptions& opts) {
  return read_records<PairExample>(path, opts, [](const json& rec, const SourceLoc& loc, std::vector<PairExample>& out) {
    out.push_back(parse_pair(rec, loc));
  });
}

}  // namespace rleif::rm
