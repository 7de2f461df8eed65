// PRM record readers, one parser per source format (rm/data.h). Choices the formats leave open:
//   rleif / trl   a label of null means unlabelled (-1); -1 itself is rejected like any value outside
//                 [0, 1], so ratings (-1/0/1) pasted in as labels are caught rather than ignored.
//   Math-Shepherd the prompt is the text before "Step 1:" in the first segment (empty when there is no
//                 such marker); steps keep their "Step N:" prefix, trimmed of surrounding whitespace.
//   PRM800K       records whose label.finish_reason is "bad_problem" or "give_up" are left out (counted in
//                 records, not used, not malformed): the problem is broken or the labeller stopped without
//                 judging the solution. A step whose chosen_completion is null and that has no human
//                 completion ends the solution; its first completion rated -1, if any, is kept as the last
//                 step (label 0), so a found_error solution ends at its first error. A human completion
//                 has no rating (null) and is kept unlabelled (-1). id = "line N".
//   PRMBench      id = "idx:classification": idx repeats across the error classes of one solution.
//                 error_steps entries past the end of the process are tolerated after the first one;
//                 an empty error_steps (the multi_solutions class) labels every step correct.
//   MR-GSM8K      "Step N: " and a trailing "\r" are stripped from each step; blank steps (5 empty lines
//                 of program-of-thought solutions in the shared file) are dropped, and the first error
//                 index moves with them. id = "uuid".
#include <algorithm>
#include <cctype>

#include "core/strings.h"
#include "rm/data.h"
#include "rm/data_detail.h"

namespace rleif::rm {

using namespace detail;

namespace {

const char* kFormatsHelp =
    "rleif {prompt, steps, labels} | math_shepherd {input, label} | prm800k {question, label: {steps}} | "
    "trl {prompt, completions, labels} | prmbench {modified_process, error_steps} | mr_gsm8k {model_output_steps}";

PrmFormat format_of(const json& rec, const SourceLoc& loc) {
  if (rec.contains("input") && rec.contains("label")) return PrmFormat::math_shepherd;
  if (rec.contains("label") && rec["label"].is_object() && rec.contains("question")) return PrmFormat::prm800k;
  if (rec.contains("modified_process")) return PrmFormat::prmbench;
  if (rec.contains("model_output_steps")) return PrmFormat::mr_gsm8k;
  if (rec.contains("completions") && rec.contains("labels")) return PrmFormat::trl;
  if (rec.contains("steps") && rec.contains("labels")) return PrmFormat::rleif;
  std::vector<std::string> keys;
  for (auto& [k, v] : rec.items()) keys.push_back(k);
  RLEIF_FAIL(loc.str(), ": cannot tell the PRM format from the keys [", join(keys, ", "), "]; expected one of ",
             kFormatsHelp, "; or set the format explicitly");
}

std::string source_id(const json& rec, const SourceLoc& loc) {
  if (rec.contains("id") || !rec.contains("source_id")) return record_id(rec, loc);
  const json& s = rec["source_id"];
  std::string id = s.is_string() ? s.get<std::string>() : s.dump();
  if (rec.contains("sample") && !rec["sample"].is_null()) id += ":" + rec["sample"].dump();
  return id;
}

// rleif {"prompt"|"question", "steps", "labels"}; TRL {"prompt", "completions", "labels"}.
PrmExample parse_listed(const json& rec, const SourceLoc& loc, const char* steps_key) {
  PrmExample ex;
  ex.loc = loc;
  ex.id = source_id(rec, loc);
  ex.prompt = text_field_either(rec, "prompt", "question", loc, "the question, a string");
  ex.steps = string_list(rec, steps_key, loc);
  if (!rec.contains("labels")) RLEIF_FAIL(loc.str(), ": missing required field 'labels' (one label per step)");
  const json& labels = rec["labels"];
  RLEIF_CHECK(labels.is_array(), loc.str(), ": field 'labels' must be a list (one label per step), got ",
              labels.type_name());
  for (size_t i = 0; i < labels.size(); ++i)
    ex.labels.push_back(label_value(labels[i], loc, str("'labels' entry ", i + 1), true));
  check_steps(ex.steps, ex.labels, loc, steps_key);
  return ex;
}

// Math-Shepherd: "input" = seg_0 TAG seg_1 TAG ... seg_n and "label" = seg_0 c_0 seg_1 c_1 ... seg_n,
// each c_i '+' or '-' (the TAG replaced in place).
PrmExample parse_math_shepherd(const json& rec, const SourceLoc& loc, const std::string& tag) {
  RLEIF_CHECK(!tag.empty(), loc.str(), ": the Math-Shepherd step tag is empty; set step_tag (default 'ки')");
  std::string input = get_field<std::string>(rec, "input", loc, "a string (question and steps with step tags)");
  std::string label = get_field<std::string>(rec, "label", loc, "a string ('input' with each step tag as + or -)");
  std::vector<std::string> segs;
  for (size_t pos = 0;;) {
    size_t at = input.find(tag, pos);
    segs.push_back(input.substr(pos, at == std::string::npos ? std::string::npos : at - pos));
    if (at == std::string::npos) break;
    pos = at + tag.size();
  }
  size_t n = segs.size() - 1;
  RLEIF_CHECK(n > 0, loc.str(), ": missing step tags: 'input' has no '", tag,
              "'; every Math-Shepherd step ends with the step tag (set step_tag if the data uses another)");
  PrmExample ex;
  ex.loc = loc;
  ex.id = record_id(rec, loc);
  size_t pos = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t p = pos + segs[i].size();
    if (label.compare(pos, segs[i].size(), segs[i]) != 0 || p >= label.size() || (label[p] != '+' && label[p] != '-'))
      break;
    ex.labels.push_back(label[p] == '+' ? 1.0f : 0.0f);
    pos = p + 1;
  }
  RLEIF_CHECK(ex.labels.size() == n, loc.str(), ": 'input' has ", n, " step tags but 'label' gives ",
              ex.labels.size(), " +/- labels (it differs from 'input' after '",
              preview(label.substr(pos, 40)), "'); 'label' must be 'input' with each '", tag, "' replaced by + or -");
  RLEIF_CHECK(label.compare(pos, std::string::npos, segs[n]) == 0, loc.str(), ": 'input' has ", n,
              " step tags but 'label' goes on differently after the last of its ", n, " +/- labels ('",
              preview(label.substr(pos)), "'); 'label' must be 'input' with each '", tag, "' replaced by + or -");
  RLEIF_CHECK(blank(segs[n]), loc.str(), ": 'input' has text after its last step tag ('", preview(trim(segs[n])),
              "'); every step must end with '", tag, "' so that it has a label");
  size_t marker = segs[0].find("Step 1:");
  if (marker != std::string::npos) {
    ex.prompt = trim(segs[0].substr(0, marker));
    segs[0] = segs[0].substr(marker);
  }
  for (size_t i = 0; i < n; ++i) ex.steps.push_back(trim(segs[i]));
  check_steps(ex.steps, ex.labels, loc, "input");
  return ex;
}

// A PRM800K rating: 1 -> 1, -1 -> 0, 0 -> neutral_positive, null -> -1 (unlabelled).
float prm800k_label(const json& rating, const SourceLoc& loc, size_t step, bool neutral_positive) {
  if (rating.is_null()) return -1.0f;
  RLEIF_CHECK(rating.is_number_integer() && rating.get<int64_t>() >= -1 && rating.get<int64_t>() <= 1, loc.str(),
              ": label.steps[", step, "]: rating ", preview(rating.dump()), " is not -1, 0, 1 or null");
  int64_t r = rating.get<int64_t>();
  return r == 1 ? 1.0f : r == -1 ? 0.0f : (neutral_positive ? 1.0f : 0.0f);
}

// One completion's text and label; `what` names it in messages.
void add_completion(PrmExample& ex, const json& c, const SourceLoc& loc, size_t step, const std::string& what,
                    bool neutral_positive) {
  RLEIF_CHECK(c.is_object() && c.contains("text") && c["text"].is_string(), loc.str(), ": label.steps[", step, "]: ",
              what, " must be an object with a string 'text'");
  ex.steps.push_back(c["text"].get<std::string>());
  ex.labels.push_back(prm800k_label(c.contains("rating") ? c["rating"] : json(), loc, step, neutral_positive));
}

// openai/prm800k phase records (see the header comment for the choices made).
void parse_prm800k(const json& rec, const SourceLoc& loc, bool neutral_positive, std::vector<PrmExample>& out) {
  RLEIF_CHECK(rec.contains("question") && rec["question"].is_object(), loc.str(),
              ": field 'question' must be an object with a string 'problem' (a PRM800K record)");
  PrmExample ex;
  ex.loc = loc;
  ex.id = str("line ", loc.line);
  ex.prompt = get_field<std::string>(rec["question"], "problem", loc, "a string (question.problem)");
  RLEIF_CHECK(rec.contains("label") && rec["label"].is_object(), loc.str(),
              ": field 'label' must be an object with 'steps' (a PRM800K record)");
  const json& label = rec["label"];
  if (label.contains("finish_reason") && label["finish_reason"].is_string()) {
    std::string reason = label["finish_reason"].get<std::string>();
    if (reason == "bad_problem" || reason == "give_up") return;
  }
  RLEIF_CHECK(label.contains("steps") && label["steps"].is_array(), loc.str(),
              ": field 'label.steps' must be a list of {completions, chosen_completion, human_completion}");
  const json& steps = label["steps"];
  for (size_t s = 0; s < steps.size(); ++s) {
    const json& step = steps[s];
    RLEIF_CHECK(step.is_object(), loc.str(), ": label.steps[", s, "] must be an object");
    const json none;
    const json& comps = step.contains("completions") ? step["completions"] : none;
    const json& chosen = step.contains("chosen_completion") ? step["chosen_completion"] : none;
    const json& human = step.contains("human_completion") ? step["human_completion"] : none;
    RLEIF_CHECK(comps.is_null() || comps.is_array(), loc.str(), ": label.steps[", s,
                "].completions must be a list or null");
    if (chosen.is_number_integer()) {
      int64_t c = chosen.get<int64_t>();
      int64_t k = comps.is_array() ? static_cast<int64_t>(comps.size()) : 0;
      RLEIF_CHECK(c >= 0 && c < k, loc.str(), ": label.steps[", s, "].chosen_completion is ", c, " but the step has ",
                  k, " completions");
      add_completion(ex, comps[static_cast<size_t>(c)], loc, s, str("completion ", c), neutral_positive);
      continue;
    }
    RLEIF_CHECK(chosen.is_null(), loc.str(), ": label.steps[", s, "].chosen_completion must be an index or null, got ",
                preview(chosen.dump()));
    if (human.is_object()) {
      add_completion(ex, human, loc, s, "human_completion", neutral_positive);
      continue;
    }
    // Labelling stopped here: keep the first completion rated -1 as the solution's first error.
    if (comps.is_array())
      for (size_t c = 0; c < comps.size(); ++c)
        if (comps[c].is_object() && comps[c].contains("rating") && comps[c]["rating"] == -1) {
          add_completion(ex, comps[c], loc, s, str("completion ", c), neutral_positive);
          break;
        }
    break;
  }
  RLEIF_CHECK(!ex.steps.empty(), loc.str(), ": no labelled steps (label.steps has ", steps.size(),
              " entries, none with a chosen, human or -1-rated completion)");
  check_steps(ex.steps, ex.labels, loc, "label.steps");
  out.push_back(std::move(ex));
}

// Labels from an annotated first error (0-based; -1 = none): 1 before it, 0 at it, -1 after it.
std::vector<float> labels_to_first_error(size_t steps, int64_t first_error) {
  std::vector<float> labels(steps, 1.0f);
  if (first_error < 0) return labels;
  labels[static_cast<size_t>(first_error)] = 0.0f;
  for (size_t i = static_cast<size_t>(first_error) + 1; i < steps; ++i) labels[i] = -1.0f;
  return labels;
}

PrmExample parse_prmbench(const json& rec, const SourceLoc& loc) {
  PrmExample ex;
  ex.loc = loc;
  ex.prompt = text_field_either(rec, "modified_question", "question", loc, "the question, a string");
  ex.steps = string_list(rec, "modified_process", loc);
  auto errors = get_field<std::vector<int64_t>>(rec, "error_steps", loc, "a list of 1-based step numbers");
  int64_t first = 0;
  for (int64_t e : errors) {
    RLEIF_CHECK(e >= 1, loc.str(), ": 'error_steps' entry ", e, " is not a 1-based step number");
    first = first == 0 ? e : std::min(first, e);
  }
  RLEIF_CHECK(first <= static_cast<int64_t>(ex.steps.size()), loc.str(), ": first error step ", first,
              " is past the end of 'modified_process' (", ex.steps.size(), " steps)");
  ex.labels = labels_to_first_error(ex.steps.size(), first - 1);
  RLEIF_CHECK(rec.contains("idx"), loc.str(), ": missing required field 'idx' (the PRMBench id)");
  const json& idx = rec["idx"];
  ex.id = idx.is_string() ? idx.get<std::string>() : idx.dump();
  if (rec.contains("classification") && rec["classification"].is_string())
    ex.id += ":" + rec["classification"].get<std::string>();
  check_steps(ex.steps, ex.labels, loc, "modified_process");
  return ex;
}

// "Step 12: text\r" -> "text": the prefix with one space (code steps keep their indentation) and a
// trailing carriage return; other texts unchanged.
std::string strip_step_prefix(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.pop_back();
  size_t i = s.find_first_not_of(" \t");
  if (i == std::string::npos || s.compare(i, 5, "Step ") != 0) return s;
  size_t j = i + 5;
  size_t digits = j;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == digits || j >= s.size() || s[j] != ':') return s;
  ++j;
  if (j < s.size() && s[j] == ' ') ++j;
  return s.substr(j);
}

PrmExample parse_mr_gsm8k(const json& rec, const SourceLoc& loc) {
  PrmExample ex;
  ex.loc = loc;
  ex.prompt = get_field<std::string>(rec, "question", loc, "a string (the question)");
  std::vector<std::string> given = string_list(rec, "model_output_steps", loc);
  int64_t first = 0;
  const char* key = "model_output_solution_first_error_step";
  if (rec.contains(key) && !rec[key].is_null()) first = get_field<int64_t>(rec, key, loc, "a 1-based step number");
  RLEIF_CHECK(first >= 0 && first <= static_cast<int64_t>(given.size()), loc.str(), ": '", key, "' is ", first,
              " but 'model_output_steps' has ", given.size(), " steps (1-based; 0 or null = no error)");
  // Blank steps (empty lines of program-of-thought solutions) are dropped; the first error moves with them.
  int64_t first_kept = -1;
  for (size_t i = 0; i < given.size(); ++i) {
    std::string text = strip_step_prefix(given[i]);
    if (static_cast<int64_t>(i) + 1 == first) {
      RLEIF_CHECK(!blank(text), loc.str(), ": the annotated first error, step ", first, ", is empty");
      first_kept = static_cast<int64_t>(ex.steps.size());
    }
    if (!blank(text)) ex.steps.push_back(std::move(text));
  }
  ex.labels = labels_to_first_error(ex.steps.size(), first_kept);
  RLEIF_CHECK(rec.contains("uuid"), loc.str(), ": missing required field 'uuid' (the MR-GSM8K id)");
  ex.id = rec["uuid"].is_string() ? rec["uuid"].get<std::string>() : rec["uuid"].dump();
  check_steps(ex.steps, ex.labels, loc, "model_output_steps");
  return ex;
}

}  // namespace

PrmFormat detect_prm_format(const std::string& path) {
  JsonlReader reader(path);
  json rec;
  SourceLoc loc;
  RLEIF_CHECK(reader.next(rec, loc), path, ": no records, so the PRM format cannot be detected; set it explicitly (",
              kFormatsHelp, ")");
  return format_of(rec, loc);
}

Records<PrmExample> read_prm_examples(const std::string& path, const PrmReadOptions& opts) {
  PrmFormat format = opts.format;  // auto_: decided by the first record that is a JSON object
  return read_records<PrmExample>(path, opts, [&](const json& rec, const SourceLoc& loc, std::vector<PrmExample>& out) {
    if (format == PrmFormat::auto_) format = format_of(rec, loc);
    switch (format) {
      case PrmFormat::rleif: out.push_back(parse_listed(rec, loc, "steps")); break;
      case PrmFormat::trl: out.push_back(parse_listed(rec, loc, "completions")); break;
      case PrmFormat::math_shepherd: out.push_back(parse_math_shepherd(rec, loc, opts.step_tag)); break;
      case PrmFormat::prm800k: parse_prm800k(rec, loc, opts.neutral_positive, out); break;
      case PrmFormat::prmbench: out.push_back(parse_prmbench(rec, loc)); break;
      case PrmFormat::mr_gsm8k: out.push_back(parse_mr_gsm8k(rec, loc)); break;
      case PrmFormat::auto_: break;
    }
  });
}

}  // namespace rleif::rm
