// JSONL records: one JSON object a line. Errors name the file and line.
#pragma once
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace rleif {

using json = nlohmann::json;

// Where a record came from, for messages: "data/train.jsonl:12".
struct SourceLoc {
  std::string path;
  size_t line = 0;
  std::string str() const;
};

// Reads a JSONL file line by line. Blank lines are skipped; a line that is not a JSON object is an
// Error naming path:line (or, with skip_bad, counted in bad_lines() and skipped).
class JsonlReader {
 public:
  explicit JsonlReader(const std::string& path, bool skip_bad = false);
  // Returns false at end of file.
  bool next(json& value, SourceLoc& loc);
  size_t bad_lines() const { return bad_lines_; }

 private:
  std::string path_;
  std::ifstream in_;
  size_t line_ = 0;
  bool skip_bad_;
  size_t bad_lines_ = 0;
};

// Reads every record of a JSONL file.
std::vector<json> read_jsonl(const std::string& path);

// Append-only JSONL output that survives kill -9: on open, a trailing partial line (a write cut off
// by a kill) is truncated away; each append writes one whole line and flushes it to the OS, and
// sync() fsyncs. Lines already in the file can be read back with read_jsonl before opening.
class JsonlAppender {
 public:
  explicit JsonlAppender(const std::string& path);
  ~JsonlAppender();
  JsonlAppender(const JsonlAppender&) = delete;
  JsonlAppender& operator=(const JsonlAppender&) = delete;
  void append(const json& value);
  void sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

// Typed field access with errors that name the record's location and the expected type.
template <class T>
T get_field(const json& obj, const char* key, const SourceLoc& loc, const char* expected) {
  if (!obj.is_object() || !obj.contains(key))
    RLEIF_FAIL(loc.str(), ": missing required field '", key, "' (", expected, ")");
  try {
    return obj.at(key).get<T>();
  } catch (const json::exception&) {
    RLEIF_FAIL(loc.str(), ": field '", key, "' must be ", expected, ", got ", obj.at(key).dump().substr(0, 80));
  }
}

}  // namespace rleif
