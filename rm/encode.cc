#include "rm/encode.h"

#include <algorithm>

#include "core/strings.h"

namespace rleif::rm {

void EncodeOptions::validate() const {
  RLEIF_CHECK(max_length >= 2, "encode.max_length = ", max_length, ": must be >= 2");
  RLEIF_CHECK(!step_separator.empty(), "encode.step_separator is empty; PRM step ends need a separator (e.g. \"\\n\")");
}

std::string EncodeStats::summary() const {
  return str(sequences, " sequences, ", tokens, " tokens, ", truncated, " truncated, ", skipped, " skipped for length",
             dropped_steps ? str(", ", dropped_steps, " PRM steps cut by truncation") : std::string());
}

Encoder::Encoder(const Tokenizer& tok, int32_t eos_id, EncodeOptions opts) : tok_(tok), eos_id_(eos_id), opts_(std::move(opts)) {
  opts_.validate();
}

Encoded Encoder::finish_sequence(std::vector<int32_t> ids, const std::string& where) {
  Encoded e;
  const auto max = static_cast<size_t>(opts_.max_length);
  if (ids.size() > max) {
    if (opts_.overlong == train::Overlong::error)
      RLEIF_FAIL(where, ": ", ids.size(), " tokens, more than encode.max_length = ", opts_.max_length,
                 "; raise encode.max_length or set encode.overlong=truncate|skip");
    if (opts_.overlong == train::Overlong::skip) {
      ++stats_.skipped;
      return e;
    }
    // Keep the end of the sequence's head and its last token (EOS), so the score is still read at EOS.
    const int32_t last = ids.back();
    ids.resize(max);
    ids.back() = last;
    e.truncated = true;
    ++stats_.truncated;
  }
  e.ids = std::move(ids);
  e.ends = {static_cast<int64_t>(e.ids.size()) - 1};
  ++stats_.sequences;
  stats_.tokens += static_cast<int64_t>(e.ids.size());
  return e;
}

Encoded Encoder::instruction(const std::string& text, const std::string& where) {
  std::vector<int32_t> ids = tok_.encode(text, /*add_special_tokens=*/true);
  ids.push_back(eos_id_);
  return finish_sequence(std::move(ids), where);
}

Encoded Encoder::prompt_response(const std::string& prompt, const std::string& response, const std::string& where) {
  std::vector<int32_t> ids = tok_.encode(train::render_prompt(opts_.prompt_template, prompt), true);
  const auto start = static_cast<int64_t>(ids.size());
  std::vector<int32_t> r = tok_.encode(response, false);
  ids.insert(ids.end(), r.begin(), r.end());
  ids.push_back(eos_id_);
  Encoded e = finish_sequence(std::move(ids), where);
  e.response_start = std::min<int64_t>(start, static_cast<int64_t>(e.ids.size()));
  return e;
}

Encoded Encoder::prompt_steps(const std::string& prompt, const std::vector<std::string>& steps, const std::string& where) {
  Encoded e;
  e.ids = tok_.encode(train::render_prompt(opts_.prompt_template, prompt), true);
  e.response_start = static_cast<int64_t>(e.ids.size());
  const auto max = static_cast<size_t>(opts_.max_length);
  size_t s = 0;
  for (; s < steps.size(); ++s) {
    std::vector<int32_t> seg = tok_.encode(steps[s] + opts_.step_separator, false);
    RLEIF_CHECK(!seg.empty(), where, ": step ", s + 1, " encodes to no tokens");
    if (e.ids.size() + seg.size() > max) break;
    e.ids.insert(e.ids.end(), seg.begin(), seg.end());
    e.ends.push_back(static_cast<int64_t>(e.ids.size()) - 1);
  }
  if (s < steps.size()) {
    const int64_t dropped = static_cast<int64_t>(steps.size() - s);
    if (opts_.overlong == train::Overlong::error)
      RLEIF_FAIL(where, ": the prompt and ", steps.size(), " steps need more than encode.max_length = ", opts_.max_length,
                 " tokens (", s, " steps fit); raise encode.max_length or set encode.overlong=truncate|skip");
    if (opts_.overlong == train::Overlong::skip || e.ends.empty()) {
      ++stats_.skipped;
      return Encoded{};
    }
    e.truncated = true;
    e.dropped_steps = dropped;
    ++stats_.truncated;
    stats_.dropped_steps += dropped;
  }
  ++stats_.sequences;
  stats_.tokens += static_cast<int64_t>(e.ids.size());
  return e;
}

std::vector<std::string> split_steps(std::string_view response) {
  std::vector<std::string> out;
  for (const auto& line : split(response, '\n')) {
    std::string t = trim(line);
    if (!t.empty()) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace rleif::rm
