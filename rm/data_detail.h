// Internal to rm/data*.cc: the one read loop every reader shares (limit, skip-and-count, stats) and
// the small field helpers whose messages name file:line. Not part of the rm API.
#pragma once
#include <string>
#include <vector>

#include "core/jsonl.h"
#include "rm/data.h"

namespace rleif::rm::detail {

// The first ~60 characters of a text, for messages (cut at a UTF-8 character boundary).
std::string preview(const std::string& text);
// Whether a text is empty once spaces, tabs and newlines are removed.
bool blank(const std::string& text);
// The record's "id" (a string, or a number written as JSON), else "line N".
std::string record_id(const json& rec, const SourceLoc& loc);
// A string field that may be given under either of two keys ("prompt" or "question").
std::string text_field_either(const json& rec, const char* key, const char* alt, const SourceLoc& loc,
                              const char* what);
// A required list of strings.
std::vector<std::string> string_list(const json& rec, const char* key, const SourceLoc& loc);
// A label: true/false -> 1/0, a number in [0, 1]; null -> -1 (unlabelled) when allow_null. `where` names
// the entry in messages ("'labels' entry 3").
float label_value(const json& v, const SourceLoc& loc, const std::string& where, bool allow_null);
// Every step non-blank and S >= 1; labels one per step. `field` names the steps field in messages.
void check_steps(const std::vector<std::string>& steps, const std::vector<float>& labels, const SourceLoc& loc,
                 const char* field);

// Records one malformed record: rethrows with on_error=error, else counts it (keeping the first message).
void note_bad(ReadStats& stats, const ReadOptions& opts, const Error& e);

// The shared read loop. parse(rec, loc, items) appends the record's items (none = left out by a
// documented rule, neither used nor bad) or throws Error for a malformed record. Stops once `limit`
// items are kept. A line that is not a JSON object is malformed like any other record: JsonlReader has
// already consumed it when it throws, so reading resumes at the next line.
template <class T, class Parse>
Records<T> read_records(const std::string& path, const ReadOptions& opts, Parse&& parse) {
  RLEIF_CHECK(opts.limit >= 0, path, ": limit must be >= 0 (0 = all records), got ", opts.limit);
  Records<T> out;
  JsonlReader reader(path);
  json rec;
  SourceLoc loc;
  std::vector<T> items;
  auto full = [&] { return opts.limit > 0 && static_cast<int64_t>(out.items.size()) >= opts.limit; };
  while (!full()) {
    try {
      if (!reader.next(rec, loc)) break;
    } catch (const Error& e) {
      ++out.stats.records;
      note_bad(out.stats, opts, e);
      continue;
    }
    ++out.stats.records;
    items.clear();
    try {
      parse(rec, loc, items);
    } catch (const Error& e) {
      note_bad(out.stats, opts, e);
      continue;
    }
    for (auto& item : items) {
      if (full()) break;
      out.items.push_back(std::move(item));
    }
  }
  out.stats.used = static_cast<int64_t>(out.items.size());
  return out;
}

}  // namespace rleif::rm::detail
